// What the actor pipeline costs: the latency it adds to each decode step
// (batch 64, a sim device with a zero-cost model, real threads), and memory
// and actor count with 10,000 requests in flight. Prints the numbers for
// docs/benchmarks.md; asserts only loose bounds (the build machine is shared).
#include <doctest/doctest.h>

#include <caf/scheduler/test_coordinator.hpp>

#include <atomic>
#include <chrono>
#include <vector>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>
#include <tuple>

#include "actors/runtime_impl.hpp"

using namespace kairos;

namespace {

runtime_config zero_cost_sim() {
  auto c = parse_runtime_config(R"(
groups:
  prefill: {backend: sim, devices: 1}
  decode:  {backend: sim, devices: 1}
policies: fcfs+cb
cost_model: {type: fitted, prefill_ms: [0, 0, 0], decode_ms: [0, 0, 0], kv_latency_ms: 0, kv_ms_per_token: 0}
kv: {block_size: 16, capacity_tokens: 4000000}
admission: {max_queued: 100000, max_in_flight: 100000, max_tokens: 100000, default_max_tokens: 64}
)", "overhead");
  REQUIRE(c.ok());
  return c.value();
}

long rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string k;
  long v = 0;
  while (f >> k)
    if (k == "VmRSS:") {
      f >> v;
      return v;
    }
  return 0;
}

struct overhead_window {
  double per_step_us = 0;
  double batch = 0;
  int64_t from = 0, to = 0;
  bool inside_run = false;  // no request had finished when the window closed
};

// One run: 64 requests decoding on a zero-cost sim device; the time and mean
// batch of 1,000 decode steps once all 64 are resident.
overhead_window measure_decode_overhead() {
  auto rt = Runtime::create(zero_cost_sim(), {false, 2}).value();
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  // Far more steps than the measurement needs: the requests are cancelled
  // once it is taken, so a test thread that is slow to be scheduled still
  // finds them running.
  const int n = 64, tokens = 32000;  // the sim model's context is 32768
  generate_request r;
  r.prompt_tokens = 128;
  r.max_tokens = tokens;
  r.sim_output_tokens = tokens;
  std::vector<std::atomic<int>> seen(n + 1);  // ids are assigned by the runtime: 0- or 1-based
  std::atomic<int> decoding{0};
  std::vector<request_handle> handles;
  for (int i = 0; i < n; ++i) {
    auto h = rt->submit(r, {[&](int64_t id, int32_t) {
                             if (id >= 0 && id <= n && ++seen[size_t(id)] == 2) ++decoding;
                           },
                           [&](const request_result&) {
                             std::lock_guard<std::mutex> lk(mu);
                             ++done;
                             cv.notify_all();
                           }});
    REQUIRE_MESSAGE(h.ok(), h.message());
    handles.push_back(std::move(h.value()));
  }
  auto snap = [&](int64_t steps) {
    while (rt->stats().decode_steps < steps && rt->stats().finished < n)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    const auto st = rt->stats();
    return std::make_tuple(std::chrono::steady_clock::now(), st.decode_steps, st.mean_decode_batch * double(st.decode_steps));
  };
  // Wait on the runtime's own counters, not on token callbacks: those may be
  // delivered later than the steps that made them.
  while (decoding.load() < n && rt->stats().decode_steps < 200)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  // Start the window once every request is resident: probe 50-step windows
  // until one has a mean batch of 64 (admission takes a variable time).
  int64_t from = rt->stats().decode_steps + 20;
  for (int probe = 0; probe < 200; ++probe) {
    auto [t0p, s0, b0] = snap(from);
    auto [t1p, s1, b1] = snap(from + 50);
    (void)t0p;
    (void)t1p;
    from = s1;
    if (s1 > s0 && (b1 - b0) / double(s1 - s0) > 63.5) break;
  }
  auto [ta, sa, ba] = snap(from);
  auto [tb, sb, bb] = snap(from + 1000);
  overhead_window w;
  w.from = sa;
  w.to = sb;
  // A test thread starved of CPU (ctest runs tests side by side) can wake
  // after the requests have run their 32,000 steps: that window is not the
  // steady state, and the caller measures again.
  w.inside_run = sb > sa && rt->stats().finished == 0;
  if (sb > sa) {
    w.per_step_us = 1e6 * std::chrono::duration<double>(tb - ta).count() / double(sb - sa);
    w.batch = (bb - ba) / double(sb - sa);
  }
  for (auto& h : handles) h.cancel();
  {
    std::unique_lock<std::mutex> lk(mu);
    REQUIRE(cv.wait_for(lk, std::chrono::seconds(120), [&] { return done == n; }));
  }
  return w;
}

}  // namespace

TEST_CASE("decode step overhead at batch 64 (zero-cost sim device, real time)") {
  overhead_window w;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    w = measure_decode_overhead();
    if (w.inside_run) break;
    MESSAGE("attempt " << attempt << ": the window (steps " << w.from << ".." << w.to
                       << ") reached the end of the requests; measuring again");
  }
  REQUIRE_MESSAGE(w.inside_run, "no window of 1,000 decode steps inside the run in 3 attempts");
  std::printf("overhead: steps %lld..%lld, mean batch %.1f, %.1f us per decode step (scheduler + device + token messages)\n",
              (long long)w.from, (long long)w.to, w.batch, w.per_step_us);
  CHECK(w.batch > 63.5);  // all 64 resident
  CHECK(w.per_step_us < 5000);  // loose: the target (100 us) is measured, not asserted
}

TEST_CASE("10,000 requests in flight: actors and memory") {
  auto cfg = zero_cost_sim();
  cfg.cost.decode_ms = {5, 0, 0};
  cfg.cost.prefill_ms = {50, 0, 0};
  auto rt = Runtime::create(cfg, {true, 0}).value();
  auto* c = rt->internals().coordinator();
  const long before = rss_kb();
  generate_request r;
  r.prompt_tokens = 512;
  r.max_tokens = 256;
  r.sim_output_tokens = 256;
  for (int i = 0; i < 10000; ++i) REQUIRE(rt->submit(r, {}).ok());
  c->run();  // every arrival handled; the clock has not moved
  const auto s = rt->stats();
  const long after = rss_kb();
  std::printf("in flight: %lld requests, %lld request actors, RSS +%ld KB (%.2f KB per request)\n", (long long)s.in_flight,
              (long long)s.request_actors, after - before, double(after - before) / 10000.0);
  CHECK(s.in_flight == 10000);
  CHECK(s.request_actors == 10000);
  rt->shutdown();
}
