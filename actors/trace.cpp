#include "actors/trace.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>

namespace kairos::trace {

namespace {

struct ring {
  std::vector<event> buf = std::vector<event>(ring_capacity);
  std::atomic<uint64_t> n{0};  // events written so far
  uint32_t thread = 0;
};

std::mutex g_mutex;
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

void record_slow(const event& src) {
  ring& r = my_ring();
  const uint64_t i = r.n.load(std::memory_order_relaxed);
  event& e = r.buf[i % ring_capacity];
  e = src;
  e.t_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  e.thread = r.thread;
  r.n.store(i + 1, std::memory_order_release);
}

std::vector<event> collect() {
  std::vector<event> out;
  std::lock_guard<std::mutex> lk(g_mutex);
  for (auto& r : rings()) {
    const uint64_t n = r->n.load(std::memory_order_acquire);
    const uint64_t first = n > ring_capacity ? n - ring_capacity : 0;
    for (uint64_t i = first; i < n; ++i) out.push_back(r->buf[i % ring_capacity]);
  }
  return out;
}

void clear() {
  std::lock_guard<std::mutex> lk(g_mutex);
  for (auto& r : rings()) r->n.store(0, std::memory_order_relaxed);
}

status dump_jsonl(const std::string& path) {
  const auto events = collect();
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return make_error("trace: cannot open " + path + " for writing");
  for (const auto& e : events)
    std::fprintf(f,
                 "{\"t_ns\":%lld,\"thread\":%u,\"actor\":%llu,\"actor_kind\":\"%s\",\"kind\":\"%s\",\"what\":\"%s\","
                 "\"request\":%lld,\"batch\":%lld,\"a\":%d}\n",
                 static_cast<long long>(e.t_ns), e.thread, static_cast<unsigned long long>(e.actor), name(e.ak),
                 name(e.k), name(e.w), static_cast<long long>(e.request), static_cast<long long>(e.batch), e.a);
  const bool ok = std::fflush(f) == 0 && !std::ferror(f);
  std::fclose(f);
  if (!ok) return make_error("trace: write to " + path + " failed");
  return {};
}

}  // namespace kairos::trace
