#pragma once
// Tracing hooks: fixed-size events in a per-thread ring, off by default and
// switchable at any time (set_enabled). When off, a hook costs one relaxed
// atomic load. No strings are formatted on the hot path: events are plain
// numbers; collect() snapshots every thread's ring, dump_jsonl() writes them
// for the tool (one JSON object per line, names spelled out).
//
// What each actor records:
//   receive + handle_begin ... handle_end   around every message it handles
//                                            (a `handler` on its stack)
//   send                                     each message it sends
//   span_begin ... span_end                  a batch's execution, a KV
//                                            transfer, a queue wait
//   member                                   one per request of a batch span
//                                            (request: its id, batch: the span's)
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "gpu/base/result.hpp"

namespace kairos::trace {

enum class kind : uint8_t { receive, handle_begin, handle_end, send, span_begin, span_end, member };

enum class actor_kind : uint8_t { device, prefill_scheduler, decode_scheduler, request, runtime };

enum class what : uint8_t {
  message = 0,     // a generic message handler
  enqueue,         // a request to the prefill scheduler
  prefill_batch,   // a prefill batch on a device (a: n sequences)
  decode_step,     // a decode step on a device (a: n sequences)
  kv_transfer,     // a request's KV between devices (a: tokens)
  queue_wait,      // a request's wait for prefill
  token,           // a token to a request actor (a: the token)
  cancel,
  fail,
  prefill_start,   // prefill started (to the request actor)
  first_token,     // prefill done with the first token (a: the token)
  decoding,        // KV arrived at the decode device (to the request actor)
  admit,           // a prefilled request to the decode scheduler (a: tokens)
  arrive,          // sim: a KV transfer's modelled time has passed
  load_report,     // the decode group's loads to the prefill scheduler
  register_peer,   // the prefill scheduler registers with the decode scheduler
  free_kv,         // sequences to forget on a device (a: how many)
  batch_done,      // a device's prefill result back at its scheduler
  step_done,       // a device's step result back at its scheduler
  device_down,     // a device's failure seen by its scheduler
  deliver,         // sim: a device's modelled time has passed
  fault,           // injected fault
  down,            // a monitored actor went down
};

const char* name(kind k);
const char* name(actor_kind k);
const char* name(what w);

struct event {
  int64_t t_ns = 0;      // steady clock
  uint64_t actor = 0;    // CAF actor id
  int64_t request = -1;  // request id, -1 where none
  int64_t batch = -1;    // batch or step id of device work, -1 where none
  int32_t a = 0;         // what-specific (sizes, tokens)
  uint32_t thread = 0;
  kind k = kind::receive;
  what w = what::message;
  actor_kind ak = actor_kind::runtime;
};

inline std::atomic<bool> g_enabled{false};
inline bool enabled() { return g_enabled.load(std::memory_order_relaxed); }
void set_enabled(bool on);

// Writes into this thread's ring (capacity ring_capacity events; the oldest
// are overwritten).
inline constexpr size_t ring_capacity = 1 << 16;
void record_slow(const event& e);
inline void record(actor_kind ak, kind k, what w, uint64_t actor, int64_t request = -1, int32_t a = 0,
                   int64_t batch = -1) {
  if (enabled()) record_slow(event{0, actor, request, batch, a, 0, k, w, ak});
}
inline void sent(actor_kind ak, what w, uint64_t actor, int64_t request = -1, int32_t a = 0, int64_t batch = -1) {
  record(ak, kind::send, w, actor, request, a, batch);
}

// Every thread's events, oldest first per thread; clear() empties the rings.
std::vector<event> collect();
void clear();
// Writes collect() as JSON lines to `path`: {"t_ns":..,"thread":..,
// "actor":..,"actor_kind":"device","kind":"receive","what":"prefill_batch",
// "request":..,"batch":..,"a":..}.
status dump_jsonl(const std::string& path);

// One handled message: receive and handle_begin now, handle_end at scope exit.
class handler {
 public:
  handler(actor_kind ak, what w, uint64_t actor, int64_t request = -1, int64_t batch = -1)
      : ak_(ak), w_(w), actor_(actor), request_(request), batch_(batch), on_(enabled()) {
    if (on_) {
      record_slow(event{0, actor, request, batch, 0, 0, kind::receive, w, ak});
      record_slow(event{0, actor, request, batch, 0, 0, kind::handle_begin, w, ak});
    }
  }
  ~handler() {
    if (on_) record_slow(event{0, actor_, request_, batch_, 0, 0, kind::handle_end, w_, ak_});
  }
  handler(const handler&) = delete;
  handler& operator=(const handler&) = delete;

 private:
  actor_kind ak_;
  what w_;
  uint64_t actor_;
  int64_t request_, batch_;
  bool on_;
};

// A span (begin at construction, end at destruction).
class scope {
 public:
  scope(actor_kind ak, what w, uint64_t actor, int64_t request, int32_t a, int64_t batch = -1)
      : ak_(ak), w_(w), actor_(actor), request_(request), batch_(batch), on_(enabled()) {
    if (on_) record_slow(event{0, actor, request, batch, a, 0, kind::span_begin, w, ak});
  }
  ~scope() {
    if (on_) record_slow(event{0, actor_, request_, batch_, 0, 0, kind::span_end, w_, ak_});
  }
  // A request of this span (a batch's composition).
  void member(int64_t request, int32_t a = 0) const {
    if (on_) record_slow(event{0, actor_, request, batch_, a, 0, kind::member, w_, ak_});
  }
  scope(const scope&) = delete;
  scope& operator=(const scope&) = delete;

 private:
  actor_kind ak_;
  what w_;
  uint64_t actor_;
  int64_t request_, batch_;
  bool on_;
};

}  // namespace kairos::trace
