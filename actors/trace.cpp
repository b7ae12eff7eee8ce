#include "actors/trace.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <numeric>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include <sys/mman.h>

#include <cstring>
#include <cstdlib>

namespace kairos::trace {

namespace {

// What a ring stores: detail::slot, 32 bytes, two per cache line (the public
// `event` is 48). The thread is the ring's and is filled in by collect(). A
// handled message is one slot (kind `handled`): its begin time, its duration
// in `a` and how many slots were recorded while it ran (`inner`); collect()
// expands it into receive, handle_begin and handle_end (receive and
// handle_begin share a time stamp) with the end placed after those inner
// slots. A decode step's running members go three to a slot (run_members).
// Actor ids keep their low 32 bits (CAF numbers actors from 1 in each actor
// system) and batch ids 40.
using stored_event = detail::slot;
constexpr uint64_t handled = 7;  // stored kinds past the public ones
// Up to three requests that run in a batch (member with a = 0), one slot:
// their ids sit in t_ns, request and actor:a; the count in `inner`; the
// time and actor are those of the span_begin before them on the same ring.
constexpr uint64_t run_members = 8;
constexpr uint64_t max_inner = (uint64_t(1) << 12) - 1;

int64_t batch_of(uint64_t word) {
  const int64_t b = int64_t(word & detail::batch_mask);
  return b & (int64_t(1) << 39) ? b - (int64_t(1) << 40) : b;  // sign-extend 40 bits
}
uint64_t kind_of(uint64_t word) { return (word >> 40) & 0xF; }
actor_kind actor_kind_of(uint64_t word) { return actor_kind((word >> 44) & 0x7); }
what what_of(uint64_t word) { return what((word >> 47) & 0x1F); }
uint64_t inner_of(uint64_t word) { return word >> 52; }

// A ring is a fixed table of chunk pointers; chunks are allocated when the
// ring first reaches them, so a ring sized for a whole replay costs nothing
// on threads that record little. A chunk is one 2 MiB huge page where the
// kernel allows it: first touches fault once per chunk, not 512 times.
constexpr size_t chunk_bytes = size_t(2) << 20;
constexpr size_t chunk_events = chunk_bytes / sizeof(stored_event);
constexpr size_t max_chunks = max_ring_capacity / chunk_events;

std::atomic<size_t> g_capacity{default_ring_capacity};  // a power of two, a multiple of chunk_events

void free_chunk(stored_event* c) { std::free(c); }

struct ring {
  std::array<std::atomic<stored_event*>, max_chunks> chunks{};
  std::atomic<uint64_t> n{0};  // events written so far
  uint32_t thread = 0;
  bool owned = true;           // a live thread records into it (guarded by g_mutex)
  ~ring() {
    for (auto& c : chunks) free_chunk(c.load());
  }
};

std::mutex g_mutex;  // rings(), the registry, the request records, the recording
std::vector<std::shared_ptr<ring>>& rings() {
  static std::vector<std::shared_ptr<ring>> r;
  return r;
}

// A thread's claim on a ring. When the thread ends the ring goes back to the
// pool with its events (they are collected like any other), and a thread
// started after the next clear() takes it over with its chunks: an actor
// system started per replay does not fault in fresh memory every run.
struct ring_lease {
  std::shared_ptr<ring> r;
  ring_lease() {
    std::lock_guard<std::mutex> lk(g_mutex);
    for (auto& p : rings())
      if (!p->owned && p->n.load(std::memory_order_relaxed) == 0) {
        p->owned = true;
        r = p;
        return;
      }
    r = std::make_shared<ring>();
    r->thread = static_cast<uint32_t>(rings().size());
    rings().push_back(r);
  }
  ~ring_lease() {
    std::lock_guard<std::mutex> lk(g_mutex);
    r->owned = false;
  }
};

thread_local ring* t_ring = nullptr;

ring& my_ring() {
  if (t_ring) return *t_ring;
  // The lease returns the ring when the thread ends.
  thread_local ring_lease lease;
  t_ring = lease.r.get();
  return *t_ring;
}

// Uninitialised: a slot is written before it is read.
stored_event* grow(ring& r, size_t chunk) {
  void* c = std::aligned_alloc(chunk_bytes, chunk_bytes);
  if (!c) throw std::bad_alloc();
  ::madvise(c, chunk_bytes, MADV_HUGEPAGE);  // advice only: without huge pages it is 4 KiB pages
  auto* e = static_cast<stored_event*>(c);
  r.chunks[chunk].store(e, std::memory_order_release);
  return e;
}

std::atomic<bool> g_clock_virtual{false};  // the last installed clock's kind, for the file header

struct actor_entry {
  actor_kind ak = actor_kind::runtime;
  std::string name, group;
};
std::unordered_map<uint64_t, actor_entry>& registry() {
  static std::unordered_map<uint64_t, actor_entry> r;
  return r;
}

std::vector<request_record>& requests() {
  static std::vector<request_record> r;
  return r;
}
std::unordered_map<int64_t, size_t>& request_index() {
  static std::unordered_map<int64_t, size_t> r;
  return r;
}

std::string g_recording_path;

// Who receives a message that `sender` sends with `w`, for pairing sends
// with receives (flow arrows); runtime: nobody traced (a callback, several
// receivers, or a message with no receive record).
actor_kind receiver_of(actor_kind sender, what w) {
  switch (sender) {
    case actor_kind::request:
      return w == what::enqueue || w == what::cancel ? actor_kind::prefill_scheduler : actor_kind::runtime;
    case actor_kind::prefill_scheduler:
      switch (w) {
        case what::prefill_start:
        case what::first_token:
        case what::fail: return actor_kind::request;
        case what::prefill_batch: return actor_kind::device;
        case what::admit:
        case what::cancel:
        case what::register_peer: return actor_kind::decode_scheduler;
        default: return actor_kind::runtime;
      }
    case actor_kind::decode_scheduler:
      switch (w) {
        case what::decoding:
        case what::token:
        case what::fail: return actor_kind::request;
        case what::decode_step: return actor_kind::device;
        case what::arrive: return actor_kind::decode_scheduler;
        case what::load_report: return actor_kind::prefill_scheduler;
        default: return actor_kind::runtime;  // free_kv: one send record per sequence, one message
      }
    case actor_kind::device:
      switch (w) {
        case what::deliver: return actor_kind::device;
        case what::batch_done: return actor_kind::prefill_scheduler;
        case what::step_done: return actor_kind::decode_scheduler;
        default: return actor_kind::runtime;
      }
    case actor_kind::runtime: return actor_kind::runtime;
  }
  return actor_kind::runtime;
}

// Timers an actor sends itself: the receiver is the sender, so the key names it.
bool self_message(what w) { return w == what::deliver || w == what::arrive; }

using msg_key = std::tuple<uint8_t, uint8_t, int64_t, int64_t, uint64_t>;

// Message ids: the n-th send with a key pairs with the n-th receive with that
// key (messages between two actors arrive in the order sent). -1: unpaired.
std::vector<int64_t> pair_messages(const std::vector<event>& ev) {
  std::vector<int64_t> msg(ev.size(), -1);
  std::map<msg_key, std::deque<size_t>> pending;
  int64_t next = 0;
  for (size_t i = 0; i < ev.size(); ++i) {
    const auto& e = ev[i];
    if (e.k == kind::send) {
      const actor_kind to = receiver_of(e.ak, e.w);
      if (to == actor_kind::runtime) continue;
      pending[msg_key{uint8_t(to), uint8_t(e.w), e.request, e.batch, self_message(e.w) ? e.actor : 0}].push_back(i);
    } else if (e.k == kind::receive) {
      auto it = pending.find(msg_key{uint8_t(e.ak), uint8_t(e.w), e.request, e.batch, self_message(e.w) ? e.actor : 0});
      if (it == pending.end() || it->second.empty()) continue;
      msg[it->second.front()] = msg[i] = next++;
      it->second.pop_front();
    }
  }
  return msg;
}

std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += c;
    }
  }
  return o + "\"";
}

}  // namespace

