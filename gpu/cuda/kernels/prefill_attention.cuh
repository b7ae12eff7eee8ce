#pragma once
// Causal attention for the prompt part of a ragged batch: tiles of query
// rows against the sequence's keys in the paged cache (its earlier context
// plus the new tokens, already appended), with an online softmax. The
// matrix products run on tensor cores (WMMA, bf16 in, fp32 accumulate).
//
// The query rows of a tile are (token, query head) pairs of one KV head's
// GQA group, so each K/V tile loaded from the cache serves the whole group.
// Host-side plan_prefill_tiles() cuts the batch into tiles; the kernel only
// reads that list.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

namespace kairos::cuda::kernels {

// Query rows per tile; a tile holds tile_rows / group tokens.
inline constexpr int prefill_tile_rows = 64;

struct prefill_tile {
  std::int32_t seq = 0;       // row of block_tables
  std::int32_t token0 = 0;    // first token's row in q / out
  std::int32_t n_tokens = 0;  // tokens in the tile (consecutive rows and positions)
  std::int32_t pos0 = 0;      // first token's position; it attends to keys 0..pos0
};

// A prompt part of the batch: n_tokens consecutive rows from token0, at
// positions pos0.., of the sequence whose block-table row is seq.
struct prefill_span {
  int seq = 0;
  int token0 = 0;
  int n_tokens = 0;
  int pos0 = 0;
};

// Cuts spans into tiles, longest context first so the heavy tiles start
// early. Appends to `tiles` (cleared first).
void plan_prefill_tiles(const prefill_span* spans, int n_spans, int group, std::vector<prefill_tile>& tiles);

struct prefill_attention_params {
  const __nv_bfloat16* q = nullptr;  // [n_rows, q_stride]; head h at h * head_dim
  int q_stride = 0;
  const __nv_bfloat16* k_cache = nullptr;      // [n_blocks, n_kv_heads, block_size, head_dim]
  const __nv_bfloat16* v_cache = nullptr;      // [n_blocks, n_kv_heads, block_size, head_dim]
  const std::int32_t* block_tables = nullptr;  // [n_seqs, max_blocks_per_seq]
  int max_blocks_per_seq = 0;
  const prefill_tile* tiles = nullptr;  // [n_tiles] (device memory)
  int n_tiles = 0;
  __nv_bfloat16* out = nullptr;  // [n_rows, out_stride]; head h at h * head_dim
  int out_stride = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int block_size = 0;
  float scale = 0.f;
};

// Supported: head_dim in {16, 32, 64, 128, 256}; n_heads / n_kv_heads <= 64.
cudaError_t prefill_attention(const prefill_attention_params& p, cudaStream_t stream);

}  // namespace kairos::cuda::kernels
