// `kairos bench`'s metrics, workload and report pieces, against values
// computed by hand from small request timelines (no sockets).
#include <doctest/doctest.h>

#include "tools/bench/bench_metrics.hpp"
#include "tools/bench/bench_report.hpp"
#include "tools/bench/bench_workload.hpp"
#include "tools/bench/goodput_search.hpp"
#include "tools/bench/proc_stat.hpp"

using namespace kairos;
using namespace kairos::bench;
using doctest::Approx;

namespace {

request_record rec(int64_t i, double send, double end, std::vector<chunk> chunks, bool ok = true, std::string err = {}) {
  request_record r;
  r.index = i;
  r.send_s = send;
  r.end_s = end;
  r.chunks = std::move(chunks);
  r.ok = ok;
  r.error = std::move(err);
  r.prompt_tokens = 100;
  r.slo = {0.5, 0.05};
  return r;
}

// Client clock (s), SLO 500 ms / 50 ms for all:
//   A  send 0.00  tokens at 0.10 0.12 0.15 0.20 (1 each)  end 0.20  usage 4
//   B  send 0.50  token  at 1.10                           end 1.10  usage 1
//   C  send 1.00  tokens at 1.20 (3) 1.50 (1)              end 1.50  no usage -> 4
//   D  send 1.05  HTTP 500                                 end 1.30
std::vector<request_record> timeline() {
  std::vector<request_record> v;
  v.push_back(rec(0, 0.0, 0.2, {{0.10, 1}, {0.12, 1}, {0.15, 1}, {0.20, 1}}));
  v.back().usage_completion_tokens = 4;
  v.back().usage_prompt_tokens = 100;
  v.push_back(rec(1, 0.5, 1.1, {{1.10, 1}}));
  v.back().usage_completion_tokens = 1;
  v.back().usage_prompt_tokens = 90;
  v.push_back(rec(2, 1.0, 1.5, {{1.20, 3}, {1.50, 1}}));
  v.push_back(rec(3, 1.05, 1.3, {}, false, "HTTP 500: boom"));
  return v;
}

}  // namespace

TEST_CASE("per-request TTFT, TPOT and E2EL follow vllm bench serve") {
  auto v = timeline();
  CHECK(v[0].ttft() == Approx(0.10));
  CHECK(v[0].e2el() == Approx(0.20));
  CHECK(v[0].tpot() == Approx(0.10 / 3));
  CHECK(v[1].tpot() == 0.0);  // one token: TPOT 0
  CHECK(v[2].output_tokens() == 4);  // counted from chunks without usage
  CHECK(v[2].tpot() == Approx(0.30 / 3));
  CHECK(v[3].ttft() == -1);
}

TEST_CASE("summary of a hand-drawn timeline") {
  const auto v = timeline();
  goodput_slo gp;
  gp.ttft_ms = 500;
  gp.tpot_ms = 50;
  const auto s = summarize_bench(v, gp);
  CHECK(s.n_requests == 4);
  CHECK(s.n_completed == 3);
  CHECK(s.n_failed == 1);
  REQUIRE(s.errors.size() == 1);
  CHECK(s.errors.at("HTTP 500: boom") == 1);
  CHECK(s.duration_s == Approx(1.5));  // first send 0.0 to last end 1.5
  CHECK(s.total_output_tokens == 9);
  CHECK(s.total_input_tokens == 100 + 90 + 100);  // usage where reported
  CHECK(s.request_throughput == Approx(3 / 1.5));
  CHECK(s.output_throughput == Approx(9 / 1.5));
  // TTFT [100, 600, 200] ms
  CHECK(s.ttft.n == 3);
  CHECK(s.ttft.mean_ms == Approx(300));
  CHECK(s.ttft.median_ms == Approx(200));
  CHECK(s.ttft.p90_ms == Approx(520));  // 200 + 0.8 * 400
  CHECK(s.ttft.p99_ms == Approx(592));  // 200 + 0.98 * 400
  // TPOT [33.33, 100] ms (B has one token and is left out, as in vLLM)
  CHECK(s.tpot.n == 2);
  CHECK(s.tpot.mean_ms == Approx(200.0 / 3));
  CHECK(s.tpot.median_ms == Approx(200.0 / 3));
  CHECK(s.tpot.p90_ms == Approx(100.0 / 3 + 0.9 * 200.0 / 3));
  CHECK(s.tpot.p99_ms == Approx(100.0 / 3 + 0.99 * 200.0 / 3));
  // ITL [20, 30, 50, 300] ms
  CHECK(s.itl.n == 4);
  CHECK(s.itl.mean_ms == Approx(100));
  CHECK(s.itl.median_ms == Approx(40));
  CHECK(s.itl.p90_ms == Approx(225));
  CHECK(s.itl.p99_ms == Approx(292.5));
  // E2EL [200, 600, 500] ms
  CHECK(s.e2el.mean_ms == Approx(1300.0 / 3));
  CHECK(s.e2el.median_ms == Approx(500));
  // Attainment over all 4 (D misses everything): TTFT A,C; TPOT A,B; joint A.
  CHECK(s.ttft_attainment == Approx(0.5));
  CHECK(s.tpot_attainment == Approx(0.5));
  CHECK(s.joint_attainment == Approx(0.25));
  CHECK(s.goodput_rps == Approx(1 / 1.5));
  // Tokens by second: [0,1): A's 4; [1,2): B 1 + C 3 + 1 = 5.
  CHECK(s.peak_output_tok_s == 5);
  // At 1.05: B, C and D in flight.
  CHECK(s.peak_concurrency == 3);
  CHECK(s.n_usage_prompt == 2);
  CHECK(s.n_prompt_mismatch == 1);
  CHECK(s.prompt_len_error == Approx(0.05));  // (0 + 10/100) / 2
  CHECK(s.front.n == 0);
}

