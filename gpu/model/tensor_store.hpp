#pragma once
// Named raw tensors as a loader read them, before the engine maps them onto
// layers. Loaders normalise to Hugging Face names and shapes, e.g.
// "model.layers.3.self_attn.q_proj.weight" with shape [n_out, n_in], so the
// engine sees one convention whatever the file format.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gpu/base/mapped_file.hpp"
#include "gpu/model/dtype.hpp"

namespace kairos {

struct raw_tensor {
  std::string name;
  dtype type = dtype::f32;
  std::vector<std::int64_t> shape;  // outermost first, as in safetensors/PyTorch
  const std::byte* data = nullptr;  // points into a mapped file or into owned storage
  std::size_t nbytes = 0;
  std::string file;  // the file it came from, for error messages

  std::int64_t numel() const;
};

// A tensor's name, type and shape without its data: what a writer lays out
// before the bytes arrive, and what a config requires of a checkpoint.
struct tensor_spec {
  std::string name;
  dtype type = dtype::f32;
  std::vector<std::int64_t> shape;  // outermost first

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  std::size_t nbytes() const { return dtype_bytes(type, numel()); }
};

class tensor_store {
 public:
  void add(raw_tensor t) { tensors_[t.name] = std::move(t); }
  const raw_tensor* find(const std::string& name) const;
  const std::map<std::string, raw_tensor>& all() const { return tensors_; }
  // Keeps the memory behind the tensors alive (mapped files, converted buffers).
  void keep_alive(std::shared_ptr<const void> owner) { owners_.push_back(std::move(owner)); }
  // Moves every tensor and owner of `other` into this store (same names: other wins).
  void merge(tensor_store&& other) {
    for (auto& [name, t] : other.tensors_) tensors_[name] = std::move(t);
    for (auto& o : other.owners_) owners_.push_back(std::move(o));
    other.tensors_.clear();
    other.owners_.clear();
  }
  // Drops a tensor (its memory stays owned until the store goes).
  void remove(const std::string& name) { tensors_.erase(name); }

 private:
  std::map<std::string, raw_tensor> tensors_;
  std::vector<std::shared_ptr<const void>> owners_;
};

}  // namespace kairos
