// `kairos bench` against a real `kairos serve` process on a simulated 2P2D
// H100 cluster (sim devices, real time): the bench's SLO attainment must match
// the server's own per-request accounting (the done frames' ttft_met /
// tpot_met) within 1 point, and every token asked for must arrive. Skipped
// (77) without the kairos binary.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include "scheduler/trace_reader.hpp"
#include "tests/support/serve_process.hpp"
#include "tools/bench/bench_client.hpp"

using namespace kairos;
using namespace kairos::bench;
using kairos::test::serve_process;

namespace {


// Poisson arrivals with the conv trace's lengths (Azure 2023), capped so the
// run stays short; SLOs tight enough that some requests miss and some meet.
std::vector<bench_request> workload(int n, double rate, double ttft_ms, double tpot_ms) {
  auto tr = sched::read_trace(std::string(KAIROS_SHARED_DIR) + "/traces/AzureLLMInferenceTrace_conv.csv");
  REQUIRE_MESSAGE(tr.error.empty(), tr.error);
  sched::synthetic_spec sp;
  sp.n = n;
  sp.rate = rate;
  sp.seed = 3;
  auto rows = sched::synthetic_rows(sp, tr.rows);
  bench_workload_options o;
  o.max_tokens = 64;
  o.slo = {ttft_ms / 1e3, tpot_ms / 1e3};
  return make_bench_requests(rows, o);
}

}  // namespace

TEST_CASE("bench over WebSocket against kairos serve (sim 2P2D): attainment matches the server's within 1 point") {
  serve_process srv(std::string(KAIROS_SOURCE_DIR) + "/configs/sim-2p2d-llama3-8b-h100.yaml");
  client_options o;
  o.kind = backend::ws;
  o.url = {"127.0.0.1", uint16_t(srv.port()), "/v1/stream"};
  o.ws_requests_per_conn = 8;
  // TTFT 60 ms is tight for the longer prompts of the trace at this rate.
  const auto reqs = workload(200, 40, 60, 12);
  auto recs = run_bench(o, reqs);
  const auto s = summarize_bench(recs, goodput_slo{});
  for (const auto& [e, k] : s.errors) INFO(e << " x" << k);
  CHECK(s.n_failed == 0);
  CHECK(s.n_server_reported == 200);
  int64_t asked = 0;
  for (const auto& r : reqs) asked += r.max_tokens;
  CHECK(s.total_output_tokens == asked);
  CHECK(s.n_prompt_mismatch == 0);  // token ids: the exact prompt lengths
  INFO("client ttft/tpot/joint " << s.ttft_attainment << " " << s.tpot_attainment << " " << s.joint_attainment
                                 << ", server " << s.server_ttft_attainment << " " << s.server_tpot_attainment << " "
                                 << s.server_joint_attainment);
  // Not trivially all or nothing, or the comparison would prove little.
  CHECK(s.joint_attainment > 0.05);
  CHECK(s.joint_attainment < 0.95);
  CHECK(std::abs(s.ttft_attainment - s.server_ttft_attainment) <= 0.01);
  CHECK(std::abs(s.tpot_attainment - s.server_tpot_attainment) <= 0.01);
  CHECK(std::abs(s.joint_attainment - s.server_joint_attainment) <= 0.01);
  // Every token frame carries the server's timestamp: the front latency is measured.
  CHECK(s.front.n == asked);
  CHECK(s.front.p99_ms >= 0);
  CHECK(s.front_offset_uncertainty_ms >= 0);
}

TEST_CASE("bench over OpenAI SSE against kairos serve: usage and the server's accounting come back") {
  serve_process srv(std::string(KAIROS_SOURCE_DIR) + "/configs/sim-2p2d-llama3-8b-h100.yaml");
  client_options o;
  o.kind = backend::openai;
  o.url = {"127.0.0.1", uint16_t(srv.port()), "/v1/completions"};
  const auto reqs = workload(30, 20, 500, 50);
  auto recs = run_bench(o, reqs);
  const auto s = summarize_bench(recs, goodput_slo{});
  for (const auto& [e, k] : s.errors) INFO(e << " x" << k);
  CHECK(s.n_failed == 0);
  CHECK(s.n_usage_prompt == 30);
  CHECK(s.n_prompt_mismatch == 0);
  CHECK(s.n_server_reported == 30);
  for (size_t i = 0; i < recs.size(); ++i) CHECK(recs[i].usage_completion_tokens == reqs[i].max_tokens);
  CHECK(std::abs(s.joint_attainment - s.server_joint_attainment) <= 0.05);
}
