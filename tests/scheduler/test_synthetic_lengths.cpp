// Named length distributions of synthetic workloads: each has the mean and
// the spread (coefficient of variation) it was asked for, and never draws a
// length below 1.
#include <doctest/doctest.h>

#include <cmath>

#include "scheduler/workload.hpp"

using namespace kairos::sched;

namespace {

struct moments {
  double mean = 0, cv = 0;
  int32_t min = 0;
};

moments input_moments(length_dist d, int32_t mean, double cv) {
  synthetic_spec sp;
  sp.n = 40000;
  sp.rate = 10;
  sp.seed = 11;
  sp.input_tokens = mean;
  sp.input_dist = d;
  sp.input_cv = cv;
  const auto rows = synthetic_rows(sp, {});
  double s = 0, s2 = 0;
  moments m;
  m.min = rows.front().input_tokens;
  for (const auto& r : rows) {
    s += r.input_tokens;
    s2 += double(r.input_tokens) * r.input_tokens;
    m.min = std::min(m.min, r.input_tokens);
    CHECK(r.output_tokens == sp.output_tokens);  // out stays fixed
  }
  m.mean = s / double(rows.size());
  m.cv = std::sqrt(s2 / double(rows.size()) - m.mean * m.mean) / m.mean;
  return m;
}

}  // namespace

TEST_CASE("fixed lengths are exactly the mean") {
  const moments m = input_moments(length_dist::fixed, 700, 0.5);
  CHECK(m.mean == 700.0);
  CHECK(m.cv == doctest::Approx(0.0).epsilon(1e-12));
}

TEST_CASE("uniform, exponential and lognormal lengths have the asked mean and spread") {
  const moments u = input_moments(length_dist::uniform, 1000, 0.3);
  CHECK(u.mean == doctest::Approx(1000).epsilon(0.02));
  CHECK(u.cv == doctest::Approx(0.3).epsilon(0.05));

  const moments e = input_moments(length_dist::exponential, 800, 0.1);  // cv is 1 whatever is asked
  CHECK(e.mean == doctest::Approx(800).epsilon(0.03));
  CHECK(e.cv == doctest::Approx(1.0).epsilon(0.05));

  const moments l = input_moments(length_dist::lognormal, 600, 1.5);
  CHECK(l.mean == doctest::Approx(600).epsilon(0.06));
  CHECK(l.cv == doctest::Approx(1.5).epsilon(0.15));  // heavy tail: the sample cv converges slowly
}

TEST_CASE("short means never draw a length below 1") {
  CHECK(input_moments(length_dist::uniform, 2, 5.0).min >= 1);
  CHECK(input_moments(length_dist::exponential, 1, 1.0).min >= 1);
  CHECK(input_moments(length_dist::lognormal, 3, 3.0).min >= 1);
}

TEST_CASE("distribution names round-trip and unknown names are refused") {
  for (auto d : {length_dist::fixed, length_dist::uniform, length_dist::exponential, length_dist::lognormal}) {
    length_dist back = length_dist::fixed;
    REQUIRE(parse_length_dist(to_string(d), back));
    CHECK(back == d);
  }
  length_dist x = length_dist::uniform;
  CHECK_FALSE(parse_length_dist("zipf", x));
  CHECK(x == length_dist::uniform);
}
