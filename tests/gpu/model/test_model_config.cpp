// model_config: parsing HF config.json, writing it back, named shapes, sizes.
#include <doctest/doctest.h>

#include <string>

#include "gpu/model/model_config.hpp"

using namespace kairos;

namespace {

// Meta's Llama-3.1-8B-Instruct config.json, as published.
const char* llama31_8b = R"({
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 128000,
  "eos_token_id": [128001, 128008, 128009],
  "hidden_act": "silu",
  "hidden_size": 4096,
  "initializer_range": 0.02,
  "intermediate_size": 14336,
  "max_position_embeddings": 131072,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 32,
  "num_key_value_heads": 8,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.42.3",
  "use_cache": true,
  "vocab_size": 128256
})";

// Qwen2.5-0.5B-Instruct: qkv biases from the model type, tied embeddings.
const char* qwen25_05b = R"({
  "architectures": ["Qwen2ForCausalLM"],
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "hidden_act": "silu",
  "hidden_size": 896,
  "initializer_range": 0.02,
  "intermediate_size": 4864,
  "max_position_embeddings": 32768,
  "max_window_layers": 21,
  "model_type": "qwen2",
  "num_attention_heads": 14,
  "num_hidden_layers": 24,
  "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0,
  "sliding_window": 32768,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
})";

// A minimal config with `key` replaced by `value` (JSON text) or removed ("").
std::string tiny_with(const std::string& key, const std::string& value) {
  std::string fields[][2] = {{"architectures", R"(["LlamaForCausalLM"])"},
                             {"vocab_size", "2048"},
                             {"hidden_size", "256"},
                             {"num_hidden_layers", "4"},
                             {"num_attention_heads", "4"},
                             {"num_key_value_heads", "2"},
                             {"intermediate_size", "704"}};
  std::string s = "{";
  bool replaced = false;
  for (auto& f : fields) {
    std::string v = f[1];
    if (f[0] == key) {
      replaced = true;
      if (value.empty()) continue;
      v = value;
    }
    s += (s.size() > 1 ? ", \"" : "\"") + f[0] + "\": " + v;
  }
  if (!replaced && !value.empty()) s += ", \"" + key + "\": " + value;
  return s + "}";
}

}  // namespace

TEST_CASE("parse_hf_config reads Llama 3.1 8B") {
  auto c = parse_hf_config(llama31_8b, "llama/config.json");
  REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.message()));
  CHECK(c->architecture == "llama");
  CHECK(c->vocab_size == 128256);
  CHECK(c->hidden_size == 4096);
  CHECK(c->n_layers == 32);
  CHECK(c->n_heads == 32);
  CHECK(c->n_kv_heads == 8);
  CHECK(c->head_dim == 128);
  CHECK(c->ffn_size == 14336);
  CHECK(c->max_position == 131072);
  CHECK(c->rms_eps == doctest::Approx(1e-5));
  CHECK(c->rope_theta == doctest::Approx(500000.0));
  CHECK(c->rope_scaling.llama3);
  CHECK(c->rope_scaling.factor == 8.0f);
  CHECK(c->rope_scaling.low_freq_factor == 1.0f);
  CHECK(c->rope_scaling.high_freq_factor == 4.0f);
  CHECK(c->rope_scaling.original_max_position == 8192);
  CHECK_FALSE(c->tie_embeddings);
  CHECK_FALSE(c->qkv_bias);
  CHECK(c->bos_token_id == 128000);
  CHECK(c->eos_token_ids == std::vector<int>{128001, 128008, 128009});
  CHECK(c->weight_dtype == dtype::bf16);
  CHECK(c->n_params() == 8030261248);  // the published parameter count of Llama 3.1 8B
}

TEST_CASE("parse_hf_config reads Qwen2.5 0.5B: qkv bias from the model type, tied, single eos") {
  auto c = parse_hf_config(qwen25_05b, "qwen/config.json");
  REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.message()));
  CHECK(c->architecture == "qwen2");
  CHECK(c->qkv_bias);
  CHECK(c->tie_embeddings);
  CHECK(c->head_dim == 64);
  CHECK(c->n_kv_heads == 2);
  CHECK(c->eos_token_ids == std::vector<int>{151645});
  CHECK_FALSE(c->rope_scaling.llama3);
  CHECK(c->n_params() == 494032768);  // Qwen2.5-0.5B: 0.49B
}

