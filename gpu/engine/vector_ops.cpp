#include "gpu/engine/vector_ops.hpp"

#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

// target_clones makes GCC emit one version per ISA and an ifunc resolver.
#define KAIROS_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))

namespace kairos::ops {

KAIROS_CLONES void rms_norm(const float* x, const float* w, float* y, int n, float eps) {
  // 16 partial sums: one running sum is a chain of n dependent adds (GCC keeps
  // a float reduction in order), ~0.75 us per 576-wide row; these vectorise.
  float part[16] = {};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) part[j] += x[i + j] * x[i + j];
  for (; i < n; ++i) part[0] += x[i] * x[i];
  float ss = 0.f;
  for (int j = 0; j < 16; ++j) ss += part[j];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (int i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
}

KAIROS_CLONES void rope_rotate(float* v, const float* cos_t, const float* sin_t, int d) {
  const int half = d / 2;
  float* a = v;
  float* b = v + half;
  for (int i = 0; i < half; ++i) {
    const float x0 = a[i], x1 = b[i];
    a[i] = x0 * cos_t[i] - x1 * sin_t[i];
    b[i] = x1 * cos_t[i] + x0 * sin_t[i];
  }
}

// exp(x) = 2^r * e^f with r = round(x / ln2) and f = x - r ln2 computed in
// two parts (Cody-Waite), so f keeps full precision even at x = -87; e^f on
// [-0.35, 0.35] by its degree-7 Taylor polynomial (error below 1e-8); 2^r goes
// straight into the exponent bits.
static inline float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float r = __builtin_rintf(x * 1.44269504088896341f);
  const float f = (x - r * 0.693359375f) + r * 2.12194440e-4f;
  float p = 1.0f / 5040.0f;
  p = p * f + 1.0f / 720.0f;
  p = p * f + 1.0f / 120.0f;
  p = p * f + 1.0f / 24.0f;
  p = p * f + 1.0f / 6.0f;
  p = p * f + 0.5f;
  p = p * f + 1.0f;
  p = p * f + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(r) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

KAIROS_CLONES void exp_inplace(float* x, int n) {
  for (int i = 0; i < n; ++i) x[i] = exp_approx(x[i]);
}

KAIROS_CLONES void block_scores(const float* q, const float* k_block, float* scores, int head_dim, int block_size,
                                int n_valid, float scale) {
  float acc[64];  // block_size <= 64
  for (int j = 0; j < block_size; ++j) acc[j] = 0.f;
  for (int d = 0; d < head_dim; ++d) {
    const float qd = q[d];
    const float* kr = k_block + static_cast<std::size_t>(d) * block_size;
    for (int j = 0; j < block_size; ++j) acc[j] += qd * kr[j];
  }
  for (int j = 0; j < n_valid; ++j) scores[j] = acc[j] * scale;
}

KAIROS_CLONES void block_weighted_sum(const float* w, const float* v_block, float* out, int head_dim, int n_valid) {
  for (int j = 0; j < n_valid; ++j) {
    const float wj = w[j];
    const float* vr = v_block + static_cast<std::size_t>(j) * head_dim;
    for (int d = 0; d < head_dim; ++d) out[d] += wj * vr[d];
  }
}

// _Float16 is IEEE binary16 with round-to-nearest-even conversions: the
// x86-64-v4 clone turns these loops into vcvtps2ph / vcvtph2ps, the others
// call libgcc's exact software conversion.
KAIROS_CLONES void f32_to_f16(const float* x, std::uint16_t* y, int n) {
  for (int i = 0; i < n; ++i) {
    const _Float16 h = static_cast<_Float16>(x[i]);
    std::memcpy(&y[i], &h, 2);
  }
}

KAIROS_CLONES void f16_to_f32(const std::uint16_t* x, float* y, int n) {
  for (int i = 0; i < n; ++i) {
    _Float16 h;
    std::memcpy(&h, &x[i], 2);
    y[i] = static_cast<float>(h);
  }
}

}  // namespace kairos::ops

