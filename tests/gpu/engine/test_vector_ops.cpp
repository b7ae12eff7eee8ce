// The engine's element-wise ops against float64 references.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "gpu/engine/vector_ops.hpp"

using namespace kairos;

TEST_CASE("exp_inplace is accurate to 2e-7 relative over the softmax range") {
  std::vector<float> x;
  for (double v = -87.0; v <= 0.0; v += 0.0137) x.push_back(static_cast<float>(v));
  x.push_back(0.0f);
  x.push_back(-1e-8f);
  auto y = x;
  ops::exp_inplace(y.data(), static_cast<int>(y.size()));
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double ref = std::exp(static_cast<double>(x[i]));
    worst = std::max(worst, std::fabs(y[i] - ref) / ref);
  }
  MESSAGE("worst relative error " << worst);
  CHECK(worst < 2e-7);
}

TEST_CASE("exp_inplace clamps below -87 instead of producing garbage") {
  float v[3] = {-1000.f, -88.f, -std::numeric_limits<float>::infinity()};
  ops::exp_inplace(v, 3);
  for (float f : v) {
    CHECK(f >= 0.f);
    CHECK(f < 2e-38f);
  }
}

TEST_CASE("rms_norm, silu_mul and rope_rotate match float64") {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 2.f);
  const int n = 131;
  std::vector<float> x(n), w(n), y(n), g(n), u(n), o(n);
  for (int i = 0; i < n; ++i) {
    x[i] = nd(rng);
    w[i] = 1.f + 0.1f * nd(rng);
    g[i] = nd(rng);
    u[i] = nd(rng);
  }
  ops::rms_norm(x.data(), w.data(), y.data(), n, 1e-5f);
  double ss = 0;
  for (float v : x) ss += static_cast<double>(v) * v;
  const double inv = 1.0 / std::sqrt(ss / n + 1e-5);
  for (int i = 0; i < n; ++i) CHECK(y[i] == doctest::Approx(x[i] * inv * w[i]).epsilon(1e-5));

  ops::silu_mul(g.data(), u.data(), o.data(), n);
  for (int i = 0; i < n; ++i) {
    const double gd = g[i];
    CHECK(o[i] == doctest::Approx(gd / (1 + std::exp(-gd)) * u[i]).epsilon(1e-5));
  }

  // RoPE: rotate_half pairs (i, i + d/2).
  const int d = 8;
  float v[d] = {1, 2, 3, 4, 5, 6, 7, 8};
  float c[d / 2], s[d / 2];
  for (int i = 0; i < d / 2; ++i) {
    c[i] = static_cast<float>(std::cos(0.3 * (i + 1)));
    s[i] = static_cast<float>(std::sin(0.3 * (i + 1)));
  }
  float r[d];
  std::copy(v, v + d, r);
  ops::rope_rotate(r, c, s, d);
  for (int i = 0; i < d / 2; ++i) {
    CHECK(r[i] == doctest::Approx(v[i] * c[i] - v[i + d / 2] * s[i]));
    CHECK(r[i + d / 2] == doctest::Approx(v[i + d / 2] * c[i] + v[i] * s[i]));
  }
}

TEST_CASE("block_scores and block_weighted_sum against a direct computation") {
  const int D = 64, B = 16, n_valid = 11;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> q(D), kt(D * B), v(B * D), sc(B), out(D, 0.5f);
  for (auto& f : q) f = nd(rng);
  for (auto& f : kt) f = nd(rng);
  for (auto& f : v) f = nd(rng);
  ops::block_scores(q.data(), kt.data(), sc.data(), D, B, n_valid, 0.125f);
  for (int j = 0; j < n_valid; ++j) {
    double ref = 0;
    for (int dd = 0; dd < D; ++dd) ref += static_cast<double>(q[dd]) * kt[dd * B + j];
    CHECK(sc[j] == doctest::Approx(0.125 * ref).epsilon(1e-5));
  }
  ops::block_weighted_sum(sc.data(), v.data(), out.data(), D, n_valid);
  for (int dd = 0; dd < D; ++dd) {
    double ref = 0.5;
    for (int j = 0; j < n_valid; ++j) ref += static_cast<double>(sc[j]) * v[j * D + dd];
    CHECK(out[dd] == doctest::Approx(ref).epsilon(1e-4));
  }
}
