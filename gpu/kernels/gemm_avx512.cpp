// AVX-512 micro-kernels: MR rows x (NP panels of 32 columns), accumulators in
// zmm registers (2*MR*NP <= 28), one in-order fma chain per output element.
// Panels of f32, bf16, f16 or Q8_0 elements, widened exactly to f32 as they load.
#include <immintrin.h>

#include <array>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "gpu/kernels/exp_avx512.hpp"
#include "gpu/kernels/gemm_internal.hpp"

#define KAIROS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))

namespace kairos::kernels::detail {
namespace {

constexpr int kMrMax = 14;
constexpr int kNpMax = 4;
constexpr int kAccMax = 28;  // zmm accumulators; 2 more hold the panel row, 2 spare

// How far ahead a one-slice (decode) k loop prefetches its streamed panels,
// in bytes over all the group's panels: kPrefetchBytes / NP bytes (in whole
// k steps) ahead in each panel: 16 steps of f32 for a group of 4, 64 for one;
// twice the steps for 16-bit panels, and for Q8_0 (36 bytes a step) about
// 3.5 times. A fixed number of steps (32) put 16 KB in flight
// for 4 panels (m = 1) and 4 KB for one (m >= 8); 8 KB for every group size
// measured 4-7% faster on the gate/up and LM-head shapes at m = 1-8, the
// smaller shapes within 3% (cold weights, in-process A/B).
constexpr int kPrefetchBytes = 8192;

// Step t of a panel, its 32 columns as two f32 vectors (0-15, 16-31), and
// the address its elements start at (for the prefetch).
KAIROS_AVX512 inline __attribute__((always_inline)) const char* load_step(float*, const char* panel, int t, __m512& lo,
                                                                         __m512& hi) {
  const float* p = panel_step<float>(panel, t);
  lo = _mm512_load_ps(p);
  hi = _mm512_load_ps(p + 16);
  return reinterpret_cast<const char*>(p);
}
// The 16-bit loads use maskz forms with every lane set: GCC 12's unmasked
// intrinsics warn of their own undefined pass-through operand.
// bf16 is the top half of an f32: zero-extend and shift.
KAIROS_AVX512 inline __attribute__((always_inline)) __m512 widen_bf16(const bf16_t* p) {
  const __m512i w = _mm512_maskz_cvtepu16_epi32(0xFFFF, _mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, w, 16));
}
KAIROS_AVX512 inline __attribute__((always_inline)) const char* load_step(bf16_t*, const char* panel, int t,
                                                                         __m512& lo, __m512& hi) {
  const bf16_t* p = panel_step<bf16_t>(panel, t);
  lo = widen_bf16(p);
  hi = widen_bf16(p + 16);
  return reinterpret_cast<const char*>(p);
}
KAIROS_AVX512 inline __attribute__((always_inline)) const char* load_step(f16_t*, const char* panel, int t, __m512& lo,
                                                                         __m512& hi) {
  const f16_t* p = panel_step<f16_t>(panel, t);
  lo = _mm512_maskz_cvtph_ps(0xFFFF, _mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
  hi = _mm512_maskz_cvtph_ps(0xFFFF, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 16)));
  return reinterpret_cast<const char*>(p);
}
// Q8_0: sign-extend, convert (exact) and scale (exact: see q8_t).
KAIROS_AVX512 inline __attribute__((always_inline)) __m512 widen_q8(const std::int8_t* q, const float* scale) {
  const __m512i w = _mm512_maskz_cvtepi8_epi32(0xFFFF, _mm_load_si128(reinterpret_cast<const __m128i*>(q)));
  return _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, w), _mm512_load_ps(scale));
}
KAIROS_AVX512 inline __attribute__((always_inline)) const char* load_step(q8_t*, const char* panel, int t, __m512& lo,
                                                                         __m512& hi) {
  const std::int8_t* q = q8_step(panel, t);
  const float* sc = q8_scales(panel, t);
  lo = widen_q8(q, sc);
  hi = widen_q8(q + 16, sc + 16);
  return reinterpret_cast<const char*>(q);
}

// The k loop over panels of WT. PF 0: no software prefetch; 1: the same
// panels kPrefetchBytes ahead (into L1, for the one-slice streaming case); 2:
// pf_lines 64-byte lines from pf (into L2), pf_per_step of them per k step
// from the first step on.
template <int MR, int NP, bool PACKED, int PF, class WT>
KAIROS_AVX512 inline __attribute__((always_inline)) void k_loop(__m512 (&c)[MR][2 * NP], const float* a,
                                                                std::ptrdiff_t lda, const char* b,
                                                                std::ptrdiff_t bs, int k, const char* pf,
                                                                int pf_lines) {
  constexpr int NV = 2 * NP;
  constexpr int row_bytes = 32 * static_cast<int>(sizeof(WT));  // one k step of a panel (not Q8_0)
  const int pf_per_step = PF == 2 && k > 0 ? (pf_lines + k - 1) / k : 0;
  for (int t = 0; t < k; ++t) {
    if constexpr (PF == 2) {
      // Lines past pf_lines may be touched in the last step: a prefetch never faults.
      if (t * pf_per_step < pf_lines)
        for (int l = 0; l < pf_per_step; ++l)
          _mm_prefetch(pf + static_cast<std::ptrdiff_t>(t * pf_per_step + l) * 64, _MM_HINT_T1);
    }
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int p = 0; p < NP; ++p) {
      const char* panel = b + p * bs;
      [[maybe_unused]] const char* at = load_step(static_cast<WT*>(nullptr), panel, t, bv[2 * p], bv[2 * p + 1]);
      if constexpr (PF == 1 && std::is_same_v<WT, q8_t>) {
        // 1,152-byte blocks of 32 steps (scales, then int8): one line a
        // step, walking the block that is kPrefetchBytes ahead (36 bytes a
        // step on average).
        constexpr int ahead_steps = kPrefetchBytes / (36 * NP);
        _mm_prefetch(q8_block(panel, t + ahead_steps) + (t % q8_block_steps) * 36, _MM_HINT_T0);
      } else if constexpr (PF == 1) {
        constexpr int ahead_bytes = kPrefetchBytes / (row_bytes * NP) * row_bytes;  // whole steps
        const char* ahead = at + ahead_bytes;
#pragma GCC unroll 2
        for (int o = 0; o < row_bytes; o += 64) _mm_prefetch(ahead + o, _MM_HINT_T0);
      }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const float s = PACKED ? a[static_cast<std::ptrdiff_t>(t) * MR + i] : a[i * lda + t];
      const __m512 av = _mm512_set1_ps(s);
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) c[i][j] = _mm512_fmadd_ps(av, bv[j], c[i][j]);
    }
  }
}

