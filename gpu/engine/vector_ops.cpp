#include "gpu/engine/vector_ops.hpp"

#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "gpu/kernels/exp_avx512.hpp"

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

// exp_approx on 16 lanes (the same clamp, reduction and polynomial).
KAIROS_AVX512_ATTN inline __attribute__((always_inline)) v16f exp16(v16f x) {
  const kernels::exp_factors16 e = kernels::exp_factors_avx512(reinterpret_cast<__m512>(x));
  return reinterpret_cast<v16f>(_mm512_mul_ps(e.p, e.scale));
}

// The q·k pass takes two K blocks at a time, each row with two chains over
// head_dim (even and odd d) per block: every broadcast q element then feeds
// two fmas, and each row has four independent chains. (One block with two
// chains waits on the fma latency; one block with four chains, measured, was
// 12% slower than this in prefill.) Each score is still one pair of chains
// over d, so a row's arithmetic does not depend on how its blocks are paired.
constexpr int kScoreChains = 2;
constexpr int kBlocksPerPass = 2;
// Tokens per tile: TT * G rows of kScoreChains * kBlocksPerPass accumulators
// each (at most 24 of the 32 zmm registers; 4 more hold the K rows).
// MHA tiles 4 tokens, groups of 2 three, of 3 two; groups of 4 run token by
// token (Llama-3-8B's shape, measured: prefill attention 18% faster than with
// the 3-token tiles of one block per pass that this replaced).
constexpr int tile_tokens(int g) {
  constexpr int per_row = kScoreChains * kBlocksPerPass;
  const int fit = 24 / (per_row * g);
  return fit >= max_tile_tokens ? max_tile_tokens : (fit < 1 ? 1 : fit);
}

