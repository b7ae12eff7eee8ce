#include "gpu/kv/kv_pool.hpp"

#include <cstdlib>
#include <cstring>

#include <sys/mman.h>

namespace kairos {

void kv_pool::free_deleter::operator()(float* p) const { std::free(p); }

// Large pools are 2 MiB aligned and asked to live on huge pages: decode
// attention reads scattered 4-8 KB pieces of them, and with 4 KiB pages
// nearly every piece costs a TLB miss.
static float* alloc_floats(std::size_t n) {
  constexpr std::size_t huge_page = 2u << 20;
  std::size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
  const std::size_t align = bytes >= huge_page ? huge_page : 64;
  bytes = (bytes + align - 1) / align * align;
  auto* p = static_cast<float*>(std::aligned_alloc(align, bytes ? bytes : 64));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p && align == huge_page) madvise(p, bytes, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
  if (p && bytes) std::memset(p, 0, bytes);
  return p;
}

kv_pool::kv_pool(const kv_pool_shape& shape)
    : shape_(shape), per_layer_(static_cast<std::size_t>(shape.n_blocks) * shape.floats_per_block()) {
  k_.reset(alloc_floats(per_layer_ * shape.n_layers));
  v_.reset(alloc_floats(per_layer_ * shape.n_layers));
}

void kv_pool::copy_token_from(const kv_pool& src, int src_block, int src_slot, int dst_block, int dst_slot) {
  const int H = shape_.n_kv_heads, D = shape_.head_dim, B = shape_.block_size;
  for (int l = 0; l < shape_.n_layers; ++l) {
    const float* sk = src.k_block(l, src_block);
    const float* sv = src.v_block(l, src_block);
    float* dk = k_block(l, dst_block);
    float* dv = v_block(l, dst_block);
    for (int h = 0; h < H; ++h) {
      for (int d = 0; d < D; ++d) dk[(h * D + d) * B + dst_slot] = sk[(h * D + d) * B + src_slot];
      std::memcpy(dv + (h * B + dst_slot) * D, sv + (h * B + src_slot) * D, sizeof(float) * D);
    }
  }
}

}  // namespace kairos
