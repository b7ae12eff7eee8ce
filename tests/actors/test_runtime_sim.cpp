// The runtime on sim devices in virtual time (CAF's test coordinator): the
// same actors as in real time, deterministic, no sleeps.
#include <doctest/doctest.h>

#include <caf/scheduler/test_coordinator.hpp>

#include "actors/replay.hpp"
#include "actors/runtime_impl.hpp"
#include "scheduler/policy_registry.hpp"
#include "scheduler/preset_reader.hpp"
#include "scheduler/simulator.hpp"

using namespace kairos;

namespace {

// 1P1D (or more) sim cluster with a cost model whose times are easy to add:
// prefill 10 ms + 0.01 ms/token, decode step 5 ms, transfer 1 ms.
runtime_config sim_config(int n_prefill = 1, int n_decode = 1) {
  auto c = parse_runtime_config(R"(
groups:
  prefill: {backend: sim, devices: 1}
  decode:  {backend: sim, devices: 1}
policies: fcfs+cb
cost_model: {type: fitted, prefill_ms: [10, 0.01, 0], decode_ms: [5, 0, 0], kv_latency_ms: 1, kv_ms_per_token: 0}
kv: {block_size: 16, capacity_tokens: 65536}
admission: {max_queued: 100, max_in_flight: 1000, max_tokens: 4096, default_max_tokens: 64}
)", "test");
  REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.message()));
  auto cfg = c.value();
  cfg.prefill.devices.clear();
  cfg.decode.devices.clear();
  int k = 0;
  for (int i = 0; i < n_prefill; ++i) cfg.prefill.devices.push_back({"sim:" + std::to_string(k++), backend_kind::sim, 0});
  for (int i = 0; i < n_decode; ++i) cfg.decode.devices.push_back({"sim:" + std::to_string(k++), backend_kind::sim, 0});
  return cfg;
}

// Runs messages and fires timeouts in time order until nothing is left.
void drive(Runtime& rt) {
  auto* c = rt.internals().coordinator();
  REQUIRE(c != nullptr);
  for (;;) {
    c->run();
    if (!c->clock().has_pending_timeout()) break;
    c->clock().trigger_timeout();
  }
}

}  // namespace

TEST_CASE("one request: every transition at the modelled time") {
  auto rt = Runtime::create(sim_config(), {true, 0}).value();
  std::vector<request_result> done;
  std::vector<int32_t> streamed;
  generate_request r;
  r.prompt_tokens = 100;
  r.max_tokens = 64;
  r.sim_output_tokens = 4;
  auto h = rt->submit(r, {[&](int64_t, int32_t t) { streamed.push_back(t); },
                          [&](const request_result& x) { done.push_back(x); }});
  REQUIRE(h.ok());
  drive(*rt);
  REQUIRE(done.size() == 1);
  const auto& x = done[0];
  CHECK(x.status == request_status::finished);
  CHECK(x.tokens.size() == 4);
  CHECK(streamed.size() == 4);
  CHECK(x.reason == stop_reason::max_tokens);
  // timeline: 0 queued/prefill start | 11 ms first token (10 + 100 x 0.01) |
  // 12 ms KV arrives (1 ms link) | three 5 ms decode steps -> 27 ms.
  CHECK(x.times.queued_s == doctest::Approx(0.0));
  CHECK(x.times.prefill_start_s == doctest::Approx(0.0));
  CHECK(x.times.first_token_s == doctest::Approx(0.011));
  CHECK(x.times.decode_start_s == doctest::Approx(0.012));
  CHECK(x.times.last_token_s == doctest::Approx(0.027));
  CHECK(x.prefill_device == "sim:0");
  CHECK(x.decode_device == "sim:1");
  auto s = rt->stats();
  CHECK(s.finished == 1);
  CHECK(s.in_flight == 0);
  CHECK(s.decode_steps == 3);
  for (const auto& d : s.devices) CHECK(d.kv_free_blocks == d.kv_total_blocks);
}

