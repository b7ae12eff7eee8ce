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

namespace kairos::trace {

namespace {

// A ring is a fixed table of chunk pointers; chunks are allocated when the
// ring first reaches them, so a ring sized for a whole replay costs nothing
// on threads that record little.
constexpr size_t chunk_events = size_t(1) << 14;
constexpr size_t max_chunks = max_ring_capacity / chunk_events;

std::atomic<size_t> g_capacity{default_ring_capacity};  // a power of two, a multiple of chunk_events

struct ring {
  std::array<std::atomic<event*>, max_chunks> chunks{};
  std::atomic<uint64_t> n{0};  // events written so far
  uint32_t thread = 0;
  ~ring() {
    for (auto& c : chunks) ::operator delete(c.load());
  }
};

std::mutex g_mutex;  // rings(), the registry, the request records, the recording
std::vector<std::shared_ptr<ring>>& rings() {
  static std::vector<std::shared_ptr<ring>> r;
  return r;
}

ring& my_ring() {
  thread_local std::shared_ptr<ring> r = [] {
    auto p = std::make_shared<ring>();
    std::lock_guard<std::mutex> lk(g_mutex);
    p->thread = static_cast<uint32_t>(rings().size());
    rings().push_back(p);
    return p;
  }();
  return *r;
}

// Uninitialised: a slot is written (placement new) before it is read, and
// not zeroing 768 KiB per chunk keeps the hot path's first touch cheap.
event* grow(ring& r, size_t chunk) {
  auto* c = static_cast<event*>(::operator new(sizeof(event) * chunk_events));
  r.chunks[chunk].store(c, std::memory_order_release);
  return c;
}

std::atomic<const clock_source*> g_clock{nullptr};
std::atomic<bool> g_clock_virtual{false};  // the last installed clock's kind, for the file header

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

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

void install_clock(const clock_source* c) {
  g_clock.store(c, std::memory_order_release);
  if (c) g_clock_virtual.store(c->virtual_time);
}

void uninstall_clock(const clock_source* c) {
  const clock_source* expected = c;
  g_clock.compare_exchange_strong(expected, nullptr);
}

int64_t now_ns() {
  const clock_source* c = g_clock.load(std::memory_order_acquire);
  return c ? c->now(c->ctx) - c->origin_ns : steady_ns();
}

status set_capacity(size_t events) {
  if (events == 0 || events > max_ring_capacity)
    return make_error("trace: ring capacity must be 1.." + std::to_string(max_ring_capacity) + " events, got " +
                      std::to_string(events));
  size_t cap = chunk_events;
  while (cap < events) cap <<= 1;
  std::lock_guard<std::mutex> lk(g_mutex);
  g_capacity.store(cap);
  for (auto& r : rings()) {
    r->n.store(0, std::memory_order_relaxed);
    for (size_t c = cap / chunk_events; c < max_chunks; ++c) ::operator delete(r->chunks[c].exchange(nullptr));
  }
  return {};
}

size_t capacity() { return g_capacity.load(); }

namespace {

inline void put(ring& r, uint64_t i, size_t mask, const event& src, int64_t t) {
  const size_t slot = size_t(i) & mask;
  event* chunk = r.chunks[slot / chunk_events].load(std::memory_order_relaxed);
  if (!chunk) chunk = grow(r, slot / chunk_events);
  event* e = new (&chunk[slot % chunk_events]) event(src);
  e->t_ns = t;
  e->thread = r.thread;
}

}  // namespace

void record_slow(const event& src) {
  ring& r = my_ring();
  const size_t mask = g_capacity.load(std::memory_order_relaxed) - 1;
  const uint64_t i = r.n.load(std::memory_order_relaxed);
  put(r, i, mask, src, now_ns());
  r.n.store(i + 1, std::memory_order_release);
}

void record_pair(const event& first, const event& second) {
  ring& r = my_ring();
  const size_t mask = g_capacity.load(std::memory_order_relaxed) - 1;
  const uint64_t i = r.n.load(std::memory_order_relaxed);
  const int64_t t = now_ns();
  put(r, i, mask, first, t);
  put(r, i + 1, mask, second, t);
  r.n.store(i + 2, std::memory_order_release);
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
  for (auto& r : rings()) {
    const uint64_t n = r->n.load(std::memory_order_acquire);
    const uint64_t first = n > cap ? n - cap : 0;
    for (uint64_t i = first; i < n; ++i) {
      const size_t slot = size_t(i) & (cap - 1);
      const event* c = r->chunks[slot / chunk_events].load(std::memory_order_acquire);
      if (c) out.push_back(c[slot % chunk_events]);
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
