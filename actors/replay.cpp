#include "actors/replay.hpp"

#include <caf/scheduler/test_coordinator.hpp>

#include <chrono>
#include <ctime>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "actors/runtime_impl.hpp"

namespace kairos {

namespace {

using arrive_atom = actors::arrive_atom;

generate_request make_request(const sched::workload& w, size_t i, bool sim, int32_t vocab, uint64_t seed) {
  const auto& spec = w.requests[i];
  generate_request r;
  r.max_tokens = spec.max_tokens;
  r.cls = spec.cls;
  r.slo = spec.slo;
  r.sim_output_tokens = std::max(1, w.output_tokens[i]);
  r.ignore_eos = true;
  if (sim) {
    r.prompt_tokens = spec.input_tokens;
  } else {
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + i;
    r.prompt.resize(size_t(spec.input_tokens));
    for (auto& t : r.prompt) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      t = int32_t(x % uint64_t(std::max(1, vocab - 1))) + 1;
    }
  }
  return r;
}

}  // namespace

replay_result replay(const runtime_config& cfg, const sched::workload& w, uint64_t seed, bool real_time) {
  replay_result out;
  const bool virt = cfg.all_sim() && !real_time;
  auto rt_r = Runtime::create(cfg, runtime_options{virt, 0});
  if (!rt_r) {
    out.error = rt_r.message();
    return out;
  }
  auto rt = std::move(rt_r.value());
  auto& p = rt->internals();
  const size_t n = w.requests.size();
  out.outcomes.resize(n);
  for (size_t i = 0; i < n; ++i) {
    out.outcomes[i].arrival_s = w.requests[i].arrival_s;
    out.outcomes[i].slo = w.requests[i].slo;
    out.outcomes[i].cls = w.requests[i].cls;
  }
  std::mutex mu;
  std::condition_variable cv;
  size_t ended = 0;
  const double t0 = w.requests.empty() ? 0 : w.requests.front().arrival_s;
  auto submit = [&](size_t i) {
    request_callbacks cb;
    cb.on_done = [&, i](const request_result& res) {
      std::lock_guard<std::mutex> lk(mu);
      auto& o = out.outcomes[i];
      // Times relative to the workload's clock: the runtime admitted it at its arrival.
      const double shift = w.requests[i].arrival_s - res.times.queued_s;
      o.prefill_start_s = res.times.prefill_start_s + shift;
      o.first_token_s = res.times.first_token_s + shift;
      o.last_token_s = res.times.last_token_s + shift;
      o.output_tokens = int32_t(res.tokens.size());
      o.finished = res.status == request_status::finished;
      if (res.status == request_status::failed) ++out.failed;
      ++ended;
      cv.notify_all();
    };
    auto h = rt->submit(make_request(w, i, p.sim, p.vocab, seed), std::move(cb));
    if (!h) {
      std::lock_guard<std::mutex> lk(mu);
      ++out.rejected;
      ++ended;
      cv.notify_all();
    }
  };
  auto process_cpu_s = [] {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
  };
  const double cpu0 = process_cpu_s();
  const auto wall0 = std::chrono::steady_clock::now();
  if (virt) {
    auto* coord = p.coordinator();
    // A driver actor submits each request when the clock reaches its arrival.
    auto driver = p.sys->spawn([&](caf::event_based_actor*) -> caf::behavior {
      return {[&](arrive_atom, int64_t i) { submit(size_t(i)); }};
    });
    for (size_t i = 0; i < n; ++i)
      caf::delayed_anon_send(driver, actors::to_timespan(w.requests[i].arrival_s - t0), arrive_atom::value, int64_t(i));
    // Run every message at this instant, then jump to the next timeout.
    for (;;) {
      coord->run();
      if (ended == n || !coord->clock().has_pending_timeout()) break;
      coord->clock().trigger_timeout();
    }
    caf::anon_send_exit(driver, caf::exit_reason::user_shutdown);
    coord->run();
  } else {
    for (size_t i = 0; i < n; ++i) {
      const double at = w.requests[i].arrival_s - t0;
      while (rt->now_s() < at) std::this_thread::sleep_for(std::chrono::microseconds(200));
      submit(i);
    }
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [&] { return ended == n; });
  }
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  out.cpu_s = process_cpu_s() - cpu0;
  out.virtual_s = rt->now_s();
  out.stats = rt->stats();
  out.decode.tokens = out.stats.decode_tokens;
  out.decode.busy_s = out.stats.decode_busy_s;
  out.decode.steps = out.stats.decode_steps;
  out.decode.batch_sum = int64_t(out.stats.mean_decode_batch * double(out.stats.decode_steps) + 0.5);
  out.decode.preemptions = out.stats.preemptions;
  rt->shutdown();
  return out;
}

}  // namespace kairos
