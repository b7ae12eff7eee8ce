#pragma once
// Tracing hooks: fixed-size events in a per-thread ring, off by default and
// switchable at any time (set_enabled). When off, a hook costs one relaxed
// atomic load. No strings are formatted on the hot path: events are plain
// numbers; collect() snapshots every thread's ring, dump_jsonl() writes them
// for the tool (`kairos trace ...`, docs/tracing.md): a header line, one
// line per actor and per request, then one line per event, time-ordered.
//
// What each actor records:
//   receive + handle_begin ... handle_end   around every message it handles
//                                            (a `handler` on its stack)
//   send                                     each message it sends
//   span_begin ... span_end                  a batch's execution, a KV
//                                            transfer, a queue wait
//   member                                   one per request of a batch span
//                                            (request: its id, batch: the span's)
//
// Time: every event is stamped by the trace clock, in nanoseconds. A runtime
// installs its actor clock (install_clock), so a replay in virtual time is
// traced in virtual time; without one it is the steady clock.
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
  int64_t t_ns = 0;      // the trace clock (see install_clock)
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

// -- the clock ----------------------------------------------------------------

// Where timestamps come from: now(ctx) in nanoseconds. A runtime installs its
// actor clock (since its start) and uninstalls it when it shuts down; the
// last one installed wins, so trace one runtime at a time.
struct clock_source {
  int64_t (*now)(const void* ctx) = nullptr;  // nanoseconds on some clock ...
  const void* ctx = nullptr;
  int64_t origin_ns = 0;                      // ... minus this (the runtime's start)
  bool virtual_time = false;                  // the test coordinator's clock (replay)
  // Where a clock that is only a number in memory keeps its nanoseconds (a
  // virtual clock): read directly instead of calling now(); null otherwise.
  const int64_t* direct_ns = nullptr;
};
void install_clock(const clock_source* c);
void uninstall_clock(const clock_source* c);  // only if `c` is the one installed
int64_t steady_now_ns();
inline std::atomic<const clock_source*> g_clock{nullptr};
inline int64_t now_ns() {
  const clock_source* c = g_clock.load(std::memory_order_acquire);
  if (!c) return steady_now_ns();
  return (c->direct_ns ? *c->direct_ns : c->now(c->ctx)) - c->origin_ns;
}

// -- the rings ----------------------------------------------------------------

// Events kept per thread (the oldest are overwritten past it). Rings grow in
// chunks as they fill, so a large capacity costs memory only when used.
inline constexpr size_t default_ring_capacity = 1 << 16;
inline constexpr size_t max_ring_capacity = size_t(1) << 26;
// Sets the capacity of every ring and empties them; call it with tracing
// off. The error names the limit when `events` is out of range.
status set_capacity(size_t events);
size_t capacity();

