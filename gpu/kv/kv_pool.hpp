#pragma once
// The memory behind the KV blocks of one device (CPU backend). Indexed by
// (layer, block); which block belongs to whom is kv_block_table's business.
//
// Layouts, chosen so attention vectorises over the 16 keys of a block:
//   K of one block: [n_kv_heads, head_dim, block_size]   (keys transposed)
//   V of one block: [n_kv_heads, block_size, head_dim]
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace kairos {

struct kv_pool_shape {
  int n_layers = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int n_blocks = 0;
  int block_size = 16;

  std::size_t floats_per_block() const {  // one of K or V, one layer
    return static_cast<std::size_t>(n_kv_heads) * head_dim * block_size;
  }
  // Bytes of K and V for all layers of one token.
  std::size_t bytes_per_token() const { return 2ull * n_layers * n_kv_heads * head_dim * sizeof(float); }
};

class kv_pool {
 public:
  explicit kv_pool(const kv_pool_shape& shape);

  const kv_pool_shape& shape() const { return shape_; }
  std::size_t bytes() const { return 2 * per_layer_ * shape_.n_layers * sizeof(float); }

  float* k_block(int layer, int block) { return k_.get() + offset(layer, block); }
  float* v_block(int layer, int block) { return v_.get() + offset(layer, block); }
  const float* k_block(int layer, int block) const { return k_.get() + offset(layer, block); }
  const float* v_block(int layer, int block) const { return v_.get() + offset(layer, block); }

  // Copies one token's K and V rows of all layers from block slot (src_block,
  // src_slot) of `src` into (dst_block, dst_slot) here: the CPU KV transfer.
  void copy_token_from(const kv_pool& src, int src_block, int src_slot, int dst_block, int dst_slot);

 private:
  std::size_t offset(int layer, int block) const {
    return static_cast<std::size_t>(layer) * per_layer_ + static_cast<std::size_t>(block) * shape_.floats_per_block();
  }
  struct free_deleter {
    void operator()(float* p) const;
  };
  kv_pool_shape shape_;
  std::size_t per_layer_ = 0;  // floats of K (or V) per layer
  std::unique_ptr<float[], free_deleter> k_;  // [n_layers, n_blocks, n_kv_heads, head_dim, block_size]
  std::unique_ptr<float[], free_deleter> v_;  // [n_layers, n_blocks, n_kv_heads, block_size, head_dim]
};

}  // namespace kairos
