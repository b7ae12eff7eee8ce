// gemm: float64 reference over many shapes on every ISA path, and the
// determinism contract (a row's result does not depend on m, the thread count
// or the AVX path).
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gpu/base/bf16.hpp"
#include "gpu/kernels/gemm.hpp"

using namespace kairos::kernels;

namespace {

std::vector<float> random_vec(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& e : v) e = d(rng);
  return v;
}

std::vector<gemm_path> paths() {
  std::vector<gemm_path> out;
  for (gemm_path p : {gemm_path::avx512, gemm_path::avx2, gemm_path::scalar})
    if (gemm_path_supported(p)) out.push_back(p);
  return out;
}

struct path_guard {  // restores automatic dispatch at scope exit
  explicit path_guard(gemm_path p) { REQUIRE(set_gemm_isa_override(p)); }
  ~path_guard() { set_gemm_isa_override(gemm_path::automatic); }
};

struct threads_guard {
  int saved = omp_get_max_threads();
  explicit threads_guard(int n) { omp_set_num_threads(n); }
  ~threads_guard() { omp_set_num_threads(saved); }
};

// sum_t x[i,t] * w[j,t] in float64.
std::vector<double> reference(const std::vector<float>& x, const std::vector<float>& w, int m, int n, int k) {
  std::vector<double> r(static_cast<std::size_t>(m) * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double acc = 0;
      const float* xr = x.data() + static_cast<std::size_t>(i) * k;
      const float* wr = w.data() + static_cast<std::size_t>(j) * k;
      for (int t = 0; t < k; ++t) acc += static_cast<double>(xr[t]) * wr[t];
      r[static_cast<std::size_t>(i) * n + j] = acc;
    }
  return r;
}

// Relative L2 error of y against ref (+ bias) (+ y0).
double rel_error(const std::vector<float>& y, const std::vector<double>& ref, const float* bias, const float* y0,
                 int m, int n) {
  double num = 0, den = 0;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      const std::size_t e = static_cast<std::size_t>(i) * n + j;
      double want = ref[e];
      if (bias) want += bias[j];
      if (y0) want += y0[e];
      const double d = y[e] - want;
      num += d * d;
      den += want * want;
    }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

constexpr float kGuard = 12345.f;

}  // namespace

TEST_CASE("gemm: dispatch and override") {
  const std::string best = gemm_isa();
  CHECK((best == "avx512" || best == "avx2" || best == "scalar"));
  CHECK(gemm_path_supported(gemm_path::scalar));
  {
    path_guard g(gemm_path::scalar);
    CHECK(std::string(gemm_isa()) == "scalar");
  }
  CHECK(std::string(gemm_isa()) == best);
  MESSAGE("gemm best path: " << best);
}

