#pragma once
// Paged decode attention (one new query token per sequence), GQA-aware: one
// CTA serves all query heads of one KV head, so each K/V row is read once.
// Long contexts are split over several CTAs (flash-decoding); each writes a
// partial output with its max and sum, and a combine kernel merges them.
//
// Planning is host-side and allocation-free at run time: plan() picks the
// split from sizes alone, so a CUDA graph captured with one plan can be
// replayed for any batch whose contexts fit the plan's max_context.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace kairos::cuda::kernels {

struct decode_attention_plan {
  int n_splits = 1;        // CTAs per (sequence, KV head)
  int partition_size = 0;  // keys per split
  // Floats of the partial-output workspace the run needs: [n_seqs, n_heads, n_splits, head_dim + 2].
  std::size_t workspace_floats = 0;
};

// n_sms: the device's multiprocessor count; the split aims for a few CTAs
// per SM over the whole batch. max_context bounds every seq_lens entry.
decode_attention_plan plan_decode_attention(int n_seqs, int n_heads, int n_kv_heads, int head_dim, int max_context,
                                            int n_sms);

// Floats of workspace that covers every plan_decode_attention(n, ...,
// context, n_sms) with n <= max_seqs and context <= max_context.
std::size_t decode_attention_workspace_bound(int max_seqs, int n_heads, int n_kv_heads, int head_dim, int max_context,
                                             int n_sms);

// cudaSuccess if decode_attention is compiled for this head size and GQA
// group (query heads per KV head); else cudaErrorNotSupported, with the
// shape named on stderr.
cudaError_t decode_attention_supports(int head_dim, int group);

struct decode_attention_params {
  const __nv_bfloat16* q = nullptr;        // [n_rows, q_stride]; head h at h * head_dim
  int q_stride = 0;
  const __nv_bfloat16* k_cache = nullptr;  // [n_blocks, n_kv_heads, block_size, head_dim]
  const __nv_bfloat16* v_cache = nullptr;  // [n_blocks, n_kv_heads, block_size, head_dim]
  const std::int32_t* block_tables = nullptr;  // [n_seqs, max_blocks_per_seq]
  int max_blocks_per_seq = 0;
  const std::int32_t* seq_lens = nullptr;  // [n_seqs] keys to attend; 0: padding, output zeros
  const std::int32_t* rows = nullptr;      // [n_seqs] row of q and out of each sequence
  __nv_bfloat16* out = nullptr;            // [n_rows, out_stride]; head h at h * head_dim
  int out_stride = 0;
  float* workspace = nullptr;              // plan.workspace_floats, when plan.n_splits > 1
  int n_seqs = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int block_size = 0;
  float scale = 0.f;  // usually 1 / sqrt(head_dim)
};

// Supported: head_dim in {16, 32, 64, 128, 256}; n_heads / n_kv_heads in {1, 2, 3, 4, 5, 6, 7, 8}
// (5: Qwen2.5-14B/32B, 7: Qwen2-7B and Qwen2.5-7B).
cudaError_t decode_attention(const decode_attention_params& p, const decode_attention_plan& plan,
                             cudaStream_t stream);

}  // namespace kairos::cuda::kernels
