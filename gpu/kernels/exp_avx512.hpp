#pragma once
// exp(x) on 16 F32 lanes, the vector form of the engine's exponential
// (kernels::detail::swiglu_exact runs the same operations one lane at a time;
// ops::exp_inplace is the same algorithm, not bit for bit): x clamped to [-87, 88],
// r = round(x / ln 2), f = x - r ln 2 in two parts (Cody-Waite), e^f by its
// degree-7 Taylor polynomial p, and exp(x) = p * 2^r. The two factors are
// returned apart so that a caller can fuse the product into an fma (SwiGLU's
// 1 + e^-g). Every multiply-add is an fma.
#include <immintrin.h>

namespace kairos::kernels {

struct exp_factors16 {
  __m512 p;      // e^f
  __m512 scale;  // 2^r
};

__attribute__((target("avx512f,fma"), always_inline)) inline exp_factors16 exp_factors_avx512(__m512 x) {
  // The maskz forms with every lane on: the plain intrinsics trip GCC 12's
  // maybe-uninitialized warning. (A NaN x becomes -87.)
  constexpr __mmask16 all = 0xFFFF;
  x = _mm512_maskz_min_ps(all, _mm512_maskz_max_ps(all, x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
  const __m512 r = _mm512_maskz_roundscale_ps(all, _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_fmadd_ps(r, _mm512_set1_ps(2.12194440e-4f),
                                   _mm512_fnmadd_ps(r, _mm512_set1_ps(0.693359375f), x));
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  const __m512i e = _mm512_add_epi32(_mm512_maskz_cvtps_epi32(all, r), _mm512_set1_epi32(127));
  return {p, _mm512_castsi512_ps(_mm512_maskz_slli_epi32(all, e, 23))};
}

}  // namespace kairos::kernels
