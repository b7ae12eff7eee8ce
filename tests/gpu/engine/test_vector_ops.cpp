// The engine's element-wise ops against float64 references.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
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

TEST_CASE("rms_norm and rope_rotate match float64") {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 2.f);
  const int n = 131;
  std::vector<float> x(n), w(n), y(n);
  for (int i = 0; i < n; ++i) {
    x[i] = nd(rng);
    w[i] = 1.f + 0.1f * nd(rng);
  }
  ops::rms_norm(x.data(), w.data(), y.data(), n, 1e-5f);
  double ss = 0;
  for (float v : x) ss += static_cast<double>(v) * v;
  const double inv = 1.0 / std::sqrt(ss / n + 1e-5);
  for (int i = 0; i < n; ++i) CHECK(y[i] == doctest::Approx(x[i] * inv * w[i]).epsilon(1e-5));

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

TEST_CASE("f32_to_f16 and f16_to_f32 round to nearest even, like the compiler's _Float16") {
  std::vector<float> x = {0.f, -0.f, 1.f, -1.f, 65504.f, 65519.f, 65520.f, 1e9f, -1e9f, 6.1035156e-5f,
                          5.9604645e-8f, 2.9802322e-8f, 2.98024e-8f, 1e-10f, std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(), 1.0009765625f, 1.00048828125f, 1.00146484375f};
  std::mt19937 rng(11);
  std::uniform_int_distribution<std::uint32_t> bits;
  for (int i = 0; i < 20000; ++i) {  // random bit patterns: every exponent, NaNs included
    const std::uint32_t b = bits(rng);
    float f;
    std::memcpy(&f, &b, 4);
    x.push_back(f);
  }
  const int n = static_cast<int>(x.size());
  std::vector<std::uint16_t> h(x.size());
  std::vector<float> back(x.size());
  ops::f32_to_f16(x.data(), h.data(), n);
  ops::f16_to_f32(h.data(), back.data(), n);
  int mismatches = 0;
  for (int i = 0; i < n; ++i) {
    const _Float16 ref = static_cast<_Float16>(x[i]);  // IEEE conversion by the compiler
    std::uint16_t rb;
    std::memcpy(&rb, &ref, 2);
    if (std::isnan(x[i])) {
      CHECK(std::isnan(back[i]));
      continue;
    }
    if (h[i] != rb) ++mismatches;
    CHECK(back[i] == static_cast<float>(ref));
  }
  CHECK(mismatches == 0);
  // Round trip of every finite half value is exact.
  std::vector<std::uint16_t> all(65536);
  for (int i = 0; i < 65536; ++i) all[i] = static_cast<std::uint16_t>(i);
  std::vector<float> wide(65536);
  std::vector<std::uint16_t> again(65536);
  ops::f16_to_f32(all.data(), wide.data(), 65536);
  ops::f32_to_f16(wide.data(), again.data(), 65536);
  int lost = 0;
  for (int i = 0; i < 65536; ++i)
    if (!std::isnan(wide[i]) && again[i] != all[i]) ++lost;
  CHECK(lost == 0);
}

// n_blk K and V blocks of one KV head ([D, bs] and [bs, D]) in scattered,
// distinct slots of a pool, as F16 and as the same values widened to F32.
struct scattered_kv {
  std::vector<std::uint16_t> k16, v16;
  std::vector<float> kf, vf;
  std::vector<const std::uint16_t*> kp16, vp16;
  std::vector<const float*> kpf, vpf;

  scattered_kv(int n_blk, int D, int bs, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.f, 1.f);
    const std::size_t n = static_cast<std::size_t>(n_blk + 3) * D * bs;
    k16.resize(n);
    v16.resize(n);
    kf.resize(n);
    vf.resize(n);
    for (auto& f : kf) f = nd(rng);
    for (auto& f : vf) f = nd(rng);
    ops::f32_to_f16(kf.data(), k16.data(), static_cast<int>(n));
    ops::f32_to_f16(vf.data(), v16.data(), static_cast<int>(n));
    ops::f16_to_f32(k16.data(), kf.data(), static_cast<int>(n));
    ops::f16_to_f32(v16.data(), vf.data(), static_cast<int>(n));
    std::vector<int> slot(n_blk + 3);
    for (int b = 0; b < n_blk + 3; ++b) slot[b] = b;
    std::shuffle(slot.begin(), slot.end(), rng);
    for (int b = 0; b < n_blk; ++b) {
      const std::size_t off = static_cast<std::size_t>(slot[b]) * D * bs;
      kp16.push_back(k16.data() + off);
      vp16.push_back(v16.data() + off);
      kpf.push_back(kf.data() + off);
      vpf.push_back(vf.data() + off);
    }
  }
};

// Relative L2 error of out ([G, D]) against softmax(scale q·k) v in float64,
// over kv's F32 blocks (K [D, bs], V [bs, D]).
static double attention_error_vs_float64(const std::vector<float>& q, const std::vector<float>& out, const scattered_kv& kv,
                                         int G, int D, int bs, int n_ctx, float scale) {
  double err = 0, norm = 0;
  for (int h = 0; h < G; ++h) {
    std::vector<double> w(n_ctx);
    double mx = -1e300;
    for (int j = 0; j < n_ctx; ++j) {
      double dot = 0;
      for (int d = 0; d < D; ++d) dot += double(q[h * D + d]) * kv.kpf[j / bs][d * bs + j % bs];
      w[j] = dot * scale;
      mx = std::max(mx, w[j]);
    }
    double sum = 0;
    for (auto& x : w) sum += (x = std::exp(x - mx));
    for (int d = 0; d < D; ++d) {
      double ref = 0;
      for (int j = 0; j < n_ctx; ++j) ref += w[j] / sum * kv.vpf[j / bs][(j % bs) * D + d];
      err += (out[h * D + d] - ref) * (out[h * D + d] - ref);
      norm += ref * ref;
    }
  }
  return std::sqrt(err / norm);
}

