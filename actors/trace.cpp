#include "actors/trace.hpp"

#include <chrono>
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

void set_enabled(bool on) { g_enabled.store(on, std::memory_order_relaxed); }

void record_slow(kind k, what w, uint64_t actor, int64_t request, int32_t a) {
  ring& r = my_ring();
  const uint64_t i = r.n.load(std::memory_order_relaxed);
  event& e = r.buf[i % ring_capacity];
  e.t_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  e.actor = actor;
  e.request = request;
  e.a = a;
  e.thread = r.thread;
  e.k = k;
  e.w = w;
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

}  // namespace kairos::trace