// TT consecutive tokens of one sequence (contexts n_ctx0, n_ctx0 + 1, ...),
// G query heads each, against one KV head: AVX-512, block size 16, head_dim
// ND*16, K/V elements of type T (float, or F16 bits). TT = 1 is decode.
//
// A prefill chunk's tokens read the same K/V blocks: a tile of them loads each
// block once for all its rows. Every row's arithmetic is exactly what TT = 1
// does for that token alone (the same chains in the same order), so a result
// never depends on the tile it was computed in, nor on how a prompt was cut
// into chunks.
// q: row (t, h) at q + t * q_stride + h * D; out likewise with out_stride;
// sc: row (t, h) at sc + (t * G + h) * sc_stride, sc_stride >= the last
// token's context rounded up to 16.
template <int ND, int G, int TT, class T>
KAIROS_AVX512_ATTN void attend_tile_avx512_b16(const float* q, std::size_t q_stride, const T* const* k_blocks,
                                               const T* const* v_blocks, int n_ctx0, float scale, float* sc,
                                               std::size_t sc_stride, float* out, std::size_t out_stride) {
  constexpr int D = ND * 16;
  constexpr int NC = kScoreChains;
  static_assert(TT * G * NC * kBlocksPerPass <= 24, "score accumulators must stay in registers");
  // Rows of 16 elements per 64-byte line: 1 for F32, 2 for F16.
  constexpr int rows_per_line = static_cast<int>(64 / (16 * sizeof(T)));
  const int n_blk = (n_ctx0 + TT - 1 + 15) / 16;  // the last token's blocks
  auto ctx = [&](int t) { return n_ctx0 + t; };
  auto blocks_of = [&](int t) { return (ctx(t) + 15) / 16; };
  // The tile's q rows side by side ([TT * G, D]): one base register and
  // constant offsets in the loop below, not a pointer per row.
  alignas(64) float qt[TT * G * D];
  for (int t = 0; t < TT; ++t) __builtin_memcpy(qt + t * G * D, q + t * q_stride, sizeof(float) * G * D);
  auto row_q = [&](int t, int h) { return qt + (t * G + h) * D; };
  auto row_sc = [&](int t, int h) { return sc + static_cast<std::size_t>(t * G + h) * sc_stride; };
  // Running maxima, lane-wise: a scalar max over each block's 16 scores was a
  // chain of 16 dependent compares per head, and cost ~15% of the kernel.
  v16f mxv[TT][G];
  for (int t = 0; t < TT; ++t)
    for (int h = 0; h < G; ++h) mxv[t][h] = v16f{} - 3.0e38f;
  // The blocks are scattered 4-8 KB pieces, too short for the hardware
  // prefetcher to ramp up on, and decode attention is bound by reading them:
  // the next pair's K into L1, and this pair's V into L2 for the second pass
  // (a further K prefetch, four blocks ahead into L2, cost 3-4% at 32 decode
  // sequences). The first blocks go out together before any arithmetic.
  // A block's K (and its V) is D cache lines: line d holds row d of [D, 16].
  for (int b = 0; b < 4 && b < n_blk; ++b)
    for (int d = 0; d < D; d += rows_per_line) {
      if (b < 2)
        __builtin_prefetch(k_blocks[b] + static_cast<std::size_t>(d) * 16, 0, 3);
      else
        __builtin_prefetch(k_blocks[b] + static_cast<std::size_t>(d) * 16, 0, 2);
    }
  for (int b = 0; b < n_blk; b += 2) {
    // Blocks b and b + 1; a lone last block is paired with itself (computed twice, stored once).
    const int b1 = b + 1 < n_blk ? b + 1 : b;
    const T* kb[2] = {k_blocks[b], k_blocks[b1]};  // [head_dim, 16] each
    const T* k_ahead[2] = {b + 2 < n_blk ? k_blocks[b + 2] : nullptr, b + 3 < n_blk ? k_blocks[b + 3] : nullptr};
    const T* v_now[2] = {v_blocks[b], v_blocks[b1]};
    v16f acc[2][NC][TT][G] = {};  // [block][chain: d % NC][token][head]
    for (int d = 0; d < D; d += NC) {
      for (int r = 0; r < NC; r += rows_per_line)  // each line of rows d .. d + NC - 1
        for (int j = 0; j < 2; ++j) {
          const std::size_t off = static_cast<std::size_t>(d + r) * 16;
          if (k_ahead[j]) __builtin_prefetch(k_ahead[j] + off, 0, 3);
          __builtin_prefetch(v_now[j] + off, 0, 2);
        }
      v16f kr[2][NC];
      for (int j = 0; j < 2; ++j)
        for (int i = 0; i < NC; ++i) kr[j][i] = load16(kb[j] + static_cast<std::size_t>(d + i) * 16);
      for (int t = 0; t < TT; ++t)
        for (int h = 0; h < G; ++h)
          for (int i = 0; i < NC; ++i) {
            const float x = row_q(t, h)[d + i];
            acc[0][i][t][h] += x * kr[0][i];
            acc[1][i][t][h] += x * kr[1][i];
          }
    }
    for (int j = 0; j < 2 && b + j < n_blk; ++j) {
      const int bj = b + j;
      for (int t = 0; t < TT; ++t) {
        if (bj >= blocks_of(t)) continue;  // past this token's context: computed, unused
        const int n_valid = ctx(t) - bj * 16;
        for (int h = 0; h < G; ++h) {
          v16f s = (acc[j][0][t][h] + acc[j][1][t][h]) * scale;
          if (n_valid < 16)
            for (int l = n_valid; l < 16; ++l) s[l] = -3.0e38f;
          __builtin_memcpy(row_sc(t, h) + bj * 16, &s, 64);
          mxv[t][h] = mxv[t][h] > s ? mxv[t][h] : s;
        }
      }
    }
  }
  // Softmax numerators in one pass (subtract the maximum, exponentiate, sum);
  // the division by the sum is left to the outputs: G * D multiplies a row
  // instead of one per key.
  float inv[TT][G];
  for (int t = 0; t < TT; ++t) {
    const int nb = blocks_of(t);
    const int n_last = ctx(t) - (nb - 1) * 16;  // keys in the last block
    for (int h = 0; h < G; ++h) {
      float mx = mxv[t][h][0];
      for (int j = 1; j < 16; ++j) mx = mx > mxv[t][h][j] ? mx : mxv[t][h][j];
      float* sh = row_sc(t, h);
      v16f vsum = {};
      for (int b = 0; b < nb; ++b) {
        v16f s;
        __builtin_memcpy(&s, sh + b * 16, 64);
        v16f e = exp16(s - mx);
        if (b == nb - 1)  // padding lanes weigh exactly nothing
          for (int j = n_last; j < 16; ++j) e[j] = 0.f;
        __builtin_memcpy(sh + b * 16, &e, 64);
        vsum += e;
      }
      float sum = 0.f;
      for (int i = 0; i < 16; ++i) sum += vsum[i];
      inv[t][h] = sum > 0.f ? 1.0f / sum : 0.f;  // no keys (n_ctx0 = 0): zeros, not 0 * inf
    }
  }
  // V: HP heads of TP tokens at a time, as many as keep their accumulators
  // in registers (24 of the 32 zmm: a head of 128 has 8, so at most 3 heads
  // a pass; more spilled them to the stack on every key). Each (token, head)
  // output is one chain over the keys in order, however the passes fall.
  // Keys below a pass's first context are every token's; the few after it
  // (a prefill tile's later tokens) are each token's own.
  constexpr int head_passes = (G * ND + 23) / 24;
  constexpr int HP = (G + head_passes - 1) / head_passes;
  constexpr int TP = TT * HP * ND <= 24 ? TT : (HP * ND <= 24 ? 24 / (HP * ND) : 1);
  for (int h0 = 0; h0 < G; h0 += HP)
    for (int t0 = 0; t0 < TT; t0 += TP) {
      const int tn = TT - t0 < TP ? TT - t0 : TP;
      const int shared = ctx(t0), keys = ctx(t0 + tn - 1);
      v16f o[TP][HP][ND] = {};
      for (int key = 0; key < keys; ++key) {
        const T* vr = v_blocks[key / 16] + static_cast<std::size_t>(key % 16) * D;  // [16, head_dim]
        v16f v[ND];
        for (int c = 0; c < ND; ++c) v[c] = load16(vr + c * 16);
        // Token tt sees keys below ctx(t0 + tt): all of them below `shared`.
        const int t_first = key < shared ? 0 : key - shared + 1;
        for (int tt = 0; tt < TP; ++tt) {
          if (tt >= tn || (TP > 1 && tt < t_first)) continue;
          for (int hh = 0; hh < HP && h0 + hh < G; ++hh) {
            const float w = row_sc(t0 + tt, h0 + hh)[key];
            for (int c = 0; c < ND; ++c) o[tt][hh][c] += w * v[c];
          }
        }
      }
      for (int tt = 0; tt < tn; ++tt)
        for (int hh = 0; hh < HP && h0 + hh < G; ++hh) {
          const float r = inv[t0 + tt][h0 + hh];
          for (int c = 0; c < ND; ++c) {
            const v16f y = o[tt][hh][c] * r;
            __builtin_memcpy(out + (t0 + tt) * out_stride + static_cast<std::size_t>(h0 + hh) * D + c * 16, &y, 64);
          }
        }
    }
}