// swiglu_exact on 16 lanes: the same operations, in the same order.
KAIROS_AVX512 inline __attribute__((always_inline)) __m512 swiglu16(__m512 g, __m512 u) {
  const exp_factors16 e = exp_factors_avx512(_mm512_sub_ps(_mm512_setzero_ps(), g));  // exp(-g)
  return _mm512_mul_ps(_mm512_div_ps(g, _mm512_fmadd_ps(e.p, e.scale, _mm512_set1_ps(1.0f))), u);
}

// The first nv of a vector's 16 lanes (all of them from 16 on): the ragged last panel's columns.
inline __mmask16 tail_mask(int nv) {
  return nv >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << nv) - 1u);
}

template <int MR, int NP, bool PACKED, class WT>
KAIROS_AVX512 void ukr(const ukr_args& g) {
  constexpr int NV = 2 * NP;
  __m512 c[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) c[i][j] = _mm512_setzero_ps();

  const char* b = static_cast<const char*>(g.b);
  if (!g.prefetch)
    k_loop<MR, NP, PACKED, 0, WT>(c, g.a, g.lda, b, g.bstride, g.k, nullptr, 0);
  else if (g.prefetch == g.b)
    k_loop<MR, NP, PACKED, 1, WT>(c, g.a, g.lda, b, g.bstride, g.k, nullptr, 0);
  else
    k_loop<MR, NP, PACKED, 2, WT>(c, g.a, g.lda, b, g.bstride, g.k, static_cast<const char*>(g.prefetch),
                              g.prefetch_lines);

  // Epilogue: r = acc (+ bias); y = r or y + r. Masked for the ragged last panel.
  float* const y = g.y;
  const std::ptrdiff_t ldy = g.ldy;
  if (g.swiglu) {  // panel p: gate in c[.][2p], up in c[.][2p + 1]; 16 outputs
#pragma GCC unroll 4
    for (int p = 0; p < NP; ++p) {
      const int nv = g.ncols - p * 16;
      if (nv <= 0) break;
      const __mmask16 msk = tail_mask(nv);
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) _mm512_mask_storeu_ps(y + i * ldy + p * 16, msk, swiglu16(c[i][2 * p], c[i][2 * p + 1]));
    }
    return;
  }
  const float* const bias_p = g.bias;
  const bool accumulate = g.accumulate;
  const int ncols = g.ncols;
#pragma GCC unroll 8
  for (int j = 0; j < NV; ++j) {
    const int col = j * 16;
    const int nv = ncols - col;
    if (nv <= 0) break;
    const __mmask16 msk = tail_mask(nv);
    const __m512 bias = bias_p ? _mm512_maskz_loadu_ps(msk, bias_p + col) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      __m512 r = c[i][j];
      if (bias_p) r = _mm512_add_ps(r, bias);
      float* yp = y + i * ldy + col;
      if (accumulate) r = _mm512_add_ps(_mm512_maskz_loadu_ps(msk, yp), r);
      _mm512_mask_storeu_ps(yp, msk, r);
    }
  }
}

template <int MR, int NP, bool PACKED, class WT>
constexpr ukr_fn pick() {
  if constexpr (2 * MR * NP <= kAccMax)
    return &ukr<MR, NP, PACKED, WT>;
  else
    return nullptr;
}

template <int NP, bool PACKED, class WT, int... I>
constexpr std::array<ukr_fn, kMrMax> row(std::integer_sequence<int, I...>) {
  return {{pick<I + 1, NP, PACKED, WT>()...}};
}

template <bool PACKED, class WT>
constexpr std::array<std::array<ukr_fn, kMrMax>, kNpMax> table() {
  constexpr auto seq = std::make_integer_sequence<int, kMrMax>{};
  return {{row<1, PACKED, WT>(seq), row<2, PACKED, WT>(seq), row<3, PACKED, WT>(seq), row<4, PACKED, WT>(seq)}};
}

// [packed][weight_dtype]
constexpr std::array kTables = {for_each_weight_type([](auto wt) { return table<false, decltype(wt)>(); }),
                                for_each_weight_type([](auto wt) { return table<true, decltype(wt)>(); })};

int np_for(int mr) {
  int np = kAccMax / (2 * mr);
  return np < 1 ? 1 : (np > kNpMax ? kNpMax : np);
}

ukr_fn get(int mr, int np, bool packed, weight_dtype dt) {
  return kTables[packed ? 1 : 0][static_cast<int>(dt)][np - 1][mr - 1];
}

}  // namespace

const isa_kernels& avx512_kernels() {
  static const isa_kernels k{"avx512", kMrMax, &np_for, &get};
  return k;
}

}  // namespace kairos::kernels::detail
