// load_model / load_hf_directory / check_tensors on Hugging Face directories.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gpu/model/model_loader.hpp"
#include "gpu/model/random_weights.hpp"
#include "gpu/model/safetensors.hpp"

#include "model_test_support.hpp"

using namespace kairos;
using namespace kairos::test;
namespace fs = std::filesystem;

namespace {

// A model directory whose tensors are `tensors` (config.json from cfg).
void write_dir(const temp_dir& dir, const model_config& cfg, const std::vector<raw_tensor>& tensors) {
  std::ofstream(dir.file("config.json")) << to_hf_config_json(cfg);
  REQUIRE(write_safetensors(dir.file("model.safetensors"), tensors).ok());
}

std::vector<raw_tensor> tensor_list(const tensor_store& s) {
  std::vector<raw_tensor> v;
  for (const auto& [name, t] : s.all()) v.push_back(t);
  return v;
}

}  // namespace

TEST_CASE("load a random HF directory: config, tensors equal to the in-memory generator, tokenizer path") {
  temp_dir dir("kairos_load");
  for (const char* name : {"tiny", "tiny-qwen2"}) {
    CAPTURE(name);
    model_config cfg = shape(name);
    REQUIRE(write_random_model(dir.path.string(), cfg, dtype::bf16, 11).ok());
    auto m = load_model(dir.path.string());
    REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.message()));
    CHECK(m->config.architecture == cfg.architecture);
    CHECK(m->config.qkv_bias == cfg.qkv_bias);
    CHECK(m->config.tie_embeddings == cfg.tie_embeddings);
    CHECK(m->config.weight_dtype == dtype::bf16);
    CHECK(m->tokenizer_path.empty());
    auto mem = make_random_tensor_store(cfg, dtype::bf16, 11);
    REQUIRE(mem.ok());
    CHECK(m->tensors.all().size() == mem->all().size());
    for (const auto& [tname, t] : mem->all()) {
      CAPTURE(tname);
      const raw_tensor* got = m->tensors.find(tname);
      REQUIRE(got);
      CHECK(got->type == dtype::bf16);
      CHECK(got->shape == t.shape);
      CHECK(got->file == dir.file("model.safetensors"));
      REQUIRE(got->nbytes == t.nbytes);
      CHECK(std::memcmp(got->data, t.data, t.nbytes) == 0);
    }
  }
  std::ofstream(dir.file("tokenizer.json")) << "{}";
  auto m = load_hf_directory(dir.path.string());
  REQUIRE(m.ok());
  CHECK(m->tokenizer_path == dir.file("tokenizer.json"));
}

TEST_CASE("load a sharded HF directory") {
  temp_dir dir("kairos_load");
  model_config cfg = shape("tiny");
  auto mem = make_random_tensor_store(cfg, dtype::f32, 2);
  REQUIRE(mem.ok());
  std::vector<raw_tensor> first, second;
  std::string map;
  for (const auto& [name, t] : mem->all()) {
    const bool one = name.find("layers.3") == std::string::npos && name != "model.norm.weight";
    (one ? first : second).push_back(t);
    map += (map.empty() ? "" : ",\n") + ("\"" + name + "\": \"model-0000" + (one ? "1" : "2") + "-of-00002.safetensors\"");
  }
  std::ofstream(dir.file("config.json")) << to_hf_config_json(cfg);
  REQUIRE(write_safetensors(dir.file("model-00001-of-00002.safetensors"), first).ok());
  REQUIRE(write_safetensors(dir.file("model-00002-of-00002.safetensors"), second).ok());
  std::ofstream(dir.file("model.safetensors.index.json")) << "{\"weight_map\": {" << map << "}}";
  auto m = load_model(dir.path.string());
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.message()));
  CHECK(m->tensors.find("model.norm.weight")->file == dir.file("model-00002-of-00002.safetensors"));
  CHECK(m->tensors.find("model.embed_tokens.weight")->file == dir.file("model-00001-of-00002.safetensors"));

  // Drop one tensor from the index and its shard: the error names the index.
  fs::remove(dir.file("model-00002-of-00002.safetensors"));
  std::string name0 = "model.layers.3.input_layernorm.weight";
  std::vector<raw_tensor> second2;
  std::string map2;
  for (const auto& [name, t] : mem->all()) {
    const bool one = name.find("layers.3") == std::string::npos && name != "model.norm.weight";
    if (name == name0) continue;
    if (!one) second2.push_back(t);
    map2 += (map2.empty() ? "" : ",\n") + ("\"" + name + "\": \"model-0000" + (one ? "1" : "2") + "-of-00002.safetensors\"");
  }
  REQUIRE(write_safetensors(dir.file("model-00002-of-00002.safetensors"), second2).ok());
  std::ofstream(dir.file("model.safetensors.index.json")) << "{\"weight_map\": {" << map2 << "}}";
  auto bad = load_model(dir.path.string());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.message() == dir.file("model.safetensors.index.json") + ": missing tensor " + name0 + " (expected shape [256])");
}