const char* name(kind k) {
  switch (k) {
    case kind::receive: return "receive";
    case kind::handle_begin: return "handle_begin";
    case kind::handle_end: return "handle_end";
    case kind::send: return "send";
    case kind::span_begin: return "span_begin";
    case kind::span_end: return "span_end";
    case kind::member: return "member";
  }
  return "?";
}

const char* name(actor_kind k) {
  switch (k) {
    case actor_kind::device: return "device";
    case actor_kind::prefill_scheduler: return "prefill_scheduler";
    case actor_kind::decode_scheduler: return "decode_scheduler";
    case actor_kind::request: return "request";
    case actor_kind::runtime: return "runtime";
  }
  return "?";
}

const char* name(what w) {
  switch (w) {
    case what::message: return "message";
    case what::enqueue: return "enqueue";
    case what::prefill_batch: return "prefill_batch";
    case what::decode_step: return "decode_step";
    case what::kv_transfer: return "kv_transfer";
    case what::queue_wait: return "queue_wait";
    case what::token: return "token";
    case what::cancel: return "cancel";
    case what::fail: return "fail";
    case what::prefill_start: return "prefill_start";
    case what::first_token: return "first_token";
    case what::decoding: return "decoding";
    case what::admit: return "admit";
    case what::arrive: return "arrive";
    case what::load_report: return "load_report";
    case what::register_peer: return "register_peer";
    case what::free_kv: return "free_kv";
    case what::batch_done: return "batch_done";
    case what::step_done: return "step_done";
    case what::device_down: return "device_down";
    case what::deliver: return "deliver";
    case what::fault: return "fault";
    case what::down: return "down";
  }
  return "?";
}

