// Reading a llama/qwen2 model out of a parsed GGUF file.
#include <algorithm>
#include <cmath>
#include <memory>
#include <numbers>

#include "gpu/model/gguf_model.hpp"
#include "gpu/model/gguf_rope_permute.hpp"

namespace kairos {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// An owned, 8-byte aligned buffer of n bytes.
std::shared_ptr<std::byte[]> aligned_buffer(std::size_t n) {
  auto words = std::shared_ptr<std::uint64_t[]>(new std::uint64_t[(n + 7) / 8]);
  return std::shared_ptr<std::byte[]>(words, reinterpret_cast<std::byte*>(words.get()));
}

class metadata_reader {
 public:
  explicit metadata_reader(const gguf_file& f) : f_(f) {}

  result<std::int64_t> integer(const std::string& key, std::optional<std::int64_t> fallback) const {
    const gguf_value* v = f_.find(key);
    if (!v) {
      if (fallback) return *fallback;
      return make_error(f_.path + ": metadata " + key + " is missing");
    }
    auto x = v->as_int();
    if (!x || *x < INT32_MIN || *x > INT32_MAX)
      return make_error(f_.path + ": metadata " + key + " must be an integer, is " + gguf_type_name(v->type));
    return *x;
  }
  result<double> number(const std::string& key, double fallback) const {
    const gguf_value* v = f_.find(key);
    if (!v) return fallback;
    auto x = v->as_float();
    if (!x) return make_error(f_.path + ": metadata " + key + " must be a number, is " + gguf_type_name(v->type));
    return *x;
  }

 private:
  const gguf_file& f_;
};

// Fills cfg.rope_scaling from `{arch}.rope.scaling.*` keys, or else by
// recognising llama.cpp's rope_freqs.weight as llama3 scaling.
status read_rope_scaling(const gguf_file& f, const metadata_reader& md, model_config& cfg) {
  const std::string p = cfg.architecture + ".rope.scaling.";
  auto orig = md.integer(p + "original_context_length", 8192);
  if (!orig) return orig.err();
  if (const gguf_value* type = f.find(p + "type")) {
    if (type->type != gguf_type::string) return make_error(f.path + ": metadata " + p + "type must be a string");
    if (type->str == "none") return {};
    if (type->str != "llama3")
      return make_error(f.path + ": metadata " + p + "type is '" + type->str + "': only llama3 RoPE scaling is supported");
    auto factor = md.number(p + "factor", 8.0);
    if (!factor) return factor.err();
    auto low = md.number(p + "low_freq_factor", 1.0);
    if (!low) return low.err();
    auto high = md.number(p + "high_freq_factor", 4.0);
    if (!high) return high.err();
    cfg.rope_scaling = {true, static_cast<float>(*factor), static_cast<float>(*low), static_cast<float>(*high),
                        static_cast<int>(*orig)};
    return {};
  }
  const gguf_tensor_info* rf = f.find_tensor("rope_freqs.weight");
  if (!rf) return {};
  const std::int64_t half = cfg.head_dim / 2;
  if (rf->dims.size() != 1 || static_cast<std::int64_t>(rf->dims[0]) != half)
    return make_error(f.path + ": tensor rope_freqs.weight should have " + std::to_string(half) + " values");
  std::vector<float> got(static_cast<std::size_t>(half));  // [head_dim / 2]
  convert_to_f32(rf->type, rf->data, got.data(), half);
  const float factor = *std::max_element(got.begin(), got.end());
  if (factor <= 1.0f + 1e-6f) return {};  // all ones: no scaling
  // llama.cpp keeps only the factors; Llama 3.x configs all use low 1, high 4.
  model_config guess = cfg;
  guess.rope_scaling = {true, factor, 1.0f, 4.0f, static_cast<int>(*orig)};
  std::vector<float> want = llama3_rope_factors(guess);
  for (std::int64_t i = 0; i < half; ++i)
    if (std::fabs(want[i] - got[i]) > 1e-3f * want[i])
      return make_error(f.path + ": tensor rope_freqs.weight does not match llama3 RoPE scaling (factor " +
                        std::to_string(factor) + ", low 1, high 4, original " + std::to_string(*orig) +
                        "); other RoPE scalings are not supported");
  cfg.rope_scaling = guess.rope_scaling;
  return {};
}

}  // namespace

