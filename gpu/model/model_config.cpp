#include "gpu/model/model_config.hpp"

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "gpu/tokenizer/synthetic_tokenizer.hpp"

namespace kairos {

namespace {

using json = nlohmann::json;

std::string field_error(const std::string& source, const std::string& field, const std::string& what) {
  return source + ": field '" + field + "' " + what;
}

// A present, non-null field.
const json* field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

// Reads an integer field; `required` fields must be present. Floats with an
// integral value (1.0e4 written by some exporters) are accepted.
result<int> get_int(const json& j, const char* name, const std::string& source, bool required, int fallback) {
  const json* v = field(j, name);
  if (!v) {
    if (required) return make_error(field_error(source, name, "is missing"));
    return fallback;
  }
  if (v->is_number_integer()) {
    auto x = v->get<std::int64_t>();
    if (x < INT32_MIN || x > INT32_MAX) return make_error(field_error(source, name, "is out of range"));
    return static_cast<int>(x);
  }
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (d == std::floor(d) && std::fabs(d) < 2e9) return static_cast<int>(d);
  }
  return make_error(field_error(source, name, "must be an integer, got " + v->dump()));
}

result<double> get_number(const json& j, const char* name, const std::string& source, double fallback) {
  const json* v = field(j, name);
  if (!v) return fallback;
  if (!v->is_number()) return make_error(field_error(source, name, "must be a number, got " + v->dump()));
  return v->get<double>();
}

result<bool> get_bool(const json& j, const char* name, const std::string& source, bool fallback) {
  const json* v = field(j, name);
  if (!v) return fallback;
  if (!v->is_boolean()) return make_error(field_error(source, name, "must be true or false, got " + v->dump()));
  return v->get<bool>();
}

// "llama" or "qwen2" from `architectures` (preferred) or `model_type`.
result<std::string> parse_architecture(const json& j, const std::string& source) {
  if (const json* a = field(j, "architectures")) {
    if (!a->is_array() || a->empty() || !(*a)[0].is_string())
      return make_error(field_error(source, "architectures", "must be a non-empty list of strings"));
    std::string name = (*a)[0].get<std::string>();
    if (name == "LlamaForCausalLM" || name == "MistralForCausalLM") return std::string("llama");
    if (name == "Qwen2ForCausalLM") return std::string("qwen2");
    return make_error(field_error(source, "architectures",
                                  "names unsupported '" + name + "' (supported: LlamaForCausalLM, Qwen2ForCausalLM)"));
  }
  if (const json* t = field(j, "model_type")) {
    if (!t->is_string()) return make_error(field_error(source, "model_type", "must be a string"));
    std::string name = t->get<std::string>();
    if (name == "llama" || name == "mistral") return std::string("llama");
    if (name == "qwen2") return std::string("qwen2");
    return make_error(field_error(source, "model_type", "names unsupported '" + name + "' (supported: llama, qwen2)"));
  }
  return make_error(source + ": neither field 'architectures' nor 'model_type' is present");
}

status parse_rope_scaling(const json& j, const std::string& source, rope_scaling_config& out) {
  const json* rs = field(j, "rope_scaling");
  if (!rs) return {};
  if (!rs->is_object()) return make_error(field_error(source, "rope_scaling", "must be an object or null"));
  const json* type = field(*rs, "rope_type");
  std::string type_field = "rope_scaling.rope_type";
  if (!type) {
    type = field(*rs, "type");
    type_field = "rope_scaling.type";
  }
  if (!type || !type->is_string()) return make_error(field_error(source, type_field, "must be a string"));
  std::string t = type->get<std::string>();
  if (t == "default") return {};
  if (t != "llama3")
    return make_error(field_error(source, type_field, "is '" + t + "': only 'llama3' RoPE scaling is supported"));
  out.llama3 = true;
  auto num = [&](const char* name, double fallback) -> result<double> {
    const json* v = field(*rs, name);
    if (!v) return fallback;
    if (!v->is_number())
      return make_error(field_error(source, std::string("rope_scaling.") + name, "must be a number, got " + v->dump()));
    return v->get<double>();
  };
  auto factor = num("factor", 8.0);
  if (!factor) return factor.err();
  auto low = num("low_freq_factor", 1.0);
  if (!low) return low.err();
  auto high = num("high_freq_factor", 4.0);
  if (!high) return high.err();
  auto orig = num("original_max_position_embeddings", 8192.0);
  if (!orig) return orig.err();
  out.factor = static_cast<float>(*factor);
  out.low_freq_factor = static_cast<float>(*low);
  out.high_freq_factor = static_cast<float>(*high);
  out.original_max_position = static_cast<int>(*orig);
  return {};
}

result<dtype> parse_torch_dtype(const json& j, const std::string& source) {
  const char* name = "torch_dtype";
  const json* v = field(j, name);
  if (!v) {  // newer transformers write "dtype"
    name = "dtype";
    v = field(j, name);
  }
  if (!v) return dtype::f32;
  if (!v->is_string()) return make_error(field_error(source, name, "must be a string"));
  std::string s = v->get<std::string>();
  if (s == "float32") return dtype::f32;
  if (s == "float16") return dtype::f16;
  if (s == "bfloat16") return dtype::bf16;
  return make_error(field_error(source, name, "is '" + s + "' (supported: float32, float16, bfloat16)"));
}

result<model_config> parse_config_object(const json& j, const std::string& source) {
  if (!j.is_object()) return make_error(source + ": not a JSON object");
  model_config c;
  auto arch = parse_architecture(j, source);
  if (!arch) return arch.err();
  c.architecture = *arch;

  struct int_field {
    const char* name;
    int* out;
    bool required;
    int fallback;
  };
  const int_field ints[] = {
      {"vocab_size", &c.vocab_size, true, 0},
      {"hidden_size", &c.hidden_size, true, 0},
      {"num_hidden_layers", &c.n_layers, true, 0},
      {"num_attention_heads", &c.n_heads, true, 0},
      {"intermediate_size", &c.ffn_size, true, 0},
      {"max_position_embeddings", &c.max_position, false, 2048},
  };
  for (const auto& f : ints) {
    auto v = get_int(j, f.name, source, f.required, f.fallback);
    if (!v) return v.err();
    *f.out = *v;
  }
  auto kv = get_int(j, "num_key_value_heads", source, false, c.n_heads);
  if (!kv) return kv.err();
  c.n_kv_heads = *kv;
  auto hd = get_int(j, "head_dim", source, false, c.n_heads > 0 ? c.hidden_size / c.n_heads : 0);
  if (!hd) return hd.err();
  c.head_dim = *hd;

  auto eps = get_number(j, "rms_norm_eps", source, 1e-6);
  if (!eps) return eps.err();
  c.rms_eps = static_cast<float>(*eps);
  auto theta = get_number(j, "rope_theta", source, 10000.0);
  if (!theta) return theta.err();
  c.rope_theta = static_cast<float>(*theta);
  if (auto s = parse_rope_scaling(j, source, c.rope_scaling); !s) return s.err();

  auto tie = get_bool(j, "tie_word_embeddings", source, false);
  if (!tie) return tie.err();
  c.tie_embeddings = *tie;
  auto bias = get_bool(j, "attention_bias", source, false);
  if (!bias) return bias.err();
  c.qkv_bias = *bias || c.architecture == "qwen2";
  auto mlp_bias = get_bool(j, "mlp_bias", source, false);
  if (!mlp_bias) return mlp_bias.err();
  if (*mlp_bias) return make_error(field_error(source, "mlp_bias", "is true: MLP biases are not supported"));
  if (const json* act = field(j, "hidden_act"); act && (!act->is_string() || act->get<std::string>() != "silu"))
    return make_error(field_error(source, "hidden_act", "is " + act->dump() + ": only \"silu\" is supported"));

  auto bos = get_int(j, "bos_token_id", source, false, -1);
  if (!bos) return bos.err();
  c.bos_token_id = *bos;
  if (const json* eos = field(j, "eos_token_id")) {
    if (eos->is_number_integer()) {
      c.eos_token_ids.push_back(eos->get<int>());
    } else if (eos->is_array()) {
      for (const auto& e : *eos) {
        if (!e.is_number_integer())
          return make_error(field_error(source, "eos_token_id", "must be an integer or a list of integers"));
        c.eos_token_ids.push_back(e.get<int>());
      }
    } else {
      return make_error(field_error(source, "eos_token_id", "must be an integer or a list of integers"));
    }
  }
  auto dt = parse_torch_dtype(j, source);
  if (!dt) return dt.err();
  c.weight_dtype = *dt;

  if (auto s = c.validate(); !s) return make_error(source + ": " + s.message());
  return c;
}

const char* torch_dtype_name(dtype t) {
  switch (t) {
    case dtype::f16: return "float16";
    case dtype::bf16: return "bfloat16";
    default: return "float32";  // q8_0 has no HF name; it is only ever a GGUF storage type
  }
}

}  // namespace