namespace kairos::ops {

namespace {

// Generic path: the element-wise helpers above. An F16 block is first
// widened into a per-thread scratch ([head_dim, block] or [block, head_dim]).
template <class T>
void attend_paged_generic(const float* q, const T* const* k_blocks, const T* const* v_blocks, int n_ctx, int D,
                          int bs, float scale, float* sc, float* out) {
  const int n_blk = (n_ctx + bs - 1) / bs;
  thread_local std::vector<float> wide;  // [head_dim * block_size], F16 only
  auto block = [&](const T* p) -> const float* {
    if constexpr (std::is_same_v<T, float>) {
      return p;
    } else {
      if (wide.size() < static_cast<std::size_t>(D) * bs) wide.resize(static_cast<std::size_t>(D) * bs);
      f16_to_f32(p, wide.data(), D * bs);
      return wide.data();
    }
  };
  for (int b = 0; b < n_blk; ++b) {
    const int n_valid = n_ctx - b * bs < bs ? n_ctx - b * bs : bs;
    block_scores(q, block(k_blocks[b]), sc + b * bs, D, bs, n_valid, scale);
  }
  float mx = sc[0];
  for (int j = 1; j < n_ctx; ++j) mx = mx > sc[j] ? mx : sc[j];
  for (int j = 0; j < n_ctx; ++j) sc[j] -= mx;
  exp_inplace(sc, n_ctx);
  float sum = 0.f;
  for (int j = 0; j < n_ctx; ++j) sum += sc[j];
  const float inv = 1.0f / sum;
  for (int j = 0; j < n_ctx; ++j) sc[j] *= inv;
  for (int d = 0; d < D; ++d) out[d] = 0.f;
  for (int b = 0; b < n_blk; ++b) {
    const int n_valid = n_ctx - b * bs < bs ? n_ctx - b * bs : bs;
    block_weighted_sum(sc + b * bs, block(v_blocks[b]), out, D, n_valid);
  }
}

typedef float v16f __attribute__((vector_size(64)));

#define KAIROS_AVX512_ATTN __attribute__((target("avx512f,avx512dq,fma")))

// 16 consecutive K or V elements as F32.
template <class T>
KAIROS_AVX512_ATTN inline __attribute__((always_inline)) v16f load16(const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    v16f v;
    __builtin_memcpy(&v, p, 64);
    return v;
  } else {
    // maskz: the unmasked intrinsic trips GCC 12's maybe-uninitialized warning.
    return reinterpret_cast<v16f>(
        _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
  }
}

// G query heads against one KV head, AVX-512, block size 16, head_dim ND*16,
// K/V elements of type T (float, or F16 bits).
template <int ND, int G, class T>
KAIROS_AVX512_ATTN void attend_group_avx512_b16(const float* q, const T* const* k_blocks, const T* const* v_blocks,
                                                int n_ctx, float scale, float* sc, float* out) {
  constexpr int D = ND * 16;
  // Rows of 16 elements per 64-byte line: 1 for F32, 2 for F16.
  constexpr int rows_per_line = static_cast<int>(64 / (16 * sizeof(T)));
  const int n_blk = (n_ctx + 15) / 16;
  const int n_pad = n_blk * 16;
  // Running maxima, lane-wise: a scalar max over each block's 16 scores was a
  // chain of 16 dependent compares per head, and cost ~15% of the kernel.
  v16f mxv[G];
  for (int h = 0; h < G; ++h) mxv[h] = v16f{} - 3.0e38f;
  // The blocks are scattered 4-8 KB pieces, too short for the hardware
  // prefetcher to ramp up on, and decode attention is bound by reading them:
  // K two blocks ahead into L1, and this block's V into L2 for the second
  // pass. The first two K blocks go out together before any arithmetic.
  // A block's K (and its V) is D cache lines: line d holds row d of [D, 16].
  for (int b = 0; b < 4 && b < n_blk; ++b)
    for (int d = 0; d < D; d += rows_per_line) {
      if (b < 2)
        __builtin_prefetch(k_blocks[b] + static_cast<std::size_t>(d) * 16, 0, 3);
      else
        __builtin_prefetch(k_blocks[b] + static_cast<std::size_t>(d) * 16, 0, 2);
    }
  for (int b = 0; b < n_blk; ++b) {
    const T* kb = k_blocks[b];  // [head_dim, 16]
    const T* k_ahead = b + 2 < n_blk ? k_blocks[b + 2] : nullptr;
    const T* k_far = b + 4 < n_blk ? k_blocks[b + 4] : nullptr;
    const T* v_now = v_blocks[b];
    v16f a0[G] = {}, a1[G] = {};    // two chains per head (even and odd d)
    for (int d = 0; d < D; d += 2) {
      if (k_ahead) __builtin_prefetch(k_ahead + static_cast<std::size_t>(d) * 16, 0, 3);
      if (k_far) __builtin_prefetch(k_far + static_cast<std::size_t>(d) * 16, 0, 2);
      __builtin_prefetch(v_now + static_cast<std::size_t>(d) * 16, 0, 2);
      if constexpr (rows_per_line == 1) {  // F32: row d + 1 is a line of its own (F16: it shares row d's)
        if (k_ahead) __builtin_prefetch(k_ahead + static_cast<std::size_t>(d + 1) * 16, 0, 3);
        if (k_far) __builtin_prefetch(k_far + static_cast<std::size_t>(d + 1) * 16, 0, 2);
        __builtin_prefetch(v_now + static_cast<std::size_t>(d + 1) * 16, 0, 2);
      }
      const v16f k0 = load16(kb + static_cast<std::size_t>(d) * 16);
      const v16f k1 = load16(kb + static_cast<std::size_t>(d + 1) * 16);
      for (int h = 0; h < G; ++h) {
        a0[h] += q[h * D + d] * k0;
        a1[h] += q[h * D + d + 1] * k1;
      }
    }
    const int n_valid = n_ctx - b * 16;
    for (int h = 0; h < G; ++h) {
      v16f s = (a0[h] + a1[h]) * scale;
      if (n_valid < 16)
        for (int j = n_valid; j < 16; ++j) s[j] = -3.0e38f;
      __builtin_memcpy(sc + static_cast<std::size_t>(h) * n_pad + b * 16, &s, 64);
      mxv[h] = mxv[h] > s ? mxv[h] : s;
    }
  }
  float mx[G];
  for (int h = 0; h < G; ++h) {
    mx[h] = mxv[h][0];
    for (int j = 1; j < 16; ++j) mx[h] = mx[h] > mxv[h][j] ? mx[h] : mxv[h][j];
    float* sh = sc + static_cast<std::size_t>(h) * n_pad;
    for (int j = 0; j < n_pad; ++j) sh[j] -= mx[h];
    exp_inplace(sh, n_pad);
    v16f vsum = {};
    for (int b = 0; b < n_blk; ++b) {
      v16f e;
      __builtin_memcpy(&e, sh + b * 16, 64);
      vsum += e;
    }
    float sum = 0.f;
    for (int i = 0; i < 16; ++i) sum += vsum[i];
    const float inv = 1.0f / sum;
    // The weights, normalised here in one vector pass: the loop below then
    // takes each straight from memory as an fma's broadcast operand.
    for (int j = 0; j < n_pad; ++j) sh[j] *= inv;
  }
  v16f o[G][ND] = {};
  for (int b = 0; b < n_blk; ++b) {
    const T* vb = v_blocks[b];  // [16, head_dim]
    const int n_valid = n_ctx - b * 16 < 16 ? n_ctx - b * 16 : 16;
    for (int j = 0; j < n_valid; ++j) {
      const T* vr = vb + static_cast<std::size_t>(j) * D;
      v16f v[ND];
      for (int c = 0; c < ND; ++c) v[c] = load16(vr + c * 16);
      for (int h = 0; h < G; ++h) {
        const float w = sc[static_cast<std::size_t>(h) * n_pad + b * 16 + j];
        for (int c = 0; c < ND; ++c) o[h][c] += w * v[c];
      }
    }
  }
  for (int h = 0; h < G; ++h)
    for (int c = 0; c < ND; ++c) __builtin_memcpy(out + h * D + c * 16, &o[h][c], 64);
}

// Group sizes 1-4 (MHA and the usual GQA groups).
template <int ND, class T>
bool attend_group_dispatch(int n_q, const float* q, const T* const* kb, const T* const* vb, int n_ctx, float scale,
                           float* sc, float* out) {
  switch (n_q) {
    case 1: attend_group_avx512_b16<ND, 1>(q, kb, vb, n_ctx, scale, sc, out); return true;
    case 2: attend_group_avx512_b16<ND, 2>(q, kb, vb, n_ctx, scale, sc, out); return true;
    case 3: attend_group_avx512_b16<ND, 3>(q, kb, vb, n_ctx, scale, sc, out); return true;
    case 4: attend_group_avx512_b16<ND, 4>(q, kb, vb, n_ctx, scale, sc, out); return true;
    default: return false;
  }
}

template <class T>
void attend_group(const float* q, int n_q, const T* const* k_blocks, const T* const* v_blocks, int n_ctx,
                  int head_dim, int block_size, float scale, float* scores, float* out) {
  static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  if (avx512 && block_size == 16) {
    bool done = false;
    switch (head_dim) {  // head sizes of the models we serve
      case 32: done = attend_group_dispatch<2>(n_q, q, k_blocks, v_blocks, n_ctx, scale, scores, out); break;
      case 64: done = attend_group_dispatch<4>(n_q, q, k_blocks, v_blocks, n_ctx, scale, scores, out); break;
      case 128: done = attend_group_dispatch<8>(n_q, q, k_blocks, v_blocks, n_ctx, scale, scores, out); break;
      default: break;
    }
    if (done) return;
  }
  // Other group sizes: head by head, through the one-head kernel where there is one.
  for (int h = 0; h < n_q; ++h) {
    const float* qh = q + static_cast<std::size_t>(h) * head_dim;
    float* oh = out + static_cast<std::size_t>(h) * head_dim;
    if (n_q > 1)
      attend_group<T>(qh, 1, k_blocks, v_blocks, n_ctx, head_dim, block_size, scale, scores, oh);
    else
      attend_paged_generic<T>(qh, k_blocks, v_blocks, n_ctx, head_dim, block_size, scale, scores, oh);
  }
}

}  // namespace

void attend_paged_group(const float* q, int n_q, const float* const* k_blocks, const float* const* v_blocks,
                        int n_ctx, int head_dim, int block_size, float scale, float* scores, float* out) {
  attend_group<float>(q, n_q, k_blocks, v_blocks, n_ctx, head_dim, block_size, scale, scores, out);
}

void attend_paged_group(const float* q, int n_q, const std::uint16_t* const* k_blocks,
                        const std::uint16_t* const* v_blocks, int n_ctx, int head_dim, int block_size, float scale,
                        float* scores, float* out) {
  attend_group<std::uint16_t>(q, n_q, k_blocks, v_blocks, n_ctx, head_dim, block_size, scale, scores, out);
}

}  // namespace kairos::ops