TEST_CASE("gemm: float64 reference, all shapes, every ISA path") {
  const int ms[] = {1, 2, 3, 7, 16, 17, 32, 33, 64, 129, 512};
  const int ns[] = {1, 15, 16, 17, 100, 960};
  const int ks[] = {1, 7, 64, 576, 1000};
  const auto ps = paths();
  int shape = 0;
  double worst = 0;
  int checked = 0;
  for (int k : ks)
    for (int n : ns) {
      const auto w = random_vec(static_cast<std::size_t>(n) * k, 1000 + n * 7 + k);
      const auto bias = random_vec(n, 77 + n);
      const packed_weight pw = packed_weight::pack(w.data(), n, k);
      REQUIRE(pw.n() == n);
      REQUIRE(pw.k() == k);
      for (int m : ms) {
        const auto x = random_vec(static_cast<std::size_t>(m) * k, 2000 + m * 13 + k);
        const auto ref = reference(x, w, m, n, k);
        const auto y0 = random_vec(static_cast<std::size_t>(m) * n, 3000 + m + n);
        // Every variant on small problems; one (rotating) on the big ones.
        const bool small = static_cast<long long>(m) * n * k <= 2'000'000;
        for (int variant = 0; variant < 4; ++variant) {
          if (!small && variant != shape % 4) continue;
          const bool use_bias = variant & 1, accumulate = variant & 2;
          for (gemm_path p : ps) {
            path_guard g(p);
            std::vector<float> y(static_cast<std::size_t>(m) * n + 16, kGuard);
            if (accumulate) std::copy(y0.begin(), y0.end(), y.begin());
            gemm(x.data(), m, pw, y.data(), use_bias ? bias.data() : nullptr, accumulate);
            for (int e = 0; e < 16; ++e) REQUIRE(y[static_cast<std::size_t>(m) * n + e] == kGuard);
            y.resize(static_cast<std::size_t>(m) * n);
            const double err = rel_error(y, ref, use_bias ? bias.data() : nullptr, accumulate ? y0.data() : nullptr, m, n);
            worst = std::max(worst, err);
            ++checked;
            INFO("path " << gemm_isa() << " m=" << m << " n=" << n << " k=" << k << " bias=" << use_bias
                         << " accumulate=" << accumulate);
            CHECK(err < 1e-5);
          }
        }
        ++shape;
      }
    }
  // Where x is packed for large m (k a multiple of 1024, or k > 2048).
  for (const int k : {1024, 2100})
    for (const int m : {17, 64, 129}) {
      const int n = 40;
      const auto w = random_vec(static_cast<std::size_t>(n) * k, 5 + k);
      const auto x = random_vec(static_cast<std::size_t>(m) * k, 6 + m);
      const auto bias = random_vec(n, 7);
      const packed_weight pw = packed_weight::pack(w.data(), n, k);
      const auto ref = reference(x, w, m, n, k);
      for (gemm_path p : ps) {
        path_guard g(p);
        std::vector<float> y(static_cast<std::size_t>(m) * n);
        gemm(x.data(), m, pw, y.data(), bias.data());
        const double err = rel_error(y, ref, bias.data(), nullptr, m, n);
        worst = std::max(worst, err);
        ++checked;
        INFO("path " << gemm_isa() << " m=" << m << " n=" << n << " k=" << k);
        CHECK(err < 1e-5);
      }
    }
  MESSAGE(checked << " gemm calls checked against float64, worst relative L2 error " << worst);
}

TEST_CASE("gemm: k = 0 gives bias (+ y)") {
  const int m = 3, n = 40;
  const packed_weight pw = packed_weight::pack(nullptr, n, 0);
  const auto bias = random_vec(n, 5);
  for (gemm_path p : paths()) {
    path_guard g(p);
    std::vector<float> y(static_cast<std::size_t>(m) * n, 2.f);
    gemm(nullptr, m, pw, y.data(), bias.data(), true);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) CHECK(y[static_cast<std::size_t>(i) * n + j] == 2.f + (0.f + bias[j]));
  }
}

TEST_CASE("gemm: a row's result is bitwise independent of m, of the thread split and of the AVX path") {
  const int max_threads = omp_get_max_threads() > 1 ? omp_get_max_threads() : 2;
  struct shp {
    int n, k;
  };
  // k = 1024 and 2100: x is packed for large m there (rows would share L1 sets).
  const shp shapes[] = {{960, 576}, {100, 1000}, {17, 64}, {576, 1536}, {40, 1024}, {33, 2100}};
  const int ms[] = {2, 3, 5, 7, 8, 13, 14, 15, 16, 17, 29, 32, 33, 64, 129, 512};
  for (const shp s : shapes) {
    const int n = s.n, k = s.k;
    const auto w = random_vec(static_cast<std::size_t>(n) * k, 11 + n);
    const auto bias = random_vec(n, 12 + n);
    const packed_weight pw = packed_weight::pack(w.data(), n, k);
    const int mmax = 512;
    const auto x = random_vec(static_cast<std::size_t>(mmax) * k, 13 + k);
    const auto y0 = random_vec(static_cast<std::size_t>(mmax) * n, 14 + k);
    std::vector<float> first_path;  // results of the first AVX path, to compare the others with
    for (gemm_path p : paths()) {
      path_guard g(p);
      for (int variant = 0; variant < 2; ++variant) {
        const bool with_extras = variant == 1;  // bias and accumulate
        const float* b = with_extras ? bias.data() : nullptr;
        // One row at a time, single thread: the reference for this path.
        std::vector<float> single(static_cast<std::size_t>(mmax) * n);
        {
          threads_guard t(1);
          if (with_extras) std::copy(y0.begin(), y0.end(), single.begin());
          for (int i = 0; i < mmax; ++i)
            gemm(x.data() + static_cast<std::size_t>(i) * k, 1, pw, single.data() + static_cast<std::size_t>(i) * n, b,
                 with_extras);
        }
        for (int threads : {1, 2, max_threads + 1}) {
          threads_guard t(threads);
          // Rows of a batched call starting at an odd row, so slices fall on new boundaries.
          for (int m : ms) {
            const int row0 = (m * 7) % (mmax - m + 1);
            std::vector<float> y(static_cast<std::size_t>(m) * n);
            if (with_extras)
              std::copy(y0.begin() + static_cast<std::ptrdiff_t>(row0) * n,
                        y0.begin() + static_cast<std::ptrdiff_t>(row0 + m) * n, y.begin());
            gemm(x.data() + static_cast<std::size_t>(row0) * k, m, pw, y.data(), b, with_extras);
            const bool same = std::memcmp(y.data(), single.data() + static_cast<std::size_t>(row0) * n,
                                          y.size() * sizeof(float)) == 0;
            INFO("path " << gemm_isa() << " n=" << n << " k=" << k << " m=" << m << " threads=" << threads
                         << " extras=" << with_extras);
            CHECK(same);
          }
        }
        if (with_extras && p != gemm_path::scalar) {
          if (first_path.empty()) {
            first_path = single;
          } else {
            INFO("AVX paths differ: n=" << n << " k=" << k);
            CHECK(std::memcmp(first_path.data(), single.data(), single.size() * sizeof(float)) == 0);
          }
        }
      }
    }
  }
}