void set_enabled(bool on) { g_enabled.store(on, std::memory_order_relaxed); }

int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void install_clock(const clock_source* c) {
  g_clock.store(c, std::memory_order_release);
  if (c) g_clock_virtual.store(c->virtual_time);
}

void uninstall_clock(const clock_source* c) {
  const clock_source* expected = c;
  g_clock.compare_exchange_strong(expected, nullptr);
}


status set_capacity(size_t events) {
  if (events == 0 || events > max_ring_capacity)
    return make_error("trace: ring capacity must be 1.." + std::to_string(max_ring_capacity) + " events, got " +
                      std::to_string(events));
  size_t cap = chunk_events;
  while (cap < events) cap <<= 1;
  std::lock_guard<std::mutex> lk(g_mutex);
  g_capacity.store(cap);
  detail::g_epoch.fetch_add(1);
  for (auto& r : rings()) {
    r->n.store(0, std::memory_order_relaxed);
    for (size_t c = cap / chunk_events; c < max_chunks; ++c) free_chunk(r->chunks[c].exchange(nullptr));
  }
  return {};
}

size_t capacity() { return g_capacity.load(); }

namespace detail {

thread_local writer t_writer __attribute__((tls_model("initial-exec")));

slot* refill() {
  ring& r = my_ring();
  writer& w = t_writer;
  w.n = &r.n;
  w.epoch = g_epoch.load(std::memory_order_relaxed);
  const size_t mask = g_capacity.load(std::memory_order_relaxed) - 1;
  const uint64_t i = r.n.load(std::memory_order_relaxed);
  const size_t at = size_t(i) & mask;
  slot* chunk = r.chunks[at / chunk_events].load(std::memory_order_relaxed);
  if (!chunk) chunk = grow(r, at / chunk_events);
  w.cur = chunk + at % chunk_events;
  w.end = chunk + chunk_events;  // past it the ring goes on in the next chunk, or wraps
  return w.cur++;
}

}  // namespace detail

void scope::record_runs(const int64_t* ids, size_t n) const {
  for (size_t at = 0; at < n; at += 3) {
    const size_t m = std::min<size_t>(3, n - at);
    stored_event* e = detail::reserve();
    e->t_ns = ids[at];
    e->request = m > 1 ? ids[at + 1] : -1;
    const int64_t third = m > 2 ? ids[at + 2] : -1;
    std::memcpy(&e->actor, &third, sizeof third);  // actor and a: 8 bytes
    e->word = detail::pack_word(batch_, run_members, ak_, w_, m);
    detail::commit();
  }
}

void handler::end() {
  detail::writer& w = detail::t_writer;
  const int64_t t_end = now_ns();
  const uint64_t n = w.n->load(std::memory_order_relaxed);
  const size_t cap = g_capacity.load(std::memory_order_relaxed);
  const int64_t dur = t_end - t_begin_;
  if (epoch_ != detail::g_epoch.load(std::memory_order_relaxed)) return;  // the rings were cleared since
  // Fold the end into the begin's slot while that slot is still this
  // handler's (not overwritten) and the numbers fit; otherwise a handle_end
  // of its own.
  if (n > index_ && n - index_ <= cap && n - index_ - 1 <= max_inner && dur >= 0 && dur <= INT32_MAX) {
    slot_->a = int32_t(dur);
    slot_->word = detail::pack_word(batch_, handled, ak_, w_, n - index_ - 1);
    return;
  }
  // Recorded though tracing may have been turned off since: its begin is in
  // the ring and must not be left without an end.
  detail::put(ak_, kind::handle_end, w_, actor_, request_, 0, batch_);
}

