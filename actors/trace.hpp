#pragma once
// Tracing hooks: fixed-size events in a per-thread ring, off by default and
// switchable at any time (set_enabled). When off, a hook costs one relaxed
// atomic load. No strings are formatted on the hot path: events are plain
// numbers; collect() snapshots every thread's ring for the tool.
#include <atomic>
#include <cstdint>
#include <vector>

namespace kairos::trace {

enum class kind : uint8_t { receive, handle_begin, handle_end, send, span_begin, span_end };

enum class what : uint8_t {
  message = 0,     // a generic message handler
  enqueue,         // prefill scheduler: request arrived
  prefill_batch,   // a prefill batch on a device (a: n sequences)
  decode_step,     // a decode step on a device (a: n sequences)
  kv_transfer,     // a request's KV between devices (a: tokens)
  queue_wait,      // a request's wait for prefill
  token,           // tokens sent to a request actor
  cancel,
  fail,
};

struct event {
  int64_t t_ns = 0;     // steady clock
  uint64_t actor = 0;   // CAF actor id
  int64_t request = -1; // request id, or batch/step id for device spans
  int32_t a = 0;        // what-specific (sizes)
  uint32_t thread = 0;
  kind k = kind::receive;
  what w = what::message;
};

inline std::atomic<bool> g_enabled{false};
inline bool enabled() { return g_enabled.load(std::memory_order_relaxed); }
void set_enabled(bool on);

// Writes into this thread's ring (capacity ring_capacity events; the oldest
// are overwritten).
inline constexpr size_t ring_capacity = 1 << 16;
void record_slow(kind k, what w, uint64_t actor, int64_t request, int32_t a);
inline void record(kind k, what w, uint64_t actor, int64_t request = -1, int32_t a = 0) {
  if (enabled()) record_slow(k, w, actor, request, a);
}

// Every thread's events, oldest first per thread; clear() empties the rings.
std::vector<event> collect();
void clear();

// A span (begin at construction, end at destruction).
class scope {
 public:
  scope(what w, uint64_t actor, int64_t request, int32_t a) : w_(w), actor_(actor), request_(request), on_(enabled()) {
    if (on_) record_slow(kind::span_begin, w, actor, request, a);
  }
  ~scope() {
    if (on_) record_slow(kind::span_end, w_, actor_, request_, 0);
  }
  scope(const scope&) = delete;
  scope& operator=(const scope&) = delete;

 private:
  what w_;
  uint64_t actor_;
  int64_t request_;
  bool on_;
};

}  // namespace kairos::trace
