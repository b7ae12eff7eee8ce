#pragma once
// The memory behind the KV blocks of one device (CPU backend). Indexed by
// (layer, block); which block belongs to whom is kv_block_table's business.
//
// Layouts, chosen so attention vectorises over the 16 keys of a block:
//   K of one block: [n_kv_heads, head_dim, block_size]   (keys transposed)
//   V of one block: [n_kv_heads, block_size, head_dim]
// Elements are F32, or F16 (IEEE binary16 bits in a uint16_t) to halve the
// bytes that decode attention reads (vLLM's and llama.cpp's KV cache dtype).
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace kairos {

enum class kv_dtype { f32, f16 };

std::string_view kv_dtype_name(kv_dtype t);
// "f32" / "float32" / "f16" / "float16"; nullopt for anything else.
std::optional<kv_dtype> parse_kv_dtype(std::string_view s);
inline std::size_t kv_dtype_bytes(kv_dtype t) { return t == kv_dtype::f16 ? 2 : 4; }

struct kv_pool_shape {
  int n_layers = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int n_blocks = 0;
  int block_size = 16;
  kv_dtype dtype = kv_dtype::f32;

  std::size_t elements_per_block() const {  // one of K or V, one layer
    return static_cast<std::size_t>(n_kv_heads) * head_dim * block_size;
  }
  // Bytes of K and V for all layers of one token.
  std::size_t bytes_per_token() const { return 2ull * n_layers * n_kv_heads * head_dim * kv_dtype_bytes(dtype); }
};

class kv_pool {
 public:
  explicit kv_pool(const kv_pool_shape& shape);

  const kv_pool_shape& shape() const { return shape_; }
  std::size_t bytes() const { return 2 * per_layer_ * shape_.n_layers * kv_dtype_bytes(shape_.dtype); }
  // Whether the storage was allocated (false: out of memory, or nothing to hold).
  bool allocated() const { return k_ && v_; }

  // A block's K or V of one layer, as elements of type T: float for an F32
  // pool, std::uint16_t for an F16 one.
  template <class T>
  T* k_block(int layer, int block) {
    assert(sizeof(T) == kv_dtype_bytes(shape_.dtype));
    return reinterpret_cast<T*>(k_.get()) + offset(layer, block);
  }
  template <class T>
  T* v_block(int layer, int block) {
    assert(sizeof(T) == kv_dtype_bytes(shape_.dtype));
    return reinterpret_cast<T*>(v_.get()) + offset(layer, block);
  }
  template <class T>
  const T* k_block(int layer, int block) const {
    assert(sizeof(T) == kv_dtype_bytes(shape_.dtype));
    return reinterpret_cast<const T*>(k_.get()) + offset(layer, block);
  }
  template <class T>
  const T* v_block(int layer, int block) const {
    assert(sizeof(T) == kv_dtype_bytes(shape_.dtype));
    return reinterpret_cast<const T*>(v_.get()) + offset(layer, block);
  }

  // Copies one token's K and V rows of all layers from block slot (src_block,
  // src_slot) of `src` into (dst_block, dst_slot) here: the CPU KV transfer.
  // Throws std::invalid_argument unless both pools have the same layers,
  // heads, head_dim, block size and element type (import checks first).
  void copy_token_from(const kv_pool& src, int src_block, int src_slot, int dst_block, int dst_slot);

 private:
  std::size_t offset(int layer, int block) const {  // in elements
    return static_cast<std::size_t>(layer) * per_layer_ + static_cast<std::size_t>(block) * shape_.elements_per_block();
  }
  struct free_deleter {
    void operator()(std::byte* p) const;
  };
  kv_pool_shape shape_;
  std::size_t per_layer_ = 0;  // elements of K (or V) per layer
  std::unique_ptr<std::byte[], free_deleter> k_;  // [n_layers, n_blocks, n_kv_heads, head_dim, block_size]
  std::unique_ptr<std::byte[], free_deleter> v_;  // [n_layers, n_blocks, n_kv_heads, block_size, head_dim]
};

}  // namespace kairos