// n_tok tokens of G query heads each, in tiles of up to tile_tokens(G).
template <int ND, int G, class T>
void attend_tiles(int n_tok, const float* q, std::size_t q_stride, const T* const* kb, const T* const* vb, int n_ctx0,
                  float scale, float* sc, std::size_t sc_stride, float* out, std::size_t out_stride) {
  constexpr int tmax = tile_tokens(G);
  static_assert(tmax >= 1 && tmax <= max_tile_tokens, "the scores scratch holds max_tile_tokens tokens");
  for (int t = 0; t < n_tok;) {
    const int cnt = n_tok - t < tmax ? n_tok - t : tmax;
    const float* qt = q + t * q_stride;
    float* ot = out + t * out_stride;
    const int c0 = n_ctx0 + t;
    [&]<int... I>(std::integer_sequence<int, I...>) {  // the tile of cnt tokens
      ((cnt == I + 1 ? attend_tile_avx512_b16<ND, G, I + 1>(qt, q_stride, kb, vb, c0, scale, sc, sc_stride, ot,
                                                             out_stride)
                     : void()),
       ...);
    }(std::make_integer_sequence<int, tmax>{});
    t += cnt;
  }
}

// Group sizes 1-4 (MHA and the usual GQA groups).
template <int ND, class T>
bool attend_tile_dispatch(int n_q, int n_tok, const float* q, std::size_t q_stride, const T* const* kb,
                          const T* const* vb, int n_ctx0, float scale, float* sc, std::size_t sc_stride, float* out,
                          std::size_t out_stride) {
  switch (n_q) {
    case 1: attend_tiles<ND, 1>(n_tok, q, q_stride, kb, vb, n_ctx0, scale, sc, sc_stride, out, out_stride); return true;
    case 2: attend_tiles<ND, 2>(n_tok, q, q_stride, kb, vb, n_ctx0, scale, sc, sc_stride, out, out_stride); return true;
    case 3: attend_tiles<ND, 3>(n_tok, q, q_stride, kb, vb, n_ctx0, scale, sc, sc_stride, out, out_stride); return true;
    case 4: attend_tiles<ND, 4>(n_tok, q, q_stride, kb, vb, n_ctx0, scale, sc, sc_stride, out, out_stride); return true;
    default: return false;
  }
}

