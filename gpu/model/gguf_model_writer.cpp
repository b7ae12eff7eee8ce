// Writing an HF-named llama/qwen2 model as GGUF, as llama.cpp's converter lays it out.
#include "gpu/model/gguf_convert.hpp"
#include "gpu/model/gguf_model.hpp"
#include "gpu/model/gguf_rope_permute.hpp"

namespace kairos {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::pair<std::string, gguf_value>> model_metadata(const model_config& cfg,
                                                               const gguf_model_write_options& opts) {
  using v = gguf_value;
  const std::string p = cfg.architecture + ".";
  std::vector<std::pair<std::string, gguf_value>> md = {
      {"general.architecture", v::of_string(cfg.architecture)},
      {"general.name", v::of_string(opts.name)},
      {p + "vocab_size", v::of_u32(static_cast<std::uint32_t>(cfg.vocab_size))},
      {p + "context_length", v::of_u32(static_cast<std::uint32_t>(cfg.max_position))},
      {p + "embedding_length", v::of_u32(static_cast<std::uint32_t>(cfg.hidden_size))},
      {p + "block_count", v::of_u32(static_cast<std::uint32_t>(cfg.n_layers))},
      {p + "feed_forward_length", v::of_u32(static_cast<std::uint32_t>(cfg.ffn_size))},
      {p + "rope.dimension_count", v::of_u32(static_cast<std::uint32_t>(cfg.head_dim))},
      {p + "attention.head_count", v::of_u32(static_cast<std::uint32_t>(cfg.n_heads))},
      {p + "attention.head_count_kv", v::of_u32(static_cast<std::uint32_t>(cfg.n_kv_heads))},
      {p + "attention.key_length", v::of_u32(static_cast<std::uint32_t>(cfg.head_dim))},
      {p + "attention.value_length", v::of_u32(static_cast<std::uint32_t>(cfg.head_dim))},
      {p + "attention.layer_norm_rms_epsilon", v::of_f32(cfg.rms_eps)},
      {p + "rope.freq_base", v::of_f32(cfg.rope_theta)},
  };
  if (cfg.rope_scaling.llama3) {
    // llama.cpp itself reads rope_freqs.weight; the keys keep the exact numbers for us.
    md.push_back({p + "rope.scaling.type", v::of_string("llama3")});
    md.push_back({p + "rope.scaling.factor", v::of_f32(cfg.rope_scaling.factor)});
    md.push_back({p + "rope.scaling.low_freq_factor", v::of_f32(cfg.rope_scaling.low_freq_factor)});
    md.push_back({p + "rope.scaling.high_freq_factor", v::of_f32(cfg.rope_scaling.high_freq_factor)});
    md.push_back({p + "rope.scaling.original_context_length",
                  v::of_u32(static_cast<std::uint32_t>(cfg.rope_scaling.original_max_position))});
  }
  if (cfg.bos_token_id >= 0) md.push_back({"tokenizer.ggml.bos_token_id", v::of_u32(static_cast<std::uint32_t>(cfg.bos_token_id))});
  // GGUF has one EOS key; the others in a list have no faithful home.
  if (!cfg.eos_token_ids.empty())
    md.push_back({"tokenizer.ggml.eos_token_id", v::of_u32(static_cast<std::uint32_t>(cfg.eos_token_ids[0]))});
  if (!opts.tokens.empty()) md.push_back({"tokenizer.ggml.tokens", v::of_strings(opts.tokens)});
  return md;
}

}  // namespace

status write_gguf_model(const std::string& path, const model_config& cfg, const tensor_store& tensors,
                        const gguf_model_write_options& opts) {
  if (auto s = cfg.validate(); !s) return make_error(path + ": " + s.message());
  if (!opts.tokens.empty() && static_cast<int>(opts.tokens.size()) != cfg.vocab_size)
    return make_error(path + ": " + std::to_string(opts.tokens.size()) + " tokens for a vocabulary of " +
                      std::to_string(cfg.vocab_size));
  const bool permute = cfg.architecture == "llama";
  std::vector<gguf_tensor_out> outs;
  for (const auto& spec : expected_tensors(cfg)) {
    const raw_tensor* src = tensors.find(spec.name);
    if (!src) return make_error(path + ": missing tensor " + spec.name);
    if (src->shape != spec.shape || src->nbytes != dtype_bytes(src->type, src->numel()))
      return make_error(path + ": tensor " + spec.name + " does not have the shape the config requires");
    gguf_tensor_out o;
    o.name = hf_to_gguf_name(spec.name);
    const dtype to = src->shape.size() == 1 ? dtype::f32 : opts.matrix_type.value_or(src->type);
    if (to == dtype::q8_0 && src->shape.back() % q8_0_block != 0)
      return make_error(path + ": tensor " + spec.name + " has rows of " + std::to_string(src->shape.back()) +
                        " values; Q8_0 needs a multiple of 32");
    o.ggml_type = ggml_from_dtype(to);
    for (auto it = src->shape.rbegin(); it != src->shape.rend(); ++it) o.dims.push_back(static_cast<std::uint64_t>(*it));
    o.nbytes = dtype_bytes(to, src->numel());
    const bool is_q = ends_with(spec.name, "q_proj.weight") || ends_with(spec.name, "q_proj.bias");
    const bool is_k = ends_with(spec.name, "k_proj.weight") || ends_with(spec.name, "k_proj.bias");
    const std::int64_t heads = (permute && is_q) ? cfg.n_heads : (permute && is_k) ? cfg.n_kv_heads : 0;
    if (to == src->type && heads == 0) {
      o.data = {src->data, src->nbytes};  // written straight from the source
    } else {
      o.produce = [src, to, heads, &cfg]() -> result<std::vector<std::byte>> {
        auto converted = convert_tensor_data(src->type, src->data, src->numel(), to);
        if (!converted || heads == 0) return converted;
        std::vector<std::byte> permuted(converted->size());  // [rows, row_bytes] in GGUF order
        rope_rows_hf_to_gguf(converted->data(), permuted.data(), heads, cfg.head_dim,
                             converted->size() / static_cast<std::size_t>(src->shape[0]));
        return permuted;
      };
    }
    outs.push_back(std::move(o));
  }
  std::vector<float> rope_factors;  // [head_dim / 2], alive until the write ends
  if (cfg.rope_scaling.llama3) {
    rope_factors = llama3_rope_factors(cfg);
    gguf_tensor_out o;
    o.name = "rope_freqs.weight";
    o.ggml_type = ggml_type::f32;
    o.dims = {rope_factors.size()};
    o.nbytes = rope_factors.size() * sizeof(float);
    o.data = {reinterpret_cast<const std::byte*>(rope_factors.data()), o.nbytes};
    outs.push_back(std::move(o));
  }
  return write_gguf(path, model_metadata(cfg, opts), outs);
}

}  // namespace kairos