TEST_CASE("parse_hf_config defaults: kv heads = heads, head_dim = hidden/heads, explicit head_dim wins") {
  auto c = parse_hf_config(tiny_with("num_key_value_heads", ""), "c.json");
  REQUIRE(c.ok());
  CHECK(c->n_kv_heads == 4);
  CHECK(c->head_dim == 64);
  CHECK(c->weight_dtype == dtype::f32);
  CHECK(c->bos_token_id == -1);
  CHECK(c->eos_token_ids.empty());
  auto h = parse_hf_config(tiny_with("head_dim", "32"), "c.json");
  REQUIRE(h.ok());
  CHECK(h->head_dim == 32);
  auto n = parse_hf_config(tiny_with("head_dim", "null"), "c.json");
  REQUIRE(n.ok());
  CHECK(n->head_dim == 64);
  auto b = parse_hf_config(tiny_with("attention_bias", "true"), "c.json");
  REQUIRE(b.ok());
  CHECK(b->qkv_bias);
  auto t = parse_hf_config(tiny_with("model_type", "\"qwen2\""), "c.json");
  REQUIRE(t.ok());
  CHECK(t->architecture == "llama");  // architectures wins over model_type
  auto only_type = parse_hf_config(tiny_with("architectures", "").insert(1, "\"model_type\": \"qwen2\", "), "c.json");
  REQUIRE_MESSAGE(only_type.ok(), (only_type.ok() ? "" : only_type.message()));
  CHECK(only_type->architecture == "qwen2");
  CHECK(only_type->qkv_bias);
}

TEST_CASE("parse_hf_config errors name the file and the field") {
  struct bad_case {
    std::string text;
    std::string field;
  };
  const bad_case cases[] = {
      {tiny_with("hidden_size", ""), "'hidden_size' is missing"},
      {tiny_with("vocab_size", "\"big\""), "'vocab_size' must be an integer"},
      {tiny_with("rms_norm_eps", "\"tiny\""), "'rms_norm_eps' must be a number"},
      {tiny_with("tie_word_embeddings", "1"), "'tie_word_embeddings' must be true or false"},
      {tiny_with("architectures", R"(["GPT2LMHeadModel"])"), "'architectures'"},
      {tiny_with("rope_scaling", R"({"rope_type": "yarn", "factor": 4.0})"), "'rope_scaling.rope_type'"},
      {tiny_with("rope_scaling", R"({"type": "linear", "factor": 2.0})"), "'rope_scaling.type'"},
      {tiny_with("rope_scaling", R"({"rope_type": "llama3", "factor": "eight"})"), "'rope_scaling.factor'"},
      {tiny_with("eos_token_id", R"([1, "two"])"), "'eos_token_id'"},
      {tiny_with("torch_dtype", "\"float8_e4m3fn\""), "'torch_dtype'"},
      {tiny_with("hidden_act", "\"gelu\""), "'hidden_act'"},
      {tiny_with("mlp_bias", "true"), "'mlp_bias'"},
  };
  for (const auto& bc : cases) {
    CAPTURE(bc.text);
    auto c = parse_hf_config(bc.text, "/models/x/config.json");
    REQUIRE_FALSE(c.ok());
    CHECK(c.message().find("/models/x/config.json") != std::string::npos);
    CHECK_MESSAGE(c.message().find(bc.field) != std::string::npos, c.message());
  }
  auto broken = parse_hf_config("{\"vocab_size\": 12,", "cfg.json");
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.message().find("cfg.json: invalid JSON") == 0);
  auto inconsistent = parse_hf_config(tiny_with("num_key_value_heads", "3"), "cfg.json");
  REQUIRE_FALSE(inconsistent.ok());
  CHECK(inconsistent.message().find("num_key_value_heads") != std::string::npos);
}