template <class T>
void attend_tile(const float* q, std::size_t q_stride, int n_q, int n_tok, const T* const* k_blocks,
                 const T* const* v_blocks, int n_ctx0, int head_dim, int block_size, float scale, float* scores,
                 float* out, std::size_t out_stride) {
  static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  const int last = n_ctx0 + n_tok - 1;
  const std::size_t sc_stride = static_cast<std::size_t>((last + block_size - 1) / block_size) * block_size;
  auto tiles = [&](int nq, int nt, const float* qq, float* oo, int c0) {
    if (!avx512 || block_size != 16) return false;
    switch (head_dim) {  // head sizes of the models we serve
      case 32: return attend_tile_dispatch<2>(nq, nt, qq, q_stride, k_blocks, v_blocks, c0, scale, scores, sc_stride, oo, out_stride);
      case 64: return attend_tile_dispatch<4>(nq, nt, qq, q_stride, k_blocks, v_blocks, c0, scale, scores, sc_stride, oo, out_stride);
      case 128: return attend_tile_dispatch<8>(nq, nt, qq, q_stride, k_blocks, v_blocks, c0, scale, scores, sc_stride, oo, out_stride);
      default: return false;
    }
  };
  if (tiles(n_q, n_tok, q, out, n_ctx0)) return;
  // Other group sizes: token by token, head by head, through the one-head
  // kernel where there is one.
  for (int t = 0; t < n_tok; ++t)
    for (int h = 0; h < n_q; ++h) {
      const float* qh = q + t * q_stride + static_cast<std::size_t>(h) * head_dim;
      float* oh = out + t * out_stride + static_cast<std::size_t>(h) * head_dim;
      if (!tiles(1, 1, qh, oh, n_ctx0 + t))
        attend_paged_generic<T>(qh, k_blocks, v_blocks, n_ctx0 + t, head_dim, block_size, scale, scores, oh);
    }
}

}  // namespace

void attend_paged_group(const float* q, int n_q, const float* const* k_blocks, const float* const* v_blocks,
                        int n_ctx, int head_dim, int block_size, float scale, float* scores, float* out) {
  attend_tile<float>(q, 0, n_q, 1, k_blocks, v_blocks, n_ctx, head_dim, block_size, scale, scores, out, 0);
}

void attend_paged_group(const float* q, int n_q, const std::uint16_t* const* k_blocks,
                        const std::uint16_t* const* v_blocks, int n_ctx, int head_dim, int block_size, float scale,
                        float* scores, float* out) {
  attend_tile<std::uint16_t>(q, 0, n_q, 1, k_blocks, v_blocks, n_ctx, head_dim, block_size, scale, scores, out, 0);
}

void attend_paged_tokens(const float* q, std::size_t q_stride, int n_q, int n_tok, const float* const* k_blocks,
                         const float* const* v_blocks, int n_ctx0, int head_dim, int block_size, float scale,
                         float* scores, float* out, std::size_t out_stride) {
  attend_tile<float>(q, q_stride, n_q, n_tok, k_blocks, v_blocks, n_ctx0, head_dim, block_size, scale, scores, out,
                     out_stride);
}

void attend_paged_tokens(const float* q, std::size_t q_stride, int n_q, int n_tok, const std::uint16_t* const* k_blocks,
                         const std::uint16_t* const* v_blocks, int n_ctx0, int head_dim, int block_size, float scale,
                         float* scores, float* out, std::size_t out_stride) {
  attend_tile<std::uint16_t>(q, q_stride, n_q, n_tok, k_blocks, v_blocks, n_ctx0, head_dim, block_size, scale, scores,
                             out, out_stride);
}

}  // namespace kairos::ops