TEST_CASE("goodput keeps vLLM's semantics: only the given bounds count") {
  const auto v = timeline();
  goodput_slo gp;
  gp.ttft_ms = 700;  // A, B (600 ms), C are good; TPOT is not a criterion
  CHECK(summarize_bench(v, gp).goodput_rps == Approx(3 / 1.5));
  goodput_slo none;
  CHECK(summarize_bench(v, none).goodput_rps == -1);
  goodput_slo e2e;
  e2e.e2el_ms = 550;  // A (200) and C (500)
  CHECK(summarize_bench(v, e2e).goodput_rps == Approx(2 / 1.5));
}

TEST_CASE("the server's own accounting is summarised beside the client's") {
  auto v = timeline();
  v[0].server_ttft_met = 1, v[0].server_tpot_met = 1, v[0].server_slo_met = 1;
  v[1].server_ttft_met = 0, v[1].server_tpot_met = 1, v[1].server_slo_met = 0;
  v[2].server_ttft_met = 1, v[2].server_tpot_met = 1, v[2].server_slo_met = 1;
  const auto s = summarize_bench(v, {});
  CHECK(s.n_server_reported == 3);
  CHECK(s.server_ttft_attainment == Approx(0.5));  // D unreported: a miss
  CHECK(s.server_tpot_attainment == Approx(0.75));
  CHECK(s.server_joint_attainment == Approx(0.5));
}

TEST_CASE("front latency bounds the clock offset from both sides") {
  // Server clock = client clock + 10 s. Admission 1 ms after the send; tokens
  // stamped 10.050 and 10.070 arrive 2 ms and 5 ms later.
  std::vector<request_record> v{rec(0, 0.0, 0.08, {{0.052, 1, 10.050}, {0.075, 1, 10.070}})};
  v[0].server_arrival_s = 10.001;
  auto f = front_latency(v);
  // lo = max(10.050 - 0.052, 10.070 - 0.075) = 9.998, hi = 10.001 - 0 = 10.001
  CHECK(f.uncertainty_s == Approx(0.003));
  REQUIRE(f.samples.size() == 2);
  CHECK(f.samples[0] == Approx(0.052 - 10.050 + 10.001));
  CHECK(f.samples[1] == Approx(0.075 - 10.070 + 10.001));
  REQUIRE(f.ingress.size() == 1);
  CHECK(f.ingress[0] == Approx(0.0));  // the only request sets the upper bound
  const auto s = summarize_bench(v, {});
  CHECK(s.front.n == 2);
  CHECK(s.front.max_ms == Approx(6.0));
  CHECK(s.front_offset_uncertainty_ms == Approx(3.0));
}

TEST_CASE("--goodput parsing names what is wrong") {
  goodput_slo g;
  std::string err;
  CHECK(parse_goodput({"ttft:300", "tpot:25"}, g, err));
  CHECK(g.ttft_ms == 300);
  CHECK(g.tpot_ms == 25);
  CHECK(g.e2el_ms == -1);
  CHECK_FALSE(parse_goodput({"itl:3"}, g, err));
  CHECK(err.find("unknown metric 'itl'") != std::string::npos);
  CHECK_FALSE(parse_goodput({"ttft:fast"}, g, err));
  CHECK(err.find("ttft:fast") != std::string::npos);
  CHECK_FALSE(parse_goodput({"ttft"}, g, err));
  CHECK(err.find("KEY:MS") != std::string::npos);
}