TEST_CASE("gemm: a padded output row stride gives the same rows and leaves the padding alone") {
  // padded_row_stride pads only strides of a whole number of 2 KiB.
  CHECK(padded_row_stride(49152) == 49168);
  CHECK(padded_row_stride(512) == 528);
  CHECK(padded_row_stride(256) == 256);
  CHECK(padded_row_stride(32000) == 32000);
  CHECK(padded_row_stride(100) == 100);
  CHECK(padded_row_stride(0) == 0);
  const int n = 300, k = 96, ldy = 317;
  const auto w = random_vec(static_cast<std::size_t>(n) * k, 71);
  const auto bias = random_vec(n, 72);
  const packed_weight pw = packed_weight::pack(w.data(), n, k);
  for (gemm_path p : paths()) {
    path_guard g(p);
    for (int m : {1, 5, 32}) {
      const auto x = random_vec(static_cast<std::size_t>(m) * k, 73 + m);
      const auto y0 = random_vec(static_cast<std::size_t>(m) * n, 74 + m);
      for (bool acc : {false, true}) {
        std::vector<float> dense(y0), padded(static_cast<std::size_t>(m) * ldy, kGuard);
        for (int i = 0; i < m; ++i)
          std::copy_n(y0.begin() + static_cast<std::ptrdiff_t>(i) * n, n,
                      padded.begin() + static_cast<std::ptrdiff_t>(i) * ldy);
        gemm(x.data(), m, pw, dense.data(), bias.data(), acc);
        gemm(x.data(), m, pw, padded.data(), bias.data(), acc, ldy);
        INFO("path " << gemm_isa() << " m=" << m << " accumulate=" << acc);
        bool same = true, guard_kept = true;
        for (int i = 0; i < m; ++i) {
          const float* pr = padded.data() + static_cast<std::ptrdiff_t>(i) * ldy;
          same = same && std::memcmp(pr, dense.data() + static_cast<std::ptrdiff_t>(i) * n, n * sizeof(float)) == 0;
          for (int j = n; j < ldy; ++j) guard_kept = guard_kept && pr[j] == kGuard;
        }
        CHECK(same);
        CHECK(guard_kept);
      }
    }
  }
}

TEST_CASE("gemm: packing is move-only and reports its padded size") {
  const auto w = random_vec(50 * 8, 3);
  packed_weight a = packed_weight::pack(w.data(), 50, 8);
  CHECK(a.bytes() == 64u * 8u * sizeof(float));
  packed_weight b = std::move(a);
  CHECK(b.n() == 50);
  CHECK(b.data() != nullptr);
}

