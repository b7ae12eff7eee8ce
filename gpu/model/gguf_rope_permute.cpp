#include "gpu/model/gguf_rope_permute.hpp"

#include <cstring>

namespace kairos {

namespace {

// GGUF row of the HF row (s, i) of a head, relative to the head's first row.
inline std::int64_t gguf_row(std::int64_t s, std::int64_t i) { return 2 * i + s; }
inline std::int64_t hf_row(std::int64_t s, std::int64_t i, std::int64_t half) { return s * half + i; }

// Moves every row of every head between the two layouts; to_gguf picks the direction.
void permute_rope_rows(const std::byte* src, std::byte* dst, std::int64_t n_heads, std::int64_t head_dim,
                       std::size_t row_bytes, bool to_gguf) {
  const std::int64_t half = head_dim / 2;
  for (std::int64_t h = 0; h < n_heads; ++h) {
    const std::byte* s_head = src + static_cast<std::size_t>(h * head_dim) * row_bytes;
    std::byte* d_head = dst + static_cast<std::size_t>(h * head_dim) * row_bytes;
    for (std::int64_t s = 0; s < 2; ++s)
      for (std::int64_t i = 0; i < half; ++i) {
        const std::int64_t g = gguf_row(s, i), f = hf_row(s, i, half);
        std::memcpy(d_head + static_cast<std::size_t>(to_gguf ? g : f) * row_bytes,
                    s_head + static_cast<std::size_t>(to_gguf ? f : g) * row_bytes, row_bytes);
      }
  }
}

}  // namespace

void rope_rows_hf_to_gguf(const std::byte* src, std::byte* dst, std::int64_t n_heads, std::int64_t head_dim,
                          std::size_t row_bytes) {
  permute_rope_rows(src, dst, n_heads, head_dim, row_bytes, /*to_gguf=*/true);
}

void rope_rows_gguf_to_hf(const std::byte* src, std::byte* dst, std::int64_t n_heads, std::int64_t head_dim,
                          std::size_t row_bytes) {
  permute_rope_rows(src, dst, n_heads, head_dim, row_bytes, /*to_gguf=*/false);
}

}  // namespace kairos
