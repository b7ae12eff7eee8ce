#pragma once
// The shape of a Llama-family decoder (Llama 2/3, SmolLM2, Qwen2/3-style qkv bias).
#include <cstdint>
#include <string>
#include <vector>

#include "gpu/base/result.hpp"
#include "gpu/model/dtype.hpp"
#include "gpu/model/tensor_store.hpp"

namespace kairos {

// Llama 3.x frequency-dependent RoPE scaling ("rope_type": "llama3").
struct rope_scaling_config {
  bool llama3 = false;
  float factor = 1.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_position = 8192;
};

struct model_config {
  std::string architecture = "llama";  // "llama" or "qwen2"
  int vocab_size = 0;
  int hidden_size = 0;
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;  // hidden_size / n_heads unless the config says otherwise
  int ffn_size = 0;
  int max_position = 2048;
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  rope_scaling_config rope_scaling;
  bool tie_embeddings = false;
  bool qkv_bias = false;  // Qwen2
  int bos_token_id = -1;
  std::vector<int> eos_token_ids;
  dtype weight_dtype = dtype::f32;  // as stored

  std::int64_t n_params() const;
  // Checks that the numbers are positive and consistent (heads divide, ...).
  status validate() const;
};

// Parses a Hugging Face config.json text. `source` names the file in errors.
result<model_config> parse_hf_config(const std::string& json_text, const std::string& source);
// Writes a Hugging Face config.json text for this shape.
std::string to_hf_config_json(const model_config& cfg);

// Named shapes for `kairos mkmodel`: "tiny", "smollm2-135m", "llama3-8b".
result<model_config> named_shape(const std::string& name);
std::vector<std::string> named_shapes();

// Every tensor this shape requires, with Hugging Face names and shapes and
// type cfg.weight_dtype, in checkpoint order: embeddings, layer by layer, final
// norm, then lm_head unless tied. q/k/v biases are included when qkv_bias.
std::vector<tensor_spec> expected_tensors(const model_config& cfg);

// True for RMSNorm weights (initialised to 1, not random).
bool is_norm_weight(const std::string& tensor_name);

}  // namespace kairos
