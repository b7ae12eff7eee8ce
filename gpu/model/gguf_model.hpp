#pragma once
// Llama and Qwen2 models in GGUF, as llama.cpp's converter writes them:
// `{arch}.*` metadata <-> model_config, llama.cpp tensor names <-> Hugging Face
// names, innermost-first dims <-> outermost-first shapes, and for llama the
// q/k row order (see gguf_rope_permute.hpp).
#include <optional>
#include <string>
#include <vector>

#include "gpu/base/result.hpp"
#include "gpu/model/gguf.hpp"
#include "gpu/model/model_config.hpp"
#include "gpu/model/tensor_store.hpp"

namespace kairos {

// "blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight"; "" when
// the name is not a llama/qwen2 tensor.
std::string gguf_to_hf_name(const std::string& gguf_name);
// The inverse; "" when the name has no llama.cpp equivalent.
std::string hf_to_gguf_name(const std::string& hf_name);

// The shape from metadata (`general.architecture` = llama|qwen2, `{arch}.block_count`,
// ...), the vocabulary size from `tokenizer.ggml.tokens`, `{arch}.vocab_size` or
// token_embd, tied embeddings from the absence of output.weight, llama3 RoPE
// scaling from `{arch}.rope.scaling.*` or llama.cpp's rope_freqs.weight.
// Errors name the file and the key.
result<model_config> gguf_model_config(const gguf_file& f);

// Adds the model's tensors to `out` with HF names and shapes. They point into
// f.map (kept alive by `out`), except llama q/k weights and biases, whose rows
// are put back into HF order in copies that `out` keeps alive.
status gguf_model_tensors(const gguf_file& f, const model_config& cfg, tensor_store& out);

// llama.cpp's rope_freqs.weight for llama3 scaling: [head_dim / 2] divisors of
// the RoPE frequencies (1 for high frequencies, factor for low, smooth between).
std::vector<float> llama3_rope_factors(const model_config& cfg);

struct gguf_model_write_options {
  // Stores every 2-D weight as this type (Q8_0 quantises); nullopt keeps each
  // tensor's own type. Norm weights and biases are always F32, as in llama.cpp.
  std::optional<dtype> matrix_type;
  std::vector<std::string> tokens;  // tokenizer.ggml.tokens; empty: only {arch}.vocab_size is written
  std::string name = "kairos";      // general.name
};

// Writes an HF-named model (e.g. from load_hf_directory) as a GGUF v3 file that
// gguf_model_config/gguf_model_tensors read back to the same config and
// tensors (up to the conversion asked for). Holds one converted tensor at a time.
status write_gguf_model(const std::string& path, const model_config& cfg, const tensor_store& tensors,
                        const gguf_model_write_options& opts = {});

}  // namespace kairos
