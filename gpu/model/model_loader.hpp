#pragma once
// Loading a model from disk: a Hugging Face directory (config.json +
// model.safetensors, or shards with model.safetensors.index.json) or a GGUF v3
// file. Every error names the file and, where one is at fault, the tensor.
#include <string>

#include "gpu/base/result.hpp"
#include "gpu/model/model_config.hpp"
#include "gpu/model/tensor_store.hpp"

namespace kairos {

struct loaded_model {
  model_config config;
  tensor_store tensors;  // HF names, HF shapes
  std::string tokenizer_path;  // tokenizer.json beside the weights, if any ("" otherwise)
};

// Reads a directory (HF) or a .gguf file, by what `path` is.
result<loaded_model> load_model(const std::string& path);
result<loaded_model> load_hf_directory(const std::string& dir);
result<loaded_model> load_gguf(const std::string& file);

// Checks every tensor the config requires: present, right shape, supported dtype.
status check_tensors(const model_config& cfg, const tensor_store& tensors);
// The same, naming `source` (the file or index the tensors were read from)
// when a tensor is missing; a present tensor is named with its own file.
status check_tensors(const model_config& cfg, const tensor_store& tensors, const std::string& source);

}  // namespace kairos