TEST_CASE("named shapes: sizes, and config.json round trip") {
  for (const auto& name : named_shapes()) {
    CAPTURE(name);
    auto c = named_shape(name);
    REQUIRE(c.ok());
    CHECK(c->validate().ok());
    CHECK(c->bos_token_id == 0);
    CHECK(c->eos_token_ids == std::vector<int>{0});
    auto back = parse_hf_config(to_hf_config_json(*c), name + "/config.json");
    REQUIRE_MESSAGE(back.ok(), (back.ok() ? "" : back.message()));
    CHECK(back->architecture == c->architecture);
    CHECK(back->vocab_size == c->vocab_size);
    CHECK(back->hidden_size == c->hidden_size);
    CHECK(back->n_layers == c->n_layers);
    CHECK(back->n_heads == c->n_heads);
    CHECK(back->n_kv_heads == c->n_kv_heads);
    CHECK(back->head_dim == c->head_dim);
    CHECK(back->ffn_size == c->ffn_size);
    CHECK(back->max_position == c->max_position);
    CHECK(back->rms_eps == c->rms_eps);
    CHECK(back->rope_theta == c->rope_theta);
    CHECK(back->rope_scaling.llama3 == c->rope_scaling.llama3);
    CHECK(back->rope_scaling.factor == c->rope_scaling.factor);
    CHECK(back->rope_scaling.original_max_position == c->rope_scaling.original_max_position);
    CHECK(back->tie_embeddings == c->tie_embeddings);
    CHECK(back->qkv_bias == c->qkv_bias);
    CHECK(back->bos_token_id == c->bos_token_id);
    CHECK(back->eos_token_ids == c->eos_token_ids);
    CHECK(back->weight_dtype == c->weight_dtype);
    CHECK(back->n_params() == c->n_params());
  }
  CHECK(named_shape("tiny")->n_params() < 10'000'000);
  CHECK(named_shape("tiny-qwen2")->n_params() < 10'000'000);
  CHECK(named_shape("smollm2-135m")->n_params() == 134515008);  // SmolLM2-135M as published
  CHECK(named_shape("llama3-8b")->n_params() == 8030261248);
  auto unknown = named_shape("gpt5");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.message().find("tiny") != std::string::npos);
}

TEST_CASE("expected_tensors lists every tensor with HF shapes") {
  auto c = named_shape("tiny-qwen2");
  REQUIRE(c.ok());
  auto specs = expected_tensors(*c);
  // embed + 4 layers x (2 norms + 4 projections + 3 biases + 3 mlp) + norm + lm_head
  CHECK(specs.size() == 1 + 4 * 12 + 1 + 1);
  std::int64_t total = 0;
  for (const auto& s : specs) total += s.numel();
  CHECK(total == c->n_params());
  CHECK(specs.front().name == "model.embed_tokens.weight");
  CHECK(specs.back().name == "lm_head.weight");
  bool saw_k = false;
  for (const auto& s : specs)
    if (s.name == "model.layers.2.self_attn.k_proj.weight") {
      saw_k = true;
      CHECK(s.shape == std::vector<std::int64_t>{128, 256});
    }
  CHECK(saw_k);
  CHECK(is_norm_weight("model.layers.0.input_layernorm.weight"));
  CHECK(is_norm_weight("model.norm.weight"));
  CHECK_FALSE(is_norm_weight("model.layers.0.mlp.up_proj.weight"));
}

TEST_CASE("validate rejects inconsistent shapes") {
  auto c = named_shape("tiny");
  REQUIRE(c.ok());
  model_config bad = *c;
  bad.n_kv_heads = 3;
  CHECK_FALSE(bad.validate().ok());
  bad = *c;
  bad.head_dim = 63;
  CHECK_FALSE(bad.validate().ok());
  bad = *c;
  bad.eos_token_ids = {5000};
  CHECK_FALSE(bad.validate().ok());
  bad = *c;
  bad.rope_scaling = {true, 8.0f, 4.0f, 1.0f, 8192};
  CHECK_FALSE(bad.validate().ok());
}
