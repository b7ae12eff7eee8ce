// Each metric against its hand-computed value on a small known schedule.
#include <doctest/doctest.h>

#include "scheduler/metrics.hpp"

using namespace kairos::sched;

namespace {
request_outcome o(time_s arrival, time_s first, time_s last, int32_t n, bool finished = true) {
  request_outcome r;
  r.arrival_s = arrival;
  r.first_token_s = first;
  r.last_token_s = last;
  r.output_tokens = n;
  r.finished = finished;
  r.slo = {0.5, 0.05};
  return r;
}
}  // namespace

// SLO 500 ms / 50 ms.
//   #  arrival first  last   n   TTFT   TPOT               meets
//   0  0.0     0.2    1.1    10  200ms  (1.1-.2)/9 = 100ms  ttft
//   1  1.0     1.3    1.7    9   300ms  .4/8 = 50ms         both
//   2  2.0     2.9    3.0    3   900ms  .1/2 = 50ms         tpot
//   3  3.0     3.1    3.1    1   100ms  0 (one token)       both
//   4  4.0     -      -      -   never finishes             none
TEST_CASE("attainment, goodput, percentiles and decode counters") {
  std::vector<request_outcome> v{o(0, 0.2, 1.1, 10), o(1, 1.3, 1.7, 9), o(2, 2.9, 3.0, 3), o(3, 3.1, 3.1, 1),
                                 o(4, -1, -1, 0, false)};
  decode_counters dc;
  dc.tokens = 9 + 8 + 2;
  dc.busy_s = 1.9;
  dc.steps = 10;
  dc.batch_sum = 19;
  const auto m = summarize(v, dc);
  CHECK(m.n_requests == 5);
  CHECK(m.n_finished == 4);
  CHECK(m.ttft_attainment == doctest::Approx(3.0 / 5));
  CHECK(m.tpot_attainment == doctest::Approx(3.0 / 5));
  CHECK(m.e2e_attainment == doctest::Approx(2.0 / 5));
  CHECK(m.duration_s == doctest::Approx(3.1));  // first arrival 0 to last token 3.1
  CHECK(m.goodput_rps == doctest::Approx(2.0 / 3.1));
  CHECK(m.decode_throughput_tok_s == doctest::Approx(19 / 1.9));
  CHECK(m.mean_decode_batch == doctest::Approx(1.9));
  // TTFTs 100, 200, 300, 900: p50 = 250, p90 = 300 + 0.7*600 = 720
  CHECK(m.ttft_p50_ms == doctest::Approx(250));
  CHECK(m.ttft_p90_ms == doctest::Approx(720));
  // TPOTs 0, 50, 50, 100: p50 = 50, p99 = 50 + 0.97*50
  CHECK(m.tpot_p50_ms == doctest::Approx(50));
  CHECK(m.tpot_p99_ms == doctest::Approx(98.5));
  // E2E 100, 700, 1000, 1100
  CHECK(m.e2e_p50_ms == doctest::Approx(850));
}

TEST_CASE("per-class summaries filter by class") {
  std::vector<request_outcome> v{o(0, 0.2, 1.1, 10), o(1, 1.3, 1.7, 9)};
  v[1].cls = request_class::interactive;
  const auto m = summarize(v, {}, request_class::interactive);
  CHECK(m.n_requests == 1);
  CHECK(m.e2e_attainment == doctest::Approx(1.0));
}

TEST_CASE("percentile interpolates between closest ranks") {
  std::vector<double> x{4, 1, 3, 2};
  CHECK(percentile(x, 0.0) == 1);
  CHECK(percentile(x, 1.0) == 4);
  CHECK(percentile(x, 0.5) == doctest::Approx(2.5));
  std::vector<double> empty;
  CHECK(percentile(empty, 0.5) == 0);
}