std::int64_t model_config::n_params() const {
  const std::int64_t h = hidden_size, q = std::int64_t{n_heads} * head_dim, kv = std::int64_t{n_kv_heads} * head_dim;
  std::int64_t per_layer = 2 * h                 // input_layernorm, post_attention_layernorm
                           + q * h + 2 * kv * h  // q_proj, k_proj, v_proj
                           + h * q               // o_proj
                           + 3 * h * ffn_size;   // gate, up, down
  if (qkv_bias) per_layer += q + 2 * kv;
  std::int64_t n = std::int64_t{vocab_size} * h + per_layer * n_layers + h;
  if (!tie_embeddings) n += std::int64_t{vocab_size} * h;
  return n;
}

status model_config::validate() const {
  auto bad = [](const std::string& what) { return make_error("invalid model config: " + what); };
  if (architecture != "llama" && architecture != "qwen2") return bad("architecture '" + architecture + "' unsupported");
  if (vocab_size <= 0) return bad("vocab_size must be positive");
  if (hidden_size <= 0) return bad("hidden_size must be positive");
  if (n_layers <= 0) return bad("num_hidden_layers must be positive");
  if (n_heads <= 0) return bad("num_attention_heads must be positive");
  if (n_kv_heads <= 0) return bad("num_key_value_heads must be positive");
  if (n_heads % n_kv_heads != 0)
    return bad("num_attention_heads (" + std::to_string(n_heads) + ") is not a multiple of num_key_value_heads (" +
               std::to_string(n_kv_heads) + ")");
  if (head_dim <= 0 || head_dim % 2 != 0) return bad("head_dim must be positive and even (RoPE rotates pairs)");
  if (ffn_size <= 0) return bad("intermediate_size must be positive");
  if (max_position <= 0) return bad("max_position_embeddings must be positive");
  if (!(rms_eps > 0.0f)) return bad("rms_norm_eps must be positive");
  if (!(rope_theta > 0.0f)) return bad("rope_theta must be positive");
  if (rope_scaling.llama3) {
    if (!(rope_scaling.factor >= 1.0f)) return bad("rope_scaling.factor must be >= 1");
    if (!(rope_scaling.high_freq_factor > rope_scaling.low_freq_factor) || !(rope_scaling.low_freq_factor > 0.0f))
      return bad("rope_scaling needs 0 < low_freq_factor < high_freq_factor");
    if (rope_scaling.original_max_position <= 0) return bad("rope_scaling.original_max_position_embeddings must be positive");
  }
  if (bos_token_id >= vocab_size) return bad("bos_token_id is not below vocab_size");
  for (int e : eos_token_ids)
    if (e < 0 || e >= vocab_size) return bad("eos_token_id " + std::to_string(e) + " is outside the vocabulary");
  return {};
}