TEST_CASE("gemm_swiglu: silu(x gate) * (x up) against float64 on every path; rows bitwise independent of m, threads and the AVX path") {
  struct shp {
    int f, k;
  };
  // f = 1536, k = 576: SmolLM2's MLP; the others leave a partial last panel
  // (f % 16 != 0), and k = 1024 and 2100 pack x for m > 16.
  const shp shapes[] = {{1536, 576}, {40, 64}, {17, 33}, {100, 1000}, {40, 1024}, {33, 2100}};
  const int ms[] = {1, 2, 5, 11, 14, 16, 17, 32, 33, 64};
  const int max_threads = omp_get_max_threads() > 1 ? omp_get_max_threads() : 2;
  double worst = 0;
  for (const shp s : shapes) {
    const int f = s.f, k = s.k, mmax = 64;
    const auto gate = random_vec(static_cast<std::size_t>(f) * k, 21 + f);
    const auto up = random_vec(static_cast<std::size_t>(f) * k, 22 + f);
    auto x = random_vec(static_cast<std::size_t>(mmax) * k, 23 + k);
    // Row 3 scaled up: gate products far past silu's clamps (exp of +-87, 88).
    for (int t = 0; t < k; ++t) x[3 * static_cast<std::size_t>(k) + t] *= 60.f;
    const packed_weight pw = packed_weight::pack_swiglu(gate.data(), up.data(), f, k);
    REQUIRE(pw.swiglu());
    REQUIRE(pw.n() == f);
    const auto g_ref = reference(x, gate, mmax, f, k);
    const auto u_ref = reference(x, up, mmax, f, k);
    std::vector<float> first_path;
    for (gemm_path p : paths()) {
      path_guard pg(p);
      // One row at a time on one thread: what every batched call must reproduce bit for bit.
      std::vector<float> single(static_cast<std::size_t>(mmax) * f);
      {
        threads_guard t(1);
        for (int i = 0; i < mmax; ++i)
          gemm_swiglu(x.data() + static_cast<std::size_t>(i) * k, 1, pw, single.data() + static_cast<std::size_t>(i) * f);
      }
      // Relative L2 error row by row: row 3's outputs are ~3600x the others',
      // and one norm over all rows would hide the others' errors behind it.
      for (int i = 0; i < mmax; ++i) {
        double num = 0, den = 0;
        for (int j = 0; j < f; ++j) {
          const std::size_t e = static_cast<std::size_t>(i) * f + j;
          const double g = g_ref[e], r = g / (1.0 + std::exp(-g)) * u_ref[e];
          num += (single[e] - r) * (single[e] - r);
          den += r * r;
        }
        const double err = std::sqrt(num / den);
        worst = std::max(worst, err);
        INFO("path " << gemm_isa() << " f=" << f << " k=" << k << " row " << i);
        CHECK(err < 1e-5);
      }
      for (int m : ms)
        for (int nt : {1, max_threads}) {
          threads_guard t(nt);
          std::vector<float> y(static_cast<std::size_t>(m) * f + 16, -7.f);
          gemm_swiglu(x.data(), m, pw, y.data());
          for (int e = 0; e < 16; ++e) REQUIRE(y[static_cast<std::size_t>(m) * f + e] == -7.f);  // nothing past m rows
          INFO("m=" << m << " threads=" << nt);
          CHECK(std::memcmp(y.data(), single.data(), sizeof(float) * m * f) == 0);
        }
      if (p == gemm_path::scalar) continue;  // the scalar path rounds its products apart from its adds
      if (first_path.empty())
        first_path = single;
      else
        CHECK(std::memcmp(first_path.data(), single.data(), sizeof(float) * single.size()) == 0);
    }
  }
  MESSAGE("gemm_swiglu: worst relative L2 error against float64 " << worst);
}

namespace {

// v rounded to a bf16 / an f16 value, as an f32 (round to nearest even).
float round_bf16(float v) { return kairos::bf16_to_f32(kairos::f32_to_bf16(v)); }
float round_f16(float v) { return static_cast<float>(static_cast<_Float16>(v)); }

}  // namespace