TEST_CASE("paged attention matches float64, and over F16 K/V equals the F32 kernels fed the widened values") {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (int D : {32, 64, 128}) {
    for (int bs : {16, 4}) {  // 16: the AVX-512 kernels; 4: the generic path
      for (int G : {1, 2, 3, 4, 5}) {
        for (int n_ctx : {1, 15, 16, 17, 70, 161}) {  // ending inside, on and just past a block
          CAPTURE(D);
          CAPTURE(bs);
          CAPTURE(G);
          CAPTURE(n_ctx);
          const int n_blk = (n_ctx + bs - 1) / bs;
          const scattered_kv kv(n_blk, D, bs, rng);
          std::vector<float> q(static_cast<std::size_t>(G) * D);
          for (auto& f : q) f = 2.f * nd(rng);  // wide scores: a softmax far from uniform
          std::vector<float> sc(static_cast<std::size_t>(G) * (n_blk * bs + 64));
          std::vector<float> o16(q.size()), o32(q.size());
          const float scale = 1.0f / std::sqrt(static_cast<float>(D));
          ops::attend_paged_group(q.data(), G, kv.kp16.data(), kv.vp16.data(), n_ctx, D, bs, scale, sc.data(), o16.data());
          ops::attend_paged_group(q.data(), G, kv.kpf.data(), kv.vpf.data(), n_ctx, D, bs, scale, sc.data(), o32.data());
          double worst = 0;
          for (std::size_t i = 0; i < q.size(); ++i) worst = std::max(worst, std::fabs(double(o16[i]) - o32[i]));
          // The same kernels on the same values: the same arithmetic.
          CHECK(worst == 0.0);
          CHECK(attention_error_vs_float64(q, o32, kv, G, D, bs, n_ctx, scale) < 2e-6);
        }
      }
    }
  }
}

TEST_CASE("attention over a prefill chunk's tokens equals each token's own call, bit for bit") {
  // Tiles share K/V loads among tokens; a row's result must not depend on
  // its tile, or prefill would differ with the chunking and the batch.
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.f, 1.f);
  MESSAGE("AVX-512 tiles " << (__builtin_cpu_supports("avx512f") ? "tested" : "not available: generic path only"));
  for (int D : {32, 64, 128})
    for (int bs : {16, 4})
      for (int G : {1, 2, 3, 4, 5})
        for (int n_tok : {1, 2, 3, 4, 5, 9})
          for (int n_ctx0 : {1, 14, 16, 30}) {
            CAPTURE(D);
            CAPTURE(bs);
            CAPTURE(G);
            CAPTURE(n_tok);
            CAPTURE(n_ctx0);
            const int last = n_ctx0 + n_tok - 1, n_blk = (last + bs - 1) / bs;
            const scattered_kv kv(n_blk, D, bs, rng);
            // Token rows with room around them, as in the engine's qkv buffer.
            const std::size_t q_stride = static_cast<std::size_t>(G) * D + 40, out_stride = static_cast<std::size_t>(G) * D + 8;
            std::vector<float> q(n_tok * q_stride);
            for (auto& f : q) f = nd(rng);
            // Exactly the documented scratch, so that an overrun shows under a sanitizer.
            std::vector<float> sc(static_cast<std::size_t>(std::min(n_tok, ops::max_tile_tokens)) * G * (n_blk * bs));
            const float scale = 1.0f / std::sqrt(static_cast<float>(D));
            for (int dt = 0; dt < 2; ++dt) {
              std::vector<float> tiled(n_tok * out_stride, -5.f), alone(n_tok * out_stride, -5.f);
              if (dt == 0)
                ops::attend_paged_tokens(q.data(), q_stride, G, n_tok, kv.kp16.data(), kv.vp16.data(), n_ctx0, D, bs, scale,
                                         sc.data(), tiled.data(), out_stride);
              else
                ops::attend_paged_tokens(q.data(), q_stride, G, n_tok, kv.kpf.data(), kv.vpf.data(), n_ctx0, D, bs, scale,
                                         sc.data(), tiled.data(), out_stride);
              for (int t = 0; t < n_tok; ++t) {
                if (dt == 0)
                  ops::attend_paged_group(q.data() + t * q_stride, G, kv.kp16.data(), kv.vp16.data(), n_ctx0 + t, D, bs, scale,
                                          sc.data(), alone.data() + t * out_stride);
                else
                  ops::attend_paged_group(q.data() + t * q_stride, G, kv.kpf.data(), kv.vpf.data(), n_ctx0 + t, D, bs, scale,
                                          sc.data(), alone.data() + t * out_stride);
              }
              CAPTURE(dt);
              CHECK(std::memcmp(tiled.data(), alone.data(), sizeof(float) * tiled.size()) == 0);
              // Untouched between rows.
              for (int t = 0; t < n_tok; ++t) CHECK(tiled[t * out_stride + G * D] == -5.f);
            }
          }
}