std::vector<float> llama3_rope_factors(const model_config& cfg) {
  const auto& rs = cfg.rope_scaling;
  const double dim = cfg.head_dim;
  const double low_wavelen = rs.original_max_position / rs.low_freq_factor;
  const double high_wavelen = rs.original_max_position / rs.high_freq_factor;
  std::vector<float> factors;  // [head_dim / 2]
  for (int i = 0; i < cfg.head_dim / 2; ++i) {
    const double freq = std::pow(static_cast<double>(cfg.rope_theta), -2.0 * i / dim);
    const double wavelen = 2.0 * std::numbers::pi / freq;
    if (wavelen < high_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      factors.push_back(rs.factor);
    } else {
      const double smooth =
          (rs.original_max_position / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
      factors.push_back(static_cast<float>(1.0 / ((1.0 - smooth) / rs.factor + smooth)));
    }
  }
  return factors;
}

result<model_config> gguf_model_config(const gguf_file& f) {
  const gguf_value* a = f.find("general.architecture");
  if (!a || a->type != gguf_type::string) return make_error(f.path + ": metadata general.architecture is missing");
  if (a->str != "llama" && a->str != "qwen2")
    return make_error(f.path + ": metadata general.architecture is '" + a->str + "': unsupported (supported: llama, qwen2)");
  model_config c;
  c.architecture = a->str;
  const std::string p = c.architecture + ".";
  metadata_reader md(f);

  struct int_key {
    const char* key;
    int* out;
    std::optional<std::int64_t> fallback;
  };
  const int_key ints[] = {
      {"block_count", &c.n_layers, std::nullopt},
      {"embedding_length", &c.hidden_size, std::nullopt},
      {"feed_forward_length", &c.ffn_size, std::nullopt},
      {"attention.head_count", &c.n_heads, std::nullopt},
      {"context_length", &c.max_position, 2048},
  };
  for (const auto& k : ints) {
    auto v = md.integer(p + k.key, k.fallback);
    if (!v) return v.err();
    *k.out = static_cast<int>(*v);
  }
  auto kv = md.integer(p + "attention.head_count_kv", c.n_heads);
  if (!kv) return kv.err();
  c.n_kv_heads = static_cast<int>(*kv);
  auto rope_dims = md.integer(p + "rope.dimension_count", c.n_heads > 0 ? c.hidden_size / c.n_heads : 0);
  if (!rope_dims) return rope_dims.err();
  auto hd = md.integer(p + "attention.key_length", *rope_dims);
  if (!hd) return hd.err();
  c.head_dim = static_cast<int>(*hd);
  auto eps = md.number(p + "attention.layer_norm_rms_epsilon", 1e-5);
  if (!eps) return eps.err();
  c.rms_eps = static_cast<float>(*eps);
  auto theta = md.number(p + "rope.freq_base", 10000.0);
  if (!theta) return theta.err();
  c.rope_theta = static_cast<float>(*theta);

  const gguf_tensor_info* embd = f.find_tensor("token_embd.weight");
  if (const gguf_value* tokens = f.find("tokenizer.ggml.tokens"); tokens && tokens->type == gguf_type::array) {
    c.vocab_size = static_cast<int>(tokens->items.size());
  } else if (f.find(p + "vocab_size")) {
    auto v = md.integer(p + "vocab_size", std::nullopt);
    if (!v) return v.err();
    c.vocab_size = static_cast<int>(*v);
  } else if (embd && embd->dims.size() == 2) {
    c.vocab_size = static_cast<int>(embd->dims[1]);
  } else {
    return make_error(f.path + ": no vocabulary size (tokenizer.ggml.tokens, " + p + "vocab_size or token_embd.weight)");
  }

  auto bos = md.integer("tokenizer.ggml.bos_token_id", -1);
  if (!bos) return bos.err();
  c.bos_token_id = static_cast<int>(*bos);
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    if (!f.find(key)) continue;
    auto e = md.integer(key, std::nullopt);
    if (!e) return e.err();
    if (std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), *e) == c.eos_token_ids.end())
      c.eos_token_ids.push_back(static_cast<int>(*e));
  }

  c.tie_embeddings = f.find_tensor("output.weight") == nullptr;
  c.qkv_bias = c.architecture == "qwen2" || f.find_tensor("blk.0.attn_q.bias") != nullptr;
  if (const gguf_tensor_info* q = f.find_tensor("blk.0.attn_q.weight")) {
    c.weight_dtype = q->type;
  } else if (embd) {
    c.weight_dtype = embd->type;
  }
  if (auto s = read_rope_scaling(f, md, c); !s) return s.err();
  if (auto s = c.validate(); !s) return make_error(f.path + ": " + s.message());
  return c;
}

