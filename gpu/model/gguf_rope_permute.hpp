#pragma once
// llama.cpp's HF -> GGUF converter reorders the rows of q_proj and k_proj (and
// their biases) for the llama architecture, so that each head's rotary pairs
// are adjacent (GPT-J style, interleaved) instead of half a head apart
// (HF rotate-half). Within every head of head_dim rows, for s in {0, 1} and
// i < head_dim / 2:
//   HF row  h*head_dim + s*(head_dim/2) + i   <->   GGUF row  h*head_dim + 2*i + s
// Qwen2 files are not permuted. Rows move whole, so this works for every
// dtype: a Q8_0 block never crosses a row.
#include <cstddef>
#include <cstdint>

namespace kairos {

// src and dst: [n_heads * head_dim rows, row_bytes each]; they must not overlap.
void rope_rows_hf_to_gguf(const std::byte* src, std::byte* dst, std::int64_t n_heads, std::int64_t head_dim,
                          std::size_t row_bytes);
void rope_rows_gguf_to_hf(const std::byte* src, std::byte* dst, std::int64_t n_heads, std::int64_t head_dim,
                          std::size_t row_bytes);

}  // namespace kairos