TEST_CASE("cancel in every state frees every KV block") {
  // Cancel at a chosen virtual time; the request is then queued (behind
  // another), prefilling, transferring or decoding.
  struct when_t {
    double at_s;
    request_status state_then;  // documents the timeline below
  };
  for (auto w : {when_t{0.005, request_status::queued}, when_t{0.015, request_status::prefilling},
                 when_t{0.0215, request_status::transferring}, when_t{0.040, request_status::decoding}}) {
    CAPTURE(w.at_s);
    auto rt = Runtime::create(sim_config(), {true, 0}).value();
    auto* c = rt->internals().coordinator();
    std::vector<request_result> done;
    generate_request first, r;
    first.prompt_tokens = 100;  // prefill 0..11 ms
    first.sim_output_tokens = 2;
    r.prompt_tokens = 100;      // prefill 11..22 ms, KV 22..23 ms, decode from 23 ms
    r.sim_output_tokens = 1000;
    r.max_tokens = 1000;
    REQUIRE(rt->submit(first, {{}, [&](const request_result& x) { done.push_back(x); }}).ok());
    auto h = rt->submit(r, {{}, [&](const request_result& x) { done.push_back(x); }});
    REQUIRE(h.ok());
    c->run();
    // Advance event by event up to the cancel time.
    while (c->clock().has_pending_timeout() && rt->now_s() < w.at_s) {
      c->clock().trigger_timeout();
      c->run();
    }
    (void)w.state_then;
    h.value().cancel();
    drive(*rt);
    REQUIRE(done.size() == 2);
    const auto& x = done[0].id == h.value().id() ? done[0] : done[1];
    CHECK(x.id == h.value().id());
    CHECK(x.status == request_status::cancelled);
    if (w.at_s < 0.02) CHECK(x.tokens.empty());  // cancelled before its first token
    auto s = rt->stats();
    CHECK(s.cancelled == 1);
    CHECK(s.in_flight == 0);
    CHECK(s.queued == 0);
    for (const auto& d : s.devices) {
      CAPTURE(d.name);
      CHECK(d.kv_free_blocks == d.kv_total_blocks);
    }
  }
}

TEST_CASE("admission: over-long and overload are rejected with the reason") {
  auto cfg = sim_config();
  cfg.max_context = 1000;
  cfg.admission.max_queued = 2;
  auto rt = Runtime::create(cfg, {true, 0}).value();
  generate_request big;
  big.prompt_tokens = 990;
  big.max_tokens = 64;
  auto r1 = rt->submit(big, {});
  REQUIRE_FALSE(r1.ok());
  CHECK(r1.message().find("too long") != std::string::npos);
  CHECK(r1.message().find("990 prompt tokens") != std::string::npos);
  CHECK(r1.message().find("context of 1000") != std::string::npos);
  generate_request r;
  r.prompt_tokens = 10;
  r.max_tokens = 8;
  CHECK(rt->submit(r, {}).ok());
  CHECK(rt->submit(r, {}).ok());
  auto r3 = rt->submit(r, {});  // nothing ran yet: two wait for prefill
  REQUIRE_FALSE(r3.ok());
  CHECK(r3.message().find("overloaded") != std::string::npos);
  CHECK(r3.message().find("max_queued") != std::string::npos);
  r.max_tokens = 5000;
  auto r4 = rt->submit(r, {});
  REQUIRE_FALSE(r4.ok());
  CHECK(r4.message().find("max_tokens 5000") != std::string::npos);
  drive(*rt);
  auto s = rt->stats();
  CHECK(s.finished == 2);
  CHECK(s.rejected == 3);
}