status gguf_model_tensors(const gguf_file& f, const model_config& cfg, tensor_store& out) {
  tensor_store staged;
  const bool permuted = cfg.architecture == "llama";
  for (const auto& t : f.tensors) {
    if (t.name == "rope_freqs.weight") continue;  // folded into cfg.rope_scaling
    raw_tensor r;
    r.name = gguf_to_hf_name(t.name);
    if (r.name.empty()) r.name = t.name;  // not a llama tensor: kept under its own name, unused
    r.type = t.type;
    for (auto it = t.dims.rbegin(); it != t.dims.rend(); ++it) r.shape.push_back(static_cast<std::int64_t>(*it));
    r.data = t.data;
    r.nbytes = t.nbytes;
    r.file = f.path;

    const bool is_q = ends_with(r.name, "self_attn.q_proj.weight") || ends_with(r.name, "self_attn.q_proj.bias");
    const bool is_k = ends_with(r.name, "self_attn.k_proj.weight") || ends_with(r.name, "self_attn.k_proj.bias");
    const std::size_t align = r.type == dtype::f32 ? 4 : 2;
    if (permuted && (is_q || is_k)) {
      const std::int64_t heads = is_q ? cfg.n_heads : cfg.n_kv_heads;
      const std::int64_t rows = r.shape[0];
      if (rows != heads * cfg.head_dim)
        return make_error(f.path + ": tensor " + t.name + " has " + std::to_string(rows) + " rows, expected " +
                          std::to_string(heads * cfg.head_dim) + " (" + std::to_string(heads) + " heads x " +
                          std::to_string(cfg.head_dim) + ")");
      if (r.shape.size() == 1 && r.type == dtype::q8_0)
        return make_error(f.path + ": tensor " + t.name + " is a Q8_0 vector, whose rows cannot be reordered");
      auto buf = aligned_buffer(r.nbytes);  // [rows, row_bytes] in HF order
      rope_rows_gguf_to_hf(r.data, buf.get(), heads, cfg.head_dim, r.nbytes / static_cast<std::size_t>(rows));
      r.data = buf.get();
      staged.keep_alive(buf);
    } else if (reinterpret_cast<std::uintptr_t>(r.data) % align != 0) {  // only with alignment < 4
      auto buf = aligned_buffer(r.nbytes);
      std::copy(r.data, r.data + r.nbytes, buf.get());
      r.data = buf.get();
      staged.keep_alive(buf);
    }
    staged.add(std::move(r));
  }
  staged.keep_alive(f.map);
  out.merge(std::move(staged));
  return {};
}

}  // namespace kairos