TEST_CASE("HF directory errors name the file and the tensor") {
  model_config cfg = shape("tiny");
  auto mem = make_random_tensor_store(cfg, dtype::f32, 4);
  REQUIRE(mem.ok());

  SUBCASE("wrong shape") {
    temp_dir dir("kairos_load");
    auto list = tensor_list(*mem);
    for (auto& t : list)
      if (t.name == "model.layers.3.mlp.up_proj.weight") {
        t.shape = {704, 255};
        t.nbytes = 704 * 255 * 4;
      }
    write_dir(dir, cfg, list);
    auto m = load_model(dir.path.string());
    REQUIRE_FALSE(m.ok());
    CHECK(m.message() == dir.file("model.safetensors") +
                             ": tensor model.layers.3.mlp.up_proj.weight has shape [704, 255], expected [704, 256]");
  }
  SUBCASE("missing tensor") {
    temp_dir dir("kairos_load");
    auto list = tensor_list(*mem);
    std::erase_if(list, [](const raw_tensor& t) { return t.name == "model.layers.0.mlp.up_proj.weight"; });
    write_dir(dir, cfg, list);
    auto m = load_model(dir.path.string());
    REQUIRE_FALSE(m.ok());
    CHECK(m.message() == dir.file("model.safetensors") +
                             ": missing tensor model.layers.0.mlp.up_proj.weight (expected shape [704, 256])");
  }
  SUBCASE("untied config without lm_head") {
    temp_dir dir("kairos_load");
    model_config untied = cfg;
    untied.tie_embeddings = false;
    write_dir(dir, untied, tensor_list(*mem));
    auto m = load_model(dir.path.string());
    REQUIRE_FALSE(m.ok());
    CHECK(contains(m.message(), "missing tensor lm_head.weight"));
  }
  SUBCASE("qkv bias in the config, none in the file; and biases the engine cannot use") {
    temp_dir dir("kairos_load");
    model_config biased = cfg;
    biased.qkv_bias = true;
    write_dir(dir, biased, tensor_list(*mem));
    auto m = load_model(dir.path.string());
    REQUIRE_FALSE(m.ok());
    CHECK(contains(m.message(), "missing tensor model.layers.0.self_attn.q_proj.bias"));

    temp_dir dir2("kairos_load");
    auto list = tensor_list(*mem);
    std::vector<float> bias(256, 0.5f);
    raw_tensor o;
    o.name = "model.layers.1.self_attn.o_proj.bias";
    o.shape = {256};
    o.data = reinterpret_cast<const std::byte*>(bias.data());
    o.nbytes = 1024;
    list.push_back(o);
    write_dir(dir2, cfg, list);
    auto m2 = load_model(dir2.path.string());
    REQUIRE_FALSE(m2.ok());
    CHECK(contains(m2.message(), dir2.file("model.safetensors") + ": tensor model.layers.1.self_attn.o_proj.bias is not supported"));
  }
  SUBCASE("unsupported dtype in a checkpoint") {
    temp_dir dir("kairos_load");
    write_dir(dir, cfg, tensor_list(*mem));
    // Rewrite the header's first dtype F32 -> I32 (same size): the reader must refuse it.
    std::string bytes;
    {
      std::ifstream in(dir.file("model.safetensors"), std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    auto at = bytes.find("\"F32\"");
    REQUIRE(at != std::string::npos);
    bytes.replace(at, 5, "\"I32\"");
    std::ofstream(dir.file("model.safetensors"), std::ios::binary) << bytes;
    auto m = load_model(dir.path.string());
    REQUIRE_FALSE(m.ok());
    CHECK(contains(m.message(), dir.file("model.safetensors") + ": tensor "));
    CHECK(contains(m.message(), "unsupported dtype I32"));
  }
  SUBCASE("config.json problems name config.json and the field") {
    temp_dir dir("kairos_load");
    write_dir(dir, cfg, tensor_list(*mem));
    std::ofstream(dir.file("config.json")) << R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 2048})";
    auto m = load_model(dir.path.string());
    REQUIRE_FALSE(m.ok());
    CHECK(m.message() == dir.file("config.json") + ": field 'hidden_size' is missing");
    fs::remove(dir.file("config.json"));
    m = load_model(dir.path.string());
    REQUIRE_FALSE(m.ok());
    CHECK(contains(m.message(), dir.file("config.json")));
  }
  SUBCASE("no weights, no such path, not a model") {
    temp_dir dir("kairos_load");
    std::ofstream(dir.file("config.json")) << to_hf_config_json(cfg);
    auto m = load_model(dir.path.string());
    REQUIRE_FALSE(m.ok());
    CHECK(contains(m.message(), "no model.safetensors"));
    m = load_model(dir.file("absent"));
    REQUIRE_FALSE(m.ok());
    CHECK(contains(m.message(), "absent: no such file"));
    m = load_model(dir.file("config.json"));
    REQUIRE_FALSE(m.ok());
    CHECK(contains(m.message(), "neither a model directory nor a GGUF file"));
  }
}

TEST_CASE("check_tensors on an in-memory store") {
  model_config cfg = shape("tiny-qwen2");
  auto mem = make_random_tensor_store(cfg, dtype::f32, 8);
  REQUIRE(mem.ok());
  CHECK(check_tensors(cfg, *mem).ok());
  tensor_store broken = *mem;
  raw_tensor t = *broken.find("model.layers.2.self_attn.v_proj.bias");
  t.shape = {127};
  broken.add(t);
  auto s = check_tensors(cfg, broken);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() == "random(seed=8): tensor model.layers.2.self_attn.v_proj.bias has shape [127], expected [128]");
  t.shape = {128};
  t.nbytes = 100;
  broken.add(t);
  s = check_tensors(cfg, broken);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "holds 100 bytes"));
  broken.remove("model.layers.2.self_attn.v_proj.bias");
  s = check_tensors(cfg, broken, "here");
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() == "here: missing tensor model.layers.2.self_attn.v_proj.bias (expected shape [128])");
}
