#include "gpu/kv/kv_pool.hpp"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <sys/mman.h>

namespace kairos {

std::string_view kv_dtype_name(kv_dtype t) { return t == kv_dtype::f16 ? "f16" : "f32"; }

std::optional<kv_dtype> parse_kv_dtype(std::string_view s) {
  if (s == "f32" || s == "float32") return kv_dtype::f32;
  if (s == "f16" || s == "float16") return kv_dtype::f16;
  return std::nullopt;
}

void kv_pool::free_deleter::operator()(std::byte* p) const { std::free(p); }

// Large pools are 2 MiB aligned and asked to live on huge pages: decode
// attention reads scattered 2-8 KB pieces of them, and with 4 KiB pages
// nearly every piece costs a TLB miss.
static std::byte* alloc_bytes(std::size_t bytes) {
  constexpr std::size_t huge_page = 2u << 20;
  bytes = (bytes + 63) / 64 * 64;
  const std::size_t align = bytes >= huge_page ? huge_page : 64;
  bytes = (bytes + align - 1) / align * align;
  auto* p = static_cast<std::byte*>(std::aligned_alloc(align, bytes ? bytes : 64));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p && align == huge_page) madvise(p, bytes, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
  if (p && bytes) std::memset(p, 0, bytes);
  return p;
}

kv_pool::kv_pool(const kv_pool_shape& shape)
    : shape_(shape), per_layer_(static_cast<std::size_t>(shape.n_blocks) * shape.elements_per_block()) {
  const std::size_t bytes = per_layer_ * shape.n_layers * kv_dtype_bytes(shape.dtype);
  k_.reset(alloc_bytes(bytes));
  v_.reset(alloc_bytes(bytes));
}

namespace {
template <class T>
void copy_token(const kv_pool& src, kv_pool& dst, int src_block, int src_slot, int dst_block, int dst_slot) {
  const auto& s = dst.shape();
  const int H = s.n_kv_heads, D = s.head_dim, B = s.block_size;
  for (int l = 0; l < s.n_layers; ++l) {
    const T* sk = src.k_block<T>(l, src_block);
    const T* sv = src.v_block<T>(l, src_block);
    T* dk = dst.k_block<T>(l, dst_block);
    T* dv = dst.v_block<T>(l, dst_block);
    for (int h = 0; h < H; ++h) {
      for (int d = 0; d < D; ++d) dk[(h * D + d) * B + dst_slot] = sk[(h * D + d) * B + src_slot];
      std::memcpy(dv + (h * B + dst_slot) * D, sv + (h * B + src_slot) * D, sizeof(T) * D);
    }
  }
}
}  // namespace

void kv_pool::copy_token_from(const kv_pool& src, int src_block, int src_slot, int dst_block, int dst_slot) {
  const auto& a = src.shape_;
  if (a.n_layers != shape_.n_layers || a.n_kv_heads != shape_.n_kv_heads || a.head_dim != shape_.head_dim ||
      a.block_size != shape_.block_size || a.dtype != shape_.dtype)
    throw std::invalid_argument("kv_pool::copy_token_from: pools of different layout or element type");
  if (shape_.dtype == kv_dtype::f16)
    copy_token<std::uint16_t>(src, *this, src_block, src_slot, dst_block, dst_slot);
  else
    copy_token<float>(src, *this, src_block, src_slot, dst_block, dst_slot);
}

}  // namespace kairos
