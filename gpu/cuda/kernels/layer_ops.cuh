#pragma once
// Row-wise transformer ops, BF16 storage with FP32 arithmetic: embedding
// lookup, RMSNorm fused with the residual add, SwiGLU, and RoPE fused with
// the append of K and V into the paged cache. Plain structs, raw pointers;
// each launcher returns the launch's cudaError_t.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace kairos::cuda::kernels {

// x[t] = float(table[ids[t]]). Needs d_model % 8 == 0.
struct embedding_params {
  const std::int32_t* ids = nullptr;   // [n_tokens]
  const __nv_bfloat16* table = nullptr;  // [vocab, d_model]
  float* x = nullptr;                  // [n_tokens, d_model] residual stream
  int n_tokens = 0;
  int d_model = 0;
};
cudaError_t embedding_lookup(const embedding_params& p, cudaStream_t stream);

// For each output row r, with source row s = rows ? rows[r] : r:
//   v = resid[s] + (delta ? delta[s] : 0)
//   out[r] = bf16(v / rms(v) * weight)
// and, when rows is null, resid[s] = v (the residual add, fused). With rows
// the residual is left alone: the final norm gathers only the rows that want
// logits. Needs d_model % 8 == 0.
struct add_rmsnorm_params {
  float* resid = nullptr;                // [n_src_rows, d_model]
  const __nv_bfloat16* delta = nullptr;  // [n_src_rows, d_model] or null
  const float* weight = nullptr;         // [d_model]
  __nv_bfloat16* out = nullptr;          // [n_rows, d_model]
  const std::int32_t* rows = nullptr;    // [n_rows] or null
  int n_rows = 0;
  int d_model = 0;
  float eps = 1e-5f;
};
cudaError_t add_rmsnorm(const add_rmsnorm_params& p, cudaStream_t stream);

// out[t, i] = silu(gu[t, i]) * gu[t, ffn + i]. Needs ffn % 8 == 0.
struct swiglu_params {
  const __nv_bfloat16* gate_up = nullptr;  // [n_tokens, 2 ffn]: gate, then up
  __nv_bfloat16* out = nullptr;            // [n_tokens, ffn]
  int n_tokens = 0;
  int ffn = 0;
};
cudaError_t swiglu(const swiglu_params& p, cudaStream_t stream);

// For each token t of the batch, on its row of the fused QKV projection:
// adds the bias (when given), rotates the query and key heads by the
// position's angles (rotate-half convention, as Hugging Face Llama), writes
// them back in place, and stores K and V into slot slots[t] (= block *
// block_size + row; negative: padding, not stored) of the paged cache.
//   cache layout: [n_blocks, n_kv_heads, block_size, head_dim]
struct rope_kv_params {
  __nv_bfloat16* qkv = nullptr;        // [n_tokens, qkv_stride]: q heads, k heads, v heads
  int qkv_stride = 0;
  const float* bias = nullptr;         // [(n_heads + 2 n_kv_heads) head_dim] or null
  const float* cos = nullptr;          // [n_positions, head_dim / 2]
  const float* sin = nullptr;          // [n_positions, head_dim / 2]
  const std::int32_t* positions = nullptr;  // [n_tokens]
  const std::int32_t* slots = nullptr;      // [n_tokens]
  __nv_bfloat16* k_cache = nullptr;    // [n_blocks, n_kv_heads, block_size, head_dim]
  __nv_bfloat16* v_cache = nullptr;    // [n_blocks, n_kv_heads, block_size, head_dim]
  int n_tokens = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int block_size = 0;
};
cudaError_t rope_kv_append(const rope_kv_params& p, cudaStream_t stream);

}  // namespace kairos::cuda::kernels
