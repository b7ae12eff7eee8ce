// The simulator end to end on tiny workloads, trace parsing, determinism.
#include <doctest/doctest.h>

#include "scheduler/experiment.hpp"
#include "scheduler/preset_reader.hpp"
#include "scheduler/trace_reader.hpp"
#include "tests/scheduler/fake_cost_model.hpp"

using namespace kairos::sched;
using kairos::sched::testing::fake_cost_model;

namespace {
sim_result run(const std::vector<trace_row>& rows, const std::string& policy, const cost_model& cost,
               int n_decode = 1) {
  workload_options wo;
  wo.slo = {0.5, 0.05};
  const workload w = make_workload(rows, wo);
  sim_config cfg;
  cfg.n_decode = n_decode;
  cfg.decode.kv_capacity_tokens = 1 << 20;
  cfg.record_token_times = true;
  std::string err;
  auto ps = make_policy_set(policy, {}, err);
  REQUIRE(ps.ok());
  const sim_policies pol{ps.prefill.get(), ps.decode.get(), ps.placement.get()};
  return simulate(w, cfg, pol, cost, cost);
}
}  // namespace

// 1 ms per prompt token, 10 ms per decode step, 2 ms KV transfer.
//
//   A: arrives 0.00, 100 tokens in, 3 out
//     prefill 0.00-0.10 (token 1) | transfer -0.102 | steps -0.112 (2), -0.122 (3)
//   B: arrives 0.05, 50 in, 2 out
//     waits for A; prefill 0.10-0.15 (token 1) | transfer -0.152 | joins at the
//     next step boundary, 0.152 (A finished at 0.122) | step -0.162 (2)
TEST_CASE("a small schedule gives the hand-computed token times") {
  fake_cost_model cost;
  cost.transfer_s = 0.002;
  const auto r = run({{0.0, 100, 3}, {0.05, 50, 2}}, "fcfs+cb", cost);
  REQUIRE(r.outcomes[0].finished);
  REQUIRE(r.outcomes[1].finished);
  CHECK(r.outcomes[0].ttft() == doctest::Approx(0.100));
  CHECK(r.outcomes[0].last_token_s == doctest::Approx(0.122));
  CHECK(r.outcomes[0].tpot() == doctest::Approx(0.011));
  CHECK(r.outcomes[1].ttft() == doctest::Approx(0.100));
  CHECK(r.outcomes[1].last_token_s == doctest::Approx(0.162));
  REQUIRE(r.token_times[0].size() == 3);
  CHECK(r.token_times[0][1] == doctest::Approx(0.112));
  CHECK(r.decode.tokens == 3);
  CHECK(r.decode.steps == 3);
  CHECK(r.decode.busy_s == doctest::Approx(0.030));
}

TEST_CASE("every policy set finishes every request, and the same input gives the same output") {
  fake_cost_model cost;
  cost.per_token_s = 0.0001;
  cost.per_ctx_s = 1e-6;
  synthetic_spec sp;
  sp.n = 300;
  sp.rate = 40;
  sp.burstiness = 0.5;
  sp.seed = 7;
  std::vector<trace_row> src{{0, 2000, 50}, {0, 100, 300}, {0, 700, 20}, {0, 50, 1}};
  const auto rows = synthetic_rows(sp, src);
  for (const char* p : {"fcfs+cb", "spf+cb", "edf+cb", "kairos", "kairos-prefill+cb", "fcfs+kairos-decode"}) {
    const auto a = run(rows, p, cost, 2);
    const auto b = run(rows, p, cost, 2);
    int64_t done = 0;
    for (size_t i = 0; i < a.outcomes.size(); ++i) {
      done += a.outcomes[i].finished;
      CHECK(a.outcomes[i].last_token_s == b.outcomes[i].last_token_s);
    }
    CHECK_MESSAGE(done == 300, p);
  }
  // Synthetic arrivals are seeded.
  CHECK(synthetic_rows(sp, src)[123].arrival_s == rows[123].arrival_s);
}

TEST_CASE("traces parse by content, and rate scaling keeps order and lengths") {
  const auto csv = parse_trace(
      "TIMESTAMP,ContextTokens,GeneratedTokens\n"
      "2023-11-16 18:15:46.5000000,374,44\n"
      "2023-11-16 18:15:50.5000000,396,109\n");
  REQUIRE(csv.error.empty());
  CHECK(csv.format == "azure-csv");
  REQUIRE(csv.rows.size() == 2);
  CHECK(csv.rows[1].arrival_s - csv.rows[0].arrival_s == doctest::Approx(4.0));
  CHECK(csv.rows[1].output_tokens == 109);
  const auto jl = parse_trace(
      "{\"timestamp\": 0, \"input_length\": 100, \"output_length\": 5, \"hash_ids\": [1]}\n"
      "{\"timestamp\": 1500, \"input_length\": 200, \"output_length\": 6, \"hash_ids\": [1, 2]}\n");
  REQUIRE(jl.error.empty());
  CHECK(jl.format == "mooncake-jsonl");
  CHECK(jl.rows[1].arrival_s == doctest::Approx(1.5));

  workload_options wo;
  wo.rate_scale = 2.0;
  wo.slo_scale = 0.5;
  const auto w = make_workload(csv.rows, wo);
  CHECK(w.requests[1].arrival_s == doctest::Approx(2.0));
  CHECK(w.requests[1].input_tokens == 396);
  CHECK(w.requests[1].slo.ttft_s == doctest::Approx(0.25));
  CHECK(w.output_tokens[1] == 109);

  wo.mixed_classes = true;
  int interactive = 0;
  std::vector<trace_row> many(1000, trace_row{0, 10, 1});
  for (const auto& r : make_workload(many, wo).requests) interactive += r.cls == request_class::interactive;
  CHECK(interactive > 450);
  CHECK(interactive < 550);
}

TEST_CASE("goodput@90 bisection brackets the knee") {
  fake_cost_model cost;  // 1 ms/token prefill: 100-token prompts every 0.2 s at scale 1
  std::vector<trace_row> rows;
  for (int i = 0; i < 200; ++i) rows.push_back({0.2 * i, 100, 1});
  experiment_setup s;
  s.rows = rows;
  s.cluster.decode.kv_capacity_tokens = 1 << 20;
  s.truth = &cost;
  const auto g = goodput_at(s, "fcfs+cb", 1.0);
  // Capacity is 10 req/s = scale 2; at or below it everyone is on time.
  CHECK(g.rate_scale >= 1.9);
  CHECK(g.rate_scale < 3.0);
  CHECK(g.per_device_rps == doctest::Approx(g.rate_rps / 2));
}

TEST_CASE("the real trace files parse") {
  const auto t = read_trace(std::string(KAIROS_SHARED_DIR) + "/traces/AzureLLMInferenceTrace_code.csv");
  REQUIRE(t.error.empty());
  CHECK(t.rows.size() == 8819);
}
