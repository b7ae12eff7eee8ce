#pragma once
// The safetensors format: an 8-byte little-endian header length N, N bytes of
// JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...}, then
// the raw little-endian tensor data (offsets relative to the data start).
// Readers map the file and point into it; writers stream one tensor at a time
// so a 16 GB model never sits in memory.
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "gpu/base/result.hpp"
#include "gpu/model/tensor_store.hpp"

namespace kairos {

// Headers above this are refused as corrupt (the reference implementation's limit).
inline constexpr std::size_t safetensors_max_header_bytes = 100u << 20;

// Adds every tensor of one .safetensors file to `out`, pointing into a memory
// map of it; `out` keeps the map alive. Only F32, F16 and BF16 are accepted.
// On error `out` is unchanged and the message names the file (and the tensor).
status read_safetensors(const std::string& path, tensor_store& out);

// Reads a sharded checkpoint through its index (model.safetensors.index.json:
// {"weight_map": {"tensor": "shard file"}}); shards are relative to the index.
status read_safetensors_index(const std::string& index_path, tensor_store& out);

// The start of a file as a writer lays it out.
struct safetensors_layout {
  std::string header;                // JSON, padded with spaces to a multiple of 8 bytes
  std::vector<std::size_t> offsets;  // [n_tensors] data offset of each spec, relative to the data start
  std::vector<std::size_t> order;    // [n_tensors] spec indices in data order
  std::size_t data_bytes = 0;
  std::size_t file_bytes() const { return 8 + header.size() + data_bytes; }
};
// Lays out specs back to back, widest elements first (F32, then F16/BF16),
// otherwise in the given order: the format allows no gaps, and this way every
// tensor starts aligned to its element size. Fails on a dtype safetensors
// cannot express (Q8_0) or a duplicate name.
result<safetensors_layout> safetensors_header(const std::vector<tensor_spec>& specs);

// Appends the next bytes of the tensor being written.
using byte_sink = std::function<status(std::span<const std::byte>)>;
// Writes exactly specs[index].nbytes() bytes through `sink`, in any number of pieces.
using tensor_producer = std::function<status(std::size_t index, const byte_sink& sink)>;

// Writes the header, then asks `produce` for each tensor in data order
// (layout.order: the given order when all tensors share a dtype). The file
// appears at `path` only when complete (written to path + ".tmp", then renamed).
status write_safetensors_streaming(const std::string& path, const std::vector<tensor_spec>& specs,
                                   const tensor_producer& produce);

// Writes tensors already in memory (raw_tensor::data/nbytes), in the given order.
status write_safetensors(const std::string& path, const std::vector<raw_tensor>& tensors);
// Writes every tensor of a store, in name order.
status write_safetensors(const std::string& path, const tensor_store& tensors);

}  // namespace kairos
