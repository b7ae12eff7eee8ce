#pragma once
// Element-wise and attention inner loops of the CPU engine. Written as plain
// loops the compiler vectorises; each is compiled for AVX-512, AVX2 and
// baseline x86-64 and picked at load time (GCC target_clones), so binaries
// stay portable.
#include <cstddef>
#include <cstdint>

namespace kairos::ops {

// y[i] = x[i] * w[i] / sqrt(mean(x^2) + eps), over n.
void rms_norm(const float* x, const float* w, float* y, int n, float eps);

// Rotates one head's vector in place, HF "rotate_half" layout: pairs
// (i, i + d/2) turn by pos * inv_freq[i]. cos/sin: [d/2] for this position.
void rope_rotate(float* v, const float* cos_t, const float* sin_t, int d);

// exp(x) for x <= 0 with relative error below 2e-7 (softmax arguments).
void exp_inplace(float* x, int n);

// Attention of one query head against one KV block.
// k_block: [head_dim, block_size] for this KV head (keys transposed);
// scores[j] = scale * q · k_j for j < n_valid.
void block_scores(const float* q, const float* k_block, float* scores, int head_dim, int block_size, int n_valid,
                  float scale);
// out[d] += sum_j w[j] * v_block[j, d], j < n_valid. v_block: [block_size, head_dim].
void block_weighted_sum(const float* w, const float* v_block, float* out, int head_dim, int n_valid);

// IEEE binary16 (bits in a uint16_t) <-> F32, rounding to nearest even: the
// elements of an F16 KV cache.
void f32_to_f16(const float* x, std::uint16_t* y, int n);
void f16_to_f32(const std::uint16_t* x, float* y, int n);

}  // namespace kairos::ops

namespace kairos::ops {

// The n_q query heads that share one KV head (GQA; 1 for MHA) against their
// sequence's paged K/V: out[h] = softmax(scale q_h·K)·V, each K and V block
// read once for all of them. k_blocks[b] / v_blocks[b]: this KV head's slice
// of block b (layouts as in block_scores / block_weighted_sum). q: [n_q,
// head_dim] contiguous; out: [n_q, head_dim]; scores: scratch of n_q * (n_ctx
// rounded up to the block size). The arithmetic order is fixed by n_ctx
// alone, never by what else is in the batch.
void attend_paged_group(const float* q, int n_q, const float* const* k_blocks, const float* const* v_blocks,
                        int n_ctx, int head_dim, int block_size, float scale, float* scores, float* out);
// The same over an F16 KV cache (elements widened to F32 as they are read).
void attend_paged_group(const float* q, int n_q, const std::uint16_t* const* k_blocks,
                        const std::uint16_t* const* v_blocks, int n_ctx, int head_dim, int block_size, float scale,
                        float* scores, float* out);

// Tokens per tile of attend_paged_tokens.
inline constexpr int max_tile_tokens = 4;

// n_tok consecutive tokens of one sequence, contexts n_ctx0, n_ctx0 + 1, ...
// (a prefill chunk), each with n_q query heads against the same KV head:
// token t's q rows at q + t * q_stride ([n_q, head_dim]), its output at
// out + t * out_stride. Each token's result is bitwise what
// attend_paged_group gives it alone. On the AVX-512 path (block size 16,
// head_dim 32/64/128, n_q <= 3) tiles of up to max_tile_tokens tokens (fewer
// as n_q grows) share each K/V block load; elsewhere the tokens run one by one.
// scores: scratch of min(n_tok, max_tile_tokens) * n_q * (n_ctx0 + n_tok - 1
// rounded up to the block size) floats.
void attend_paged_tokens(const float* q, std::size_t q_stride, int n_q, int n_tok, const float* const* k_blocks,
                         const float* const* v_blocks, int n_ctx0, int head_dim, int block_size, float scale,
                         float* scores, float* out, std::size_t out_stride);
void attend_paged_tokens(const float* q, std::size_t q_stride, int n_q, int n_tok, const std::uint16_t* const* k_blocks,
                         const std::uint16_t* const* v_blocks, int n_ctx0, int head_dim, int block_size, float scale,
                         float* scores, float* out, std::size_t out_stride);

}  // namespace kairos::ops