// The hot path, inline: a ring slot is 32 bytes (two per cache line) and a
// thread writes its ring through a cursor into the current chunk; only at a
// chunk's end, on a thread's first event, or after a clear() does it take the
// slow path (detail::refill). Layout and the stored kinds: trace.cpp.
namespace detail {

struct slot {
  int64_t t_ns;
  int64_t request;
  uint64_t word;  // batch (low 40 bits) | kind << 40 | actor_kind << 44 | what << 47 | inner << 52
  uint32_t actor;
  int32_t a;
};
static_assert(sizeof(slot) == 32);

constexpr uint64_t batch_mask = (uint64_t(1) << 40) - 1;
constexpr uint64_t pack_word(int64_t batch, uint64_t k, actor_kind ak, what w, uint64_t inner = 0) {
  return (uint64_t(batch) & batch_mask) | k << 40 | uint64_t(ak) << 44 | uint64_t(w) << 47 | inner << 52;
}

struct writer {
  slot* cur = nullptr;  // the next slot to write
  slot* end = nullptr;  // the end of the current chunk
  std::atomic<uint64_t>* n = nullptr;  // the ring's count of slots written
  uint64_t epoch = 0;   // g_epoch when cur was set
};
inline std::atomic<uint64_t> g_epoch{1};  // moved on by clear() and set_capacity(): cursors are stale
extern thread_local writer t_writer __attribute__((tls_model("initial-exec")));
slot* refill();

// The next slot of this thread's ring. It is counted (commit) only once
// written, so a reader never takes an unwritten slot (the rings are reused
// and not zeroed: it would hold an older event).
inline slot* reserve() {
  writer& w = t_writer;
  if (w.cur != w.end && w.epoch == g_epoch.load(std::memory_order_relaxed)) [[likely]]
    return w.cur++;
  return refill();
}
inline void commit() {
  std::atomic<uint64_t>& n = *t_writer.n;
  n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

inline void put(actor_kind ak, kind k, what w, uint64_t actor, int64_t request, int32_t a, int64_t batch) {
  slot* s = reserve();
  s->t_ns = now_ns();
  s->request = request;
  s->word = pack_word(batch, uint64_t(k), ak, w);
  s->actor = static_cast<uint32_t>(actor);
  s->a = a;
  commit();
}

}  // namespace detail

inline void record(actor_kind ak, kind k, what w, uint64_t actor, int64_t request = -1, int32_t a = 0,
                   int64_t batch = -1) {
  if (enabled()) detail::put(ak, k, w, actor, request, a, batch);
}
inline void sent(actor_kind ak, what w, uint64_t actor, int64_t request = -1, int32_t a = 0, int64_t batch = -1) {
  record(ak, kind::send, w, actor, request, a, batch);
}

// -- who is who ---------------------------------------------------------------

// Long-lived actors (devices, schedulers) register once, traced or not, so a
// trace window opened later still names them. A later registration of the
// same id (another runtime's actor system) replaces the earlier one.
void register_actor(uint64_t actor, actor_kind ak, const std::string& name, const std::string& group = {});

// A request as admitted, with what attainment is judged by; recorded while
// tracing is on. Times are on the trace clock.
struct request_record {
  int64_t request = -1;
  uint64_t actor = 0;  // its request actor
  int64_t arrival_ns = 0;
  int32_t input_tokens = 0;
  int32_t max_tokens = 0;
  std::string cls;  // sched::to_string(request_class)
  double ttft_slo_s = 0, tpot_slo_s = 0;
  // How it ended (end_request); end_ns -1 while it has not.
  int64_t end_ns = -1;
  std::string status;
  int32_t output_tokens = 0;
};
void record_request(const request_record& r);
void end_request(int64_t request, const std::string& status, int32_t output_tokens);

// -- reading and writing ------------------------------------------------------

// Every thread's events, oldest first per thread; clear() empties the rings
// and the request records.
std::vector<event> collect();
void clear();
// Events lost to ring overwrites since the last clear().
uint64_t dropped();
// Writes the trace file (format: docs/tracing.md) to `path`: a header line,
// the actors seen and the requests recorded, then every event in time order
// as {"t_ns":..,"thread":..,"actor":..,"actor_kind":"device","kind":"receive",
// "what":"prefill_batch","request":..,"batch":..,"a":..}; a send and the
// receive it pairs with share a "msg" id.
status dump_jsonl(const std::string& path);

// A recording to a file: start_recording() empties the rings and turns
// tracing on; stop_recording() turns it off and writes the file. One at a
// time (process-wide, like the rings).
status start_recording(const std::string& path);
status stop_recording();
bool recording();

// One handled message: receive and handle_begin now, handle_end at scope
// exit, stored as one ring slot where they fit (see collect()).
class handler {
 public:
  handler(actor_kind ak, what w, uint64_t actor, int64_t request = -1, int64_t batch = -1)
      : ak_(ak), w_(w), actor_(actor), request_(request), batch_(batch) {
    if (!enabled()) return;
    // A plain handle_begin until the end is known: a reader in between sees
    // one (collect() writes its receive).
    slot_ = detail::reserve();
    slot_->t_ns = t_begin_ = now_ns();
    slot_->request = request;
    slot_->word = detail::pack_word(batch, uint64_t(kind::handle_begin), ak, w);
    slot_->actor = static_cast<uint32_t>(actor);
    slot_->a = 0;
    detail::commit();
    index_ = detail::t_writer.n->load(std::memory_order_relaxed) - 1;
    epoch_ = detail::t_writer.epoch;
  }
  ~handler() {
    if (slot_) end();
  }
  handler(const handler&) = delete;
  handler& operator=(const handler&) = delete;

 private:
  void end();
  actor_kind ak_;
  what w_;
  uint64_t actor_;
  int64_t request_, batch_;
  detail::slot* slot_ = nullptr;  // its begin's slot; null when tracing was off
  uint64_t index_ = 0;            // that slot's number in the ring
  uint64_t epoch_ = 0;
  int64_t t_begin_ = 0;
};

// A span (begin at construction, end at destruction).
class scope {
 public:
  scope(actor_kind ak, what w, uint64_t actor, int64_t request, int32_t a, int64_t batch = -1)
      : ak_(ak), w_(w), actor_(actor), request_(request), batch_(batch), on_(enabled()) {
    if (on_) detail::put(ak, kind::span_begin, w, actor, request, a, batch);
  }
  ~scope() {
    if (on_) detail::put(ak_, kind::span_end, w_, actor_, request_, 0, batch_);
  }
  // A request of this span (a batch's composition).
  void member(int64_t request, int32_t a = 0) const {
    if (on_) detail::put(ak_, kind::member, w_, actor_, request, a, batch_);
  }
  // Members with a = 0 (the requests a decode step runs), `seq_of(x)` of each
  // x in `items`: recorded three to a ring slot, right after the span begins.
  template <class Items, class SeqOf>
  void runs(const Items& items, SeqOf seq_of) const {
    if (!on_) return;
    int64_t ids[96];
    size_t n = 0;
    for (const auto& x : items) {
      ids[n++] = seq_of(x);
      if (n == 96) {
        record_runs(ids, n);
        n = 0;
      }
    }
    if (n) record_runs(ids, n);
  }
  scope(const scope&) = delete;
  scope& operator=(const scope&) = delete;

 private:
  void record_runs(const int64_t* ids, size_t n) const;
  actor_kind ak_;
  what w_;
  uint64_t actor_;
  int64_t request_, batch_;
  bool on_;
};

}  // namespace kairos::trace