TEST_CASE("a failing decode device fails its requests by name; the group keeps serving") {
  auto cfg = sim_config(1, 2);
  cfg.policies = "fcfs+cb";
  auto rt = Runtime::create(cfg, {true, 0}).value();
  auto* c = rt->internals().coordinator();
  std::map<int64_t, request_result> done;
  generate_request r;
  r.prompt_tokens = 50;
  r.max_tokens = 200;
  r.sim_output_tokens = 200;
  for (int i = 0; i < 8; ++i) REQUIRE(rt->submit(r, {{}, [&](const request_result& x) { done[x.id] = x; }}).ok());
  c->run();
  while (c->clock().has_pending_timeout() && rt->now_s() < 0.2) {
    c->clock().trigger_timeout();
    c->run();
  }
  REQUIRE(rt->inject_fault("sim:2").ok());
  drive(*rt);
  REQUIRE(done.size() == 8);
  int failed = 0, finished = 0;
  for (auto& [id, x] : done) {
    if (x.decode_device == "sim:2") {
      CHECK(x.status == request_status::failed);
      CHECK(x.error.find("sim:2") != std::string::npos);
      ++failed;
    } else {
      CHECK(x.status == request_status::finished);
      CHECK(x.tokens.size() == 200);
      ++finished;
    }
  }
  CHECK(failed > 0);
  CHECK(finished > 0);
  // The group goes on with the device left.
  done.clear();
  for (int i = 0; i < 4; ++i) REQUIRE(rt->submit(r, {{}, [&](const request_result& x) { done[x.id] = x; }}).ok());
  drive(*rt);
  REQUIRE(done.size() == 4);
  for (auto& [id, x] : done) {
    CHECK(x.status == request_status::finished);
    CHECK(x.decode_device == "sim:1");
  }
  auto s = rt->stats();
  for (const auto& d : s.devices) CHECK(d.alive == (d.name != "sim:2"));
}

TEST_CASE("replay in virtual time matches the simulator on the same input") {
  auto pre = sched::load_preset("llama3-8b-h100");
  REQUIRE(pre.model);
  sched::synthetic_spec sp;
  sp.n = 300;
  sp.rate = 8;
  sp.input_tokens = 1024;
  sp.output_tokens = 64;
  sp.seed = 3;
  auto rows = sched::synthetic_rows(sp, {});
  sched::workload_options wo;
  auto w = sched::make_workload(rows, wo);
  for (const char* pol : {"fcfs+cb", "kairos"}) {
    CAPTURE(pol);
    auto cfg = sim_config(2, 2);
    cfg.policies = pol;
    cfg.cost.type = "preset";
    cfg.kv_capacity_tokens = 0;
    cfg.prefill_limits = {4096, 64, 0};
    cfg.admission.max_queued = 100000;
    auto rr = replay(cfg, w);
    REQUIRE(rr.error.empty());
    auto ps = sched::make_policy_set(pol, cfg.policy_options, rr.error);
    sched::sim_config sc;
    sc.n_prefill = 2;
    sc.n_decode = 2;
    sc.prefill = {4096, 64, 0};
    sc.decode.kv_capacity_tokens = int64_t((pre.setup.kv_capacity_tokens() + 15) / 16) * 16;
    sc.decode.max_num_seqs = 256;
    auto sr = sched::simulate(w, sc, {ps.prefill.get(), ps.decode.get(), ps.placement.get()}, *pre.model, *pre.model);
    auto a = sched::summarize(rr.outcomes, rr.decode);
    auto b = sched::summarize(sr.outcomes, sr.decode);
    CHECK(a.n_finished == b.n_finished);
    CHECK(std::abs(a.e2e_attainment - b.e2e_attainment) <= 0.02);
    CHECK(std::abs(a.ttft_p90_ms - b.ttft_p90_ms) <= 0.05 * b.ttft_p90_ms + 1.0);
  }
}

TEST_CASE("shutdown with requests in flight ends each of them") {
  auto rt = Runtime::create(sim_config(), {true, 0}).value();
  auto* c = rt->internals().coordinator();
  std::vector<request_result> done;
  generate_request r;
  r.prompt_tokens = 100;
  r.max_tokens = 1000;
  r.sim_output_tokens = 1000;
  for (int i = 0; i < 3; ++i) REQUIRE(rt->submit(r, {{}, [&](const request_result& x) { done.push_back(x); }}).ok());
  c->run();
  for (int i = 0; i < 5; ++i) {
    c->clock().trigger_timeout();
    c->run();
  }
  rt->shutdown();
  REQUIRE(done.size() == 3);
  for (auto& x : done) {
    CHECK(x.status == request_status::failed);
    CHECK(x.error == "runtime shut down");
  }
}
