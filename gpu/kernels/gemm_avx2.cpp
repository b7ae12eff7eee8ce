// AVX2+FMA micro-kernels: MR rows x (NV*8 columns), walking the 32 columns of
// one packed panel in chunks; one in-order fma chain per output element, so
// the results equal the AVX-512 path bit for bit.
#include <immintrin.h>

#include <array>
#include <cstdint>
#include <utility>

#include "gpu/kernels/gemm_internal.hpp"

#define KAIROS_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace kairos::kernels::detail {
namespace {

constexpr int kMrMax = 6;

// Columns col..col+7 of step t of a panel, widened exactly to f32.
KAIROS_AVX2 inline __attribute__((always_inline)) __m256 load8(float*, const char* panel, int t, int col) {
  return _mm256_load_ps(panel_step<float>(panel, t) + col);
}
KAIROS_AVX2 inline __attribute__((always_inline)) __m256 load8(bf16_t*, const char* panel, int t, int col) {
  const __m128i raw = _mm_load_si128(reinterpret_cast<const __m128i*>(panel_step<bf16_t>(panel, t) + col));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
}
KAIROS_AVX2 inline __attribute__((always_inline)) __m256 load8(f16_t*, const char* panel, int t, int col) {
  return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(panel_step<f16_t>(panel, t) + col)));
}
KAIROS_AVX2 inline __attribute__((always_inline)) __m256 load8(q8_t*, const char* panel, int t, int col) {
  const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q8_step(panel, t) + col));
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_load_ps(q8_scales(panel, t) + col));
}

template <int MR, int NV, bool PACKED, class WT>
KAIROS_AVX2 void ukr(const ukr_args& g) {
  constexpr int W = NV * 8;
  const float* a = g.a;
  const std::ptrdiff_t lda = g.lda;
  const int k = g.k;
  // SwiGLU: the panel's 32 products (gate, then up) go to a tile first.
  alignas(32) float tile[MR][32];
  float* const y = g.swiglu ? &tile[0][0] : g.y;
  const std::ptrdiff_t ldy = g.swiglu ? 32 : g.ldy;
  const int ncols = g.swiglu ? 32 : g.ncols;
  for (int c0 = 0; c0 < 32 && c0 < ncols; c0 += W) {
    __m256 c[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) c[i][j] = _mm256_setzero_ps();
    const char* panel = static_cast<const char*>(g.b);
    for (int t = 0; t < k; ++t) {
      __m256 bv[NV];
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) bv[j] = load8(static_cast<WT*>(nullptr), panel, t, c0 + j * 8);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const float s = PACKED ? a[static_cast<std::ptrdiff_t>(t) * MR + i] : a[i * lda + t];
        const __m256 av = _mm256_set1_ps(s);
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) c[i][j] = _mm256_fmadd_ps(av, bv[j], c[i][j]);
      }
    }
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      const int col = c0 + j * 8;
      const int nv = ncols - col;
      if (nv <= 0) break;
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        float* yp = y + i * ldy + col;
        if (nv >= 8) {
          __m256 r = c[i][j];
          if (g.bias) r = _mm256_add_ps(r, _mm256_loadu_ps(g.bias + col));
          if (g.accumulate) r = _mm256_add_ps(_mm256_loadu_ps(yp), r);
          _mm256_storeu_ps(yp, r);  // the tile, for SwiGLU (no bias, no accumulate)
        } else {  // ragged edge: the same IEEE additions, lane by lane
          alignas(32) float tmp[8];
          _mm256_store_ps(tmp, c[i][j]);
          for (int l = 0; l < nv; ++l) {
            float r = tmp[l];
            if (g.bias) r = r + g.bias[col + l];
            yp[l] = g.accumulate ? yp[l] + r : r;
          }
        }
      }
    }
  }
  if (g.swiglu)
    for (int i = 0; i < MR; ++i)
      for (int c = 0; c < 16 && c < g.ncols; ++c) g.y[i * g.ldy + c] = swiglu_exact(tile[i][c], tile[i][16 + c]);
}

template <int MR, bool PACKED, class WT>
constexpr ukr_fn pick() {
  if constexpr (MR <= 2)
    return &ukr<MR, 4, PACKED, WT>;  // 4*MR accumulators + 4 panel vectors
  else
    return &ukr<MR, 2, PACKED, WT>;  // 6x16: 12 accumulators + 2 panel vectors + 1 broadcast
}

template <bool PACKED, class WT, int... I>
constexpr std::array<ukr_fn, kMrMax> table(std::integer_sequence<int, I...>) {
  return {{pick<I + 1, PACKED, WT>()...}};
}

struct rows {
  template <bool PACKED, class WT>
  static constexpr std::array<ukr_fn, kMrMax> get() {
    return table<PACKED, WT>(std::make_integer_sequence<int, kMrMax>{});
  }
};
using lookup = one_panel_lookup<rows>;

}  // namespace

const isa_kernels& avx2_kernels() {
  static const isa_kernels k{"avx2", kMrMax, &lookup::np_for, &lookup::get};
  return k;
}

}  // namespace kairos::kernels::detail