void register_actor(uint64_t actor, actor_kind ak, const std::string& name, const std::string& group) {
  std::lock_guard<std::mutex> lk(g_mutex);
  registry()[actor] = actor_entry{ak, name, group};
}

void record_request(const request_record& r) {
  std::lock_guard<std::mutex> lk(g_mutex);
  request_index()[r.request] = requests().size();
  requests().push_back(r);
}

void end_request(int64_t request, const std::string& status, int32_t output_tokens) {
  const int64_t t = now_ns();
  std::lock_guard<std::mutex> lk(g_mutex);
  auto it = request_index().find(request);
  if (it == request_index().end()) return;  // admitted before the recording began
  auto& r = requests()[it->second];
  r.end_ns = t;
  r.status = status;
  r.output_tokens = output_tokens;
}

std::vector<event> collect() {
  std::vector<event> out;
  std::lock_guard<std::mutex> lk(g_mutex);
  const size_t cap = g_capacity.load();
  struct open_handler {
    event end;
    uint64_t slots_left;  // inner slots still to come before its end
  };
  std::vector<open_handler> open;
  for (auto& r : rings()) {
    const uint64_t n = r->n.load(std::memory_order_acquire);
    const uint64_t first = n > cap ? n - cap : 0;
    open.clear();
    int64_t span_t = 0;       // the last span_begin's time and actor, for run_members
    uint64_t span_actor = 0;
    bool span_seen = false;
    for (uint64_t i = first; i < n; ++i) {
      const size_t slot = size_t(i) & (cap - 1);
      const stored_event* c = r->chunks[slot / chunk_events].load(std::memory_order_acquire);
      if (!c) continue;
      const stored_event& s = c[slot % chunk_events];
      // The handlers open before this slot each have one inner slot fewer to go.
      for (auto& h : open) --h.slots_left;
      const uint64_t sk = kind_of(s.word), inner = inner_of(s.word);
      event e{s.t_ns, s.actor, s.request, batch_of(s.word), s.a, r->thread, kind(sk), what_of(s.word), actor_kind_of(s.word)};
      if (sk == run_members) {
        int64_t third;
        std::memcpy(&third, &s.actor, sizeof third);
        const int64_t ids[3] = {s.t_ns, s.request, third};
        // Without its span_begin (overwritten when the ring wrapped) a member
        // has no time or actor: left out.
        for (uint64_t j = 0; span_seen && j < inner && j < 3; ++j)
          out.push_back(event{span_t, span_actor, ids[j], e.batch, 0, r->thread, kind::member, e.w, e.ak});
      } else if (sk == handled || e.k == kind::handle_begin) {
        event rcv = e;
        rcv.a = 0;
        rcv.k = kind::receive;
        out.push_back(rcv);
        rcv.k = kind::handle_begin;
        out.push_back(rcv);
        if (sk == handled) {
          event end = rcv;
          end.k = kind::handle_end;
          end.t_ns = s.t_ns + s.a;
          if (inner == 0)
            out.push_back(end);
          else
            open.push_back({end, inner});
        }
      } else {
        if (e.k == kind::span_begin) {
          span_t = e.t_ns;
          span_actor = e.actor;
          span_seen = true;
        }
        out.push_back(e);
      }
      while (!open.empty() && open.back().slots_left == 0) {
        out.push_back(open.back().end);
        open.pop_back();
      }
    }
    // Handlers whose inner slots were not all recorded (cut off by a clear).
    while (!open.empty()) {
      out.push_back(open.back().end);
      open.pop_back();
    }
  }
  return out;
}

uint64_t dropped() {
  std::lock_guard<std::mutex> lk(g_mutex);
  const size_t cap = g_capacity.load();
  uint64_t d = 0;
  for (auto& r : rings()) {
    const uint64_t n = r->n.load(std::memory_order_acquire);
    if (n > cap) d += n - cap;
  }
  return d;
}

void clear() {
  std::lock_guard<std::mutex> lk(g_mutex);
  detail::g_epoch.fetch_add(1);
  for (auto& r : rings()) r->n.store(0, std::memory_order_relaxed);
  requests().clear();
  request_index().clear();
}

