// The dashboard's time series: rates over each interval from cumulative
// counters (busy fractions per device and group among them), gauges as they
// are, a bounded window. Fabricated stats, no server.
#include <doctest/doctest.h>

#include "http/stats_series.hpp"

using namespace kairos;
using namespace kairos::http;

namespace {

runtime_stats base_stats() {
  runtime_stats st;
  st.devices.push_back({"cpu:0", "prefill", true, 100, 100, 0, 0.0, "f32"});
  st.devices.push_back({"cpu:1", "decode", true, 100, 100, 0, 0.0, "f32"});
  st.groups = {{"prefill", 0, 0}, {"decode", 0, 0}};
  return st;
}

}  // namespace

TEST_CASE("the first sample is the baseline; the next ones are rates over their interval") {
  stats_series s(10);
  runtime_stats st = base_stats();
  slo_totals slo;
  s.sample(1.0, st, slo);
  CHECK(s.size() == 0);

  // Over [1, 2]: 4 requests ended (3 met TTFT, 2 met TPOT), 2 prefill batches
  // took 6 requests, 10 decode steps ran 35 sequences, decode busy 0.5 s.
  st.submitted = 8;
  st.queued = 2;
  st.prefill_batches = 2;
  st.decode_steps = 10;
  st.decode_batch_sum = 35;
  st.decode_busy_s = 0.5;
  st.devices[1].busy_s = 0.5;   // the decode device ran steps for half the interval
  st.devices[0].busy_s = 0.25;  // the prefill device ran batches for a quarter
  st.decode_tokens = 40;
  st.devices[1].kv_free_blocks = 75;
  st.devices[0].batches = 2;
  st.groups = {{"prefill", 2, 1}, {"decode", 1, 3}};
  slo.ttft_met = 3;
  slo.ttft_missed = 1;
  slo.tpot_met = 2;
  slo.tpot_missed = 2;
  slo.finished = 4;
  s.sample(2.0, st, slo);
  REQUIRE(s.size() == 1);
  nlohmann::json j = s.to_json(st, slo);
  const auto& x = j["series"];
  CHECK(x["t"][0] == 2.0);
  CHECK(x["ttft_attainment"][0].get<double>() == doctest::Approx(0.75));
  CHECK(x["tpot_attainment"][0].get<double>() == doctest::Approx(0.5));
  CHECK(x["prefill_batch"][0].get<double>() == doctest::Approx(3.0));
  CHECK(x["decode_batch"][0].get<double>() == doctest::Approx(3.5));
  CHECK(x["decode_busy"][0].get<double>() == doctest::Approx(0.5));
  CHECK(x["prefill_busy"][0].get<double>() == doctest::Approx(0.25));
  CHECK(x["busy"]["cpu:0"][0].get<double>() == doctest::Approx(0.25));
  CHECK(x["busy"]["cpu:1"][0].get<double>() == doctest::Approx(0.5));
  CHECK(j["devices"][0]["busy_s"].get<double>() == doctest::Approx(0.25));
  CHECK(x["tokens_per_s"][0].get<double>() == doctest::Approx(40));
  CHECK(x["prefill_waiting"][0] == 2);
  CHECK(x["prefill_running"][0] == 1);
  CHECK(x["decode_waiting"][0] == 1);
  CHECK(x["decode_running"][0] == 3);
  CHECK(x["kv_usage"]["cpu:1"][0].get<double>() == doctest::Approx(0.25));
  CHECK(x["kv_usage"]["cpu:0"][0].get<double>() == doctest::Approx(0));
  CHECK(x["batches_per_s"]["cpu:0"][0].get<double>() == doctest::Approx(2));
  CHECK(j["totals"]["ttft_attainment"].get<double>() == doctest::Approx(0.75));
  CHECK(j["totals"]["finished"] == 4);
  CHECK(j["devices"][1]["kv_used"].get<double>() == doctest::Approx(0.25));

  // Over [2, 4]: nothing ended, nothing ran: attainment and batch sizes are null, not 0 or 100 %.
  st.groups = {{"prefill", 0, 0}, {"decode", 0, 0}};
  s.sample(4.0, st, slo);
  j = s.to_json(st, slo);
  CHECK(j["series"]["ttft_attainment"][1].is_null());
  CHECK(j["series"]["prefill_batch"][1].is_null());
  CHECK(j["series"]["decode_batch"][1].is_null());
  CHECK(j["series"]["decode_busy"][1].get<double>() == 0);
  CHECK(j["series"]["prefill_busy"][1].get<double>() == 0);
  CHECK(j["series"]["tokens_per_s"][1].get<double>() == 0);
  CHECK(j["window_s"].get<double>() == doctest::Approx(2.0));
}

TEST_CASE("the window keeps the newest points; a clock that does not advance only resets the baseline") {
  stats_series s(3);
  runtime_stats st = base_stats();
  slo_totals slo;
  for (int i = 0; i <= 10; ++i) {
    st.decode_tokens = 10 * i;
    s.sample(double(i), st, slo);
  }
  CHECK(s.size() == 3);
  auto j = s.to_json(st, slo);
  CHECK(j["series"]["t"] == nlohmann::json({8.0, 9.0, 10.0}));
  s.sample(10.0, st, slo);  // same time: no point, no division by zero
  CHECK(s.size() == 3);
  CHECK(j["series"]["tokens_per_s"][2].get<double>() == doctest::Approx(10));
}