TEST_CASE("workload: sorted, rebased, rate-scaled; prompts of the exact length") {
  std::vector<sched::trace_row> rows{{10.0, 100, 5}, {12.0, 300, 9000}, {11.0, 200, 7}};
  bench_workload_options o;
  o.rate_scale = 2;
  o.max_tokens = 4096;
  auto r = make_bench_requests(rows, o);
  REQUIRE(r.size() == 3);
  CHECK(r[0].send_at_s == 0.0);
  CHECK(r[1].send_at_s == Approx(0.5));
  CHECK(r[2].send_at_s == Approx(1.0));
  CHECK(r[1].input_tokens == 200);
  CHECK(r[1].max_tokens == 7);
  CHECK(r[2].max_tokens == 4096);  // clamped to the cap
  o.limit = 2;
  CHECK(make_bench_requests(rows, o).size() == 2);

  auto a = prompt_token_ids(3, 50, 10, 20, 7);
  CHECK(a.size() == 50);
  for (int32_t t : a) CHECK((t >= 10 && t < 20));
  CHECK(a == prompt_token_ids(3, 50, 10, 20, 7));
  CHECK(a != prompt_token_ids(4, 50, 10, 20, 7));
  const std::string text = prompt_text(1, 12, 0);
  CHECK(std::count(text.begin(), text.end(), ' ') == 11);
}

TEST_CASE("/proc/PID/stat: fields counted after the command name") {
  cpu_times c;
  std::string err;
  const std::string stat = "1234 (my (odd) server) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 9 0 100 0 0";
  REQUIRE(parse_proc_stat(stat, 100, c, err));
  CHECK(c.user_s == Approx(2.5));
  CHECK(c.system_s == Approx(0.5));
  CHECK_FALSE(parse_proc_stat("1234 (x) S 1 2", 100, c, err));
  CHECK(err.find("fields") != std::string::npos);
  CHECK_FALSE(read_cpu_times(-5, c, err));
  CHECK(err.find("/proc/-5/stat") != std::string::npos);
}

TEST_CASE("goodput@90 search brackets and bisects") {
  // Attainment stays >= 90% up to a rate scale of 3.3.
  int calls = 0;
  auto probe = [&](double s) {
    ++calls;
    return s <= 3.3 ? 0.95 : 0.5;
  };
  goodput_search_options o;
  o.max_probes = 20;
  auto r = search_goodput(probe, o);
  CHECK(r.rate_scale <= 3.3);
  CHECK(r.rate_scale >= 3.3 / 1.05);
  CHECK(r.failing_scale > 3.3);
  CHECK(r.failing_scale / r.rate_scale <= 1.05 + 1e-9);
  CHECK(int(r.probes.size()) == calls);
  // Failing from the start: halves until one passes.
  auto low = search_goodput([](double s) { return s <= 0.2 ? 1.0 : 0.0; }, o);
  CHECK(low.rate_scale <= 0.2);
  CHECK(low.rate_scale > 0.19);
  // The probe budget is a hard cap.
  o.max_probes = 3;
  CHECK(search_goodput(probe, o).probes.size() == 3);
}

TEST_CASE("compare: one column per run, an error for a foreign file") {
  bench_run a, b;
  a.summary = summarize_bench(timeline(), {});
  b.summary = a.summary;
  b.summary.ttft.p99_ms = 1234.5;
  nlohmann::json da = {{"runs", {run_json(a)}}}, db = {{"runs", {run_json(b)}}};
  std::string out, err;
  REQUIRE(compare_table({"x/a.json", "b.json"}, {da, db}, out, err));
  CHECK(out.find("a.json") != std::string::npos);
  CHECK(out.find("b.json") != std::string::npos);
  CHECK(out.find("1234.50") != std::string::npos);
  CHECK(out.find("592.00") != std::string::npos);
  CHECK(out.find("front latency") == std::string::npos);  // no file has it
  CHECK_FALSE(compare_table({"c.json"}, {nlohmann::json{{"results", 1}}}, out, err));
  CHECK(err.find("c.json") != std::string::npos);
}