TEST_CASE("gemm: bf16 and f16 panels give bitwise the results of f32 panels holding the same values") {
  // Values that are bf16 (f16) lose nothing in a 16-bit panel, and every path
  // widens them exactly before the same fma chain: so the 16-bit packing is
  // only a smaller stream, never different numbers. Ragged n, x packed
  // (k = 1024) and not, slices of 1 to 14 rows, 1 and 2 threads, bias and
  // accumulate, and the SwiGLU epilogue.
  struct shp {
    int n, k;
  };
  const shp shapes[] = {{960, 576}, {100, 1000}, {33, 1024}, {17, 64}};
  const int ms[] = {1, 3, 8, 14, 15, 32, 64};
  const int max_threads = omp_get_max_threads() > 1 ? omp_get_max_threads() : 2;
  for (weight_dtype dt : {weight_dtype::bf16, weight_dtype::f16}) {
    for (const shp s : shapes) {
      const int n = s.n, k = s.k, mmax = 64;
      auto w = random_vec(static_cast<std::size_t>(n) * k, 91 + n);
      auto w2 = random_vec(static_cast<std::size_t>(n) * k, 92 + n);
      for (auto* v : {&w, &w2})
        for (auto& e : *v) e = dt == weight_dtype::bf16 ? round_bf16(e) : round_f16(e);
      const auto bias = random_vec(n, 93 + n);
      const auto x = random_vec(static_cast<std::size_t>(mmax) * k, 94 + k);
      const auto y0 = random_vec(static_cast<std::size_t>(mmax) * n, 95 + k);
      const packed_weight p32 = packed_weight::pack(w.data(), n, k);
      const packed_weight p16 = packed_weight::pack(w.data(), n, k, dt);
      const packed_weight s32 = packed_weight::pack_swiglu(w.data(), w2.data(), n, k);
      const packed_weight s16 = packed_weight::pack_swiglu(w.data(), w2.data(), n, k, dt);
      REQUIRE(p16.dtype() == dt);
      CHECK(p16.bytes() * 2 == p32.bytes());
      CHECK(s16.bytes() * 2 == s32.bytes());
      for (gemm_path p : paths()) {
        path_guard g(p);
        for (int nt : {1, max_threads})
          for (int m : ms) {
            threads_guard t(nt);
            INFO("dtype " << static_cast<int>(dt) << " path " << gemm_isa() << " n=" << n << " k=" << k << " m=" << m
                          << " threads=" << nt);
            std::vector<float> a(y0.begin(), y0.begin() + static_cast<std::ptrdiff_t>(m) * n), b(a);
            gemm(x.data(), m, p32, a.data(), bias.data(), true);
            gemm(x.data(), m, p16, b.data(), bias.data(), true);
            CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
            gemm_swiglu(x.data(), m, s32, a.data());
            gemm_swiglu(x.data(), m, s16, b.data());
            CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
          }
      }
      // And against float64: the 16-bit panel is the product of those values.
      const auto ref = reference(x, w, mmax, n, k);
      std::vector<float> y(static_cast<std::size_t>(mmax) * n);
      gemm(x.data(), mmax, p16, y.data());
      CHECK(rel_error(y, ref, nullptr, nullptr, mmax, n) < 1e-5);
    }
  }
}

TEST_CASE("gemm: 16-bit packing rounds to nearest even") {
  // Ties: 1 + 2^-8 is half a bf16 ulp above 1 (to 1, even), 1 + 3*2^-8 half
  // an ulp below 1 + 2^-6 (to it, even); 1 + 2^-11 and 1 + 3*2^-11 the same
  // for f16. x = 1, so y[j] is w[j] as the panel holds it.
  const float w[] = {1.f + 0x1p-8f, 1.f + 0x3p-8f, 1.f + 0x1p-11f, 1.f + 0x3p-11f, -3.f};
  const float want_bf16[] = {1.f, 1.f + 0x1p-6f, 1.f, 1.f, -3.f};
  const float want_f16[] = {1.f + 0x1p-8f, 1.f + 0x3p-8f, 1.f, 1.f + 0x1p-9f, -3.f};
  const float one = 1.f;
  for (weight_dtype dt : {weight_dtype::bf16, weight_dtype::f16}) {
    const packed_weight pw = packed_weight::pack(w, 5, 1, dt);
    float y[5];
    gemm(&one, 1, pw, y);
    for (int j = 0; j < 5; ++j) CHECK(y[j] == (dt == weight_dtype::bf16 ? want_bf16[j] : want_f16[j]));
  }
}