status dump_jsonl(const std::string& path) {
  auto events = collect();
  // Time order; ties keep the ring order (in virtual time one thread records
  // everything, so the ring order is the order things happened).
  std::stable_sort(events.begin(), events.end(), [](const event& x, const event& y) { return x.t_ns < y.t_ns; });
  const auto msg = pair_messages(events);
  const uint64_t lost = dropped();
  std::vector<request_record> reqs;
  std::vector<std::pair<uint64_t, actor_entry>> actors;
  {
    std::lock_guard<std::mutex> lk(g_mutex);
    reqs = requests();
    std::unordered_set<uint64_t> seen;
    for (const auto& e : events) seen.insert(e.actor);
    for (const auto& [id, a] : registry())
      if (seen.count(id)) actors.emplace_back(id, a);
  }
  std::sort(actors.begin(), actors.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return make_error("trace: cannot open " + path + " for writing");
  std::fprintf(f,
               "{\"type\":\"header\",\"format\":\"kairos-trace\",\"version\":1,\"clock\":\"%s\",\"unit\":\"ns\","
               "\"events\":%zu,\"dropped\":%llu,\"actors\":%zu,\"requests\":%zu}\n",
               g_clock_virtual.load() ? "virtual" : "real", events.size(), static_cast<unsigned long long>(lost),
               actors.size() + reqs.size(), reqs.size());
  for (const auto& [id, a] : actors)
    std::fprintf(f, "{\"type\":\"actor\",\"actor\":%llu,\"actor_kind\":\"%s\",\"name\":%s,\"group\":%s}\n",
                 static_cast<unsigned long long>(id), name(a.ak), json_string(a.name).c_str(), json_string(a.group).c_str());
  for (const auto& r : reqs)
    std::fprintf(f, "{\"type\":\"actor\",\"actor\":%llu,\"actor_kind\":\"request\",\"name\":\"request %lld\",\"group\":\"\"}\n",
                 static_cast<unsigned long long>(r.actor), static_cast<long long>(r.request));
  for (const auto& r : reqs)
    std::fprintf(f,
                 "{\"type\":\"request\",\"request\":%lld,\"actor\":%llu,\"class\":%s,\"arrival_ns\":%lld,"
                 "\"input_tokens\":%d,\"max_tokens\":%d,\"ttft_slo_ms\":%.6g,\"tpot_slo_ms\":%.6g,\"end_ns\":%lld,"
                 "\"status\":%s,\"output_tokens\":%d}\n",
                 static_cast<long long>(r.request), static_cast<unsigned long long>(r.actor), json_string(r.cls).c_str(),
                 static_cast<long long>(r.arrival_ns), r.input_tokens, r.max_tokens, r.ttft_slo_s * 1e3, r.tpot_slo_s * 1e3,
                 static_cast<long long>(r.end_ns), json_string(r.status).c_str(), r.output_tokens);
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    std::fprintf(f,
                 "{\"type\":\"event\",\"t_ns\":%lld,\"thread\":%u,\"actor\":%llu,\"actor_kind\":\"%s\",\"kind\":\"%s\","
                 "\"what\":\"%s\",\"request\":%lld,\"batch\":%lld,\"a\":%d",
                 static_cast<long long>(e.t_ns), e.thread, static_cast<unsigned long long>(e.actor), name(e.ak), name(e.k),
                 name(e.w), static_cast<long long>(e.request), static_cast<long long>(e.batch), e.a);
    if (msg[i] >= 0) std::fprintf(f, ",\"msg\":%lld", static_cast<long long>(msg[i]));
    std::fputs("}\n", f);
  }
  const bool ok = std::fflush(f) == 0 && !std::ferror(f);
  std::fclose(f);
  if (!ok) return make_error("trace: write to " + path + " failed");
  return {};
}

status start_recording(const std::string& path) {
  {
    std::lock_guard<std::mutex> lk(g_mutex);
    if (!g_recording_path.empty()) return make_error("trace: already recording to " + g_recording_path);
    // Fail now, not when the recording ends, if the file cannot be written.
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (!f) return make_error("trace: cannot open " + path + " for writing");
    std::fclose(f);
    g_recording_path = path;
  }
  clear();
  set_enabled(true);
  return {};
}

status stop_recording() {
  std::string path;
  {
    std::lock_guard<std::mutex> lk(g_mutex);
    if (g_recording_path.empty()) return make_error("trace: no recording in progress");
    path.swap(g_recording_path);
  }
  set_enabled(false);
  return dump_jsonl(path);
}

bool recording() {
  std::lock_guard<std::mutex> lk(g_mutex);
  return !g_recording_path.empty();
}

}  // namespace kairos::trace