result<model_config> parse_hf_config(const std::string& json_text, const std::string& source) {
  try {
    json j = json::parse(json_text);
    return parse_config_object(j, source);
  } catch (const std::exception& e) {
    return make_error(source + ": invalid JSON: " + e.what());
  }
}

std::string to_hf_config_json(const model_config& cfg) {
  json j;
  const bool qwen = cfg.architecture == "qwen2";
  j["architectures"] = json::array({qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"});
  j["model_type"] = qwen ? "qwen2" : "llama";
  j["vocab_size"] = cfg.vocab_size;
  j["hidden_size"] = cfg.hidden_size;
  j["num_hidden_layers"] = cfg.n_layers;
  j["num_attention_heads"] = cfg.n_heads;
  j["num_key_value_heads"] = cfg.n_kv_heads;
  j["head_dim"] = cfg.head_dim;
  j["intermediate_size"] = cfg.ffn_size;
  j["max_position_embeddings"] = cfg.max_position;
  j["rms_norm_eps"] = cfg.rms_eps;
  j["rope_theta"] = cfg.rope_theta;
  if (cfg.rope_scaling.llama3) {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", cfg.rope_scaling.factor},
                         {"low_freq_factor", cfg.rope_scaling.low_freq_factor},
                         {"high_freq_factor", cfg.rope_scaling.high_freq_factor},
                         {"original_max_position_embeddings", cfg.rope_scaling.original_max_position}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["tie_word_embeddings"] = cfg.tie_embeddings;
  if (!qwen) j["attention_bias"] = cfg.qkv_bias;
  j["hidden_act"] = "silu";
  if (cfg.bos_token_id >= 0) j["bos_token_id"] = cfg.bos_token_id;
  if (cfg.eos_token_ids.size() == 1) {
    j["eos_token_id"] = cfg.eos_token_ids[0];
  } else if (!cfg.eos_token_ids.empty()) {
    j["eos_token_id"] = cfg.eos_token_ids;
  }
  j["torch_dtype"] = torch_dtype_name(cfg.weight_dtype);
  return j.dump(2) + "\n";
}

std::vector<std::string> named_shapes() { return {"tiny", "tiny-qwen2", "smollm2-135m", "llama3-8b"}; }

result<model_config> named_shape(const std::string& name) {
  model_config c;
  c.bos_token_id = synthetic_tokenizer_eos_id;
  c.eos_token_ids = {synthetic_tokenizer_eos_id};
  if (name == "tiny" || name == "tiny-qwen2") {
    // ~3.5M parameters: big enough for GQA (2 query heads per KV head), small
    // enough for unit tests.
    c.vocab_size = 2048;
    c.hidden_size = 256;
    c.n_layers = 4;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 64;
    c.ffn_size = 704;
    c.max_position = 2048;
    c.rope_theta = 10000.0f;
    c.rms_eps = 1e-5f;
    c.tie_embeddings = true;
    if (name == "tiny-qwen2") {  // the other branches of the engine: biases, a separate lm_head
      c.architecture = "qwen2";
      c.qkv_bias = true;
      c.tie_embeddings = false;
    }
  } else if (name == "smollm2-135m") {
    c.vocab_size = 49152;
    c.hidden_size = 576;
    c.n_layers = 30;
    c.n_heads = 9;
    c.n_kv_heads = 3;
    c.head_dim = 64;
    c.ffn_size = 1536;
    c.max_position = 8192;
    c.rope_theta = 100000.0f;
    c.rms_eps = 1e-5f;
    c.tie_embeddings = true;
    c.weight_dtype = dtype::bf16;
  } else if (name == "llama3-8b") {
    c.vocab_size = 128256;
    c.hidden_size = 4096;
    c.n_layers = 32;
    c.n_heads = 32;
    c.n_kv_heads = 8;
    c.head_dim = 128;
    c.ffn_size = 14336;
    c.max_position = 131072;
    c.rope_theta = 500000.0f;
    c.rms_eps = 1e-5f;
    c.rope_scaling = rope_scaling_config{true, 8.0f, 1.0f, 4.0f, 8192};
    c.tie_embeddings = false;
    c.weight_dtype = dtype::bf16;
  } else {
    std::string known;
    for (const auto& n : named_shapes()) known += (known.empty() ? "" : ", ") + n;
    return make_error("unknown model shape '" + name + "' (known: " + known + ")");
  }
  return c;
}

std::vector<tensor_spec> expected_tensors(const model_config& cfg) {
  const std::int64_t h = cfg.hidden_size, f = cfg.ffn_size;
  const std::int64_t q = std::int64_t{cfg.n_heads} * cfg.head_dim, kv = std::int64_t{cfg.n_kv_heads} * cfg.head_dim;
  const dtype t = cfg.weight_dtype;
  std::vector<tensor_spec> specs;
  specs.push_back({"model.embed_tokens.weight", t, {cfg.vocab_size, h}});
  for (int l = 0; l < cfg.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    specs.push_back({p + "input_layernorm.weight", t, {h}});
    specs.push_back({p + "self_attn.q_proj.weight", t, {q, h}});
    specs.push_back({p + "self_attn.k_proj.weight", t, {kv, h}});
    specs.push_back({p + "self_attn.v_proj.weight", t, {kv, h}});
    if (cfg.qkv_bias) {
      specs.push_back({p + "self_attn.q_proj.bias", t, {q}});
      specs.push_back({p + "self_attn.k_proj.bias", t, {kv}});
      specs.push_back({p + "self_attn.v_proj.bias", t, {kv}});
    }
    specs.push_back({p + "self_attn.o_proj.weight", t, {h, q}});
    specs.push_back({p + "post_attention_layernorm.weight", t, {h}});
    specs.push_back({p + "mlp.gate_proj.weight", t, {f, h}});
    specs.push_back({p + "mlp.up_proj.weight", t, {f, h}});
    specs.push_back({p + "mlp.down_proj.weight", t, {h, f}});
  }
  specs.push_back({"model.norm.weight", t, {h}});
  if (!cfg.tie_embeddings) specs.push_back({"lm_head.weight", t, {cfg.vocab_size, h}});
  return specs;
}

bool is_norm_weight(const std::string& name) {
  auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with("layernorm.weight") || name == "model.norm.weight";
}

}  // namespace kairos