namespace {

// n rows of k Q8_0 values as a GGUF file stores them (k/32 blocks of an f16
// scale and 32 int8), and the same dequantized as the loader does (scale * q).
struct q8_rows {
  std::vector<unsigned char> bytes;
  std::vector<const void*> rows;
  std::vector<float> values;  // [n, k]
};

q8_rows make_q8_rows(int n, int k, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> q(-128, 127);
  std::uniform_real_distribution<float> d(1e-3f, 3e-2f);
  q8_rows r;
  const int nb = k / 32;
  r.bytes.resize(static_cast<std::size_t>(n) * nb * 34);
  r.values.resize(static_cast<std::size_t>(n) * k);
  for (int j = 0; j < n; ++j)
    for (int b = 0; b < nb; ++b) {
      unsigned char* blk = r.bytes.data() + (static_cast<std::size_t>(j) * nb + b) * 34;
      _Float16 h = static_cast<_Float16>(b % 7 == 3 ? -d(rng) : d(rng));  // some negative scales too
      // And the edges of f16: the smallest and largest subnormal scales, -0 and +0.
      const std::uint16_t edge[] = {0x0001, 0x03ff, 0x8000, 0x0000};
      if (j % 5 == 1) std::memcpy(&h, &edge[b % 4], 2);
      std::memcpy(blk, &h, 2);
      for (int i = 0; i < 32; ++i) {
        const auto v = static_cast<std::int8_t>(q(rng));
        std::memcpy(blk + 2 + i, &v, 1);
        r.values[static_cast<std::size_t>(j) * k + b * 32 + i] = static_cast<float>(h) * static_cast<float>(v);
      }
    }
  for (int j = 0; j < n; ++j) r.rows.push_back(r.bytes.data() + static_cast<std::size_t>(j) * nb * 34);
  return r;
}

}  // namespace

TEST_CASE("gemm: Q8_0 panels give bitwise the results of the dequantized matrix packed as f32") {
  struct shp {
    int n, k;
  };
  const shp shapes[] = {{960, 576}, {100, 1024}, {33, 64}, {17, 96}};
  const int ms[] = {1, 3, 8, 14, 15, 32, 64};
  const int max_threads = omp_get_max_threads() > 1 ? omp_get_max_threads() : 2;
  for (const shp s : shapes) {
    const int n = s.n, k = s.k, mmax = 64;
    const auto w = make_q8_rows(n, k, 101 + n), w2 = make_q8_rows(n, k, 102 + n);
    const auto bias = random_vec(n, 103 + n);
    const auto x = random_vec(static_cast<std::size_t>(mmax) * k, 104 + k);
    const auto y0 = random_vec(static_cast<std::size_t>(mmax) * n, 105 + k);
    const packed_weight p32 = packed_weight::pack(w.values.data(), n, k);
    const packed_weight pq = packed_weight::pack_q8_0(w.rows.data(), n, k);
    const packed_weight s32 = packed_weight::pack_swiglu(w.values.data(), w2.values.data(), n, k);
    const packed_weight sq = packed_weight::pack_swiglu_q8_0(w.rows.data(), w2.rows.data(), n, k);
    REQUIRE(pq.dtype() == weight_dtype::q8_0);
    REQUIRE(sq.swiglu());
    // 32 scales of 4 bytes and 32x32 int8 per 32 steps of a panel.
    CHECK(pq.bytes() == static_cast<std::size_t>((n + 31) / 32) * (k / 32) * (128 + 1024));
    for (gemm_path p : paths()) {
      path_guard g(p);
      for (int nt : {1, max_threads})
        for (int m : ms) {
          threads_guard t(nt);
          INFO("path " << gemm_isa() << " n=" << n << " k=" << k << " m=" << m << " threads=" << nt);
          std::vector<float> a(y0.begin(), y0.begin() + static_cast<std::ptrdiff_t>(m) * n), b(a);
          gemm(x.data(), m, p32, a.data(), bias.data(), true);
          gemm(x.data(), m, pq, b.data(), bias.data(), true);
          CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
          gemm_swiglu(x.data(), m, s32, a.data());
          gemm_swiglu(x.data(), m, sq, b.data());
          CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
        }
    }
    const auto ref = reference(x, w.values, mmax, n, k);
    std::vector<float> y(static_cast<std::size_t>(mmax) * n);
    gemm(x.data(), mmax, pq, y.data());
    CHECK(rel_error(y, ref, nullptr, nullptr, mmax, n) < 1e-5);
  }
  // k not a multiple of 32, or no rows: nothing packed.
  const auto w = make_q8_rows(4, 64, 7);
  CHECK(packed_weight::pack_q8_0(w.rows.data(), 4, 48).data() == nullptr);
  CHECK(packed_weight::pack_q8_0(nullptr, 4, 64).data() == nullptr);
  CHECK(packed_weight::pack(w.values.data(), 4, 64, weight_dtype::q8_0).data() == nullptr);
}
