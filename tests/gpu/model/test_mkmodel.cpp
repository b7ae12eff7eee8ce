// Random models: the generator's determinism and statistics, write_random_model
// (what `kairos mkmodel` runs), the llama3-8b header it would write, and the
// command itself when it has been built.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gpu/model/model_loader.hpp"
#include "gpu/model/random_weights.hpp"

#include "model_test_support.hpp"

using namespace kairos;
using namespace kairos::test;
namespace fs = std::filesystem;

TEST_CASE("normal_rng: fixed sequence for a seed, N(0, 1) statistics") {
  normal_rng a(1), b(1), c(2);
  std::vector<double> xs;
  for (int i = 0; i < 200000; ++i) {
    double x = a.normal();
    CHECK_EQ(x, b.normal());
    xs.push_back(x);
  }
  CHECK(c.normal() != xs[0]);
  double mean = 0, var = 0;
  for (double x : xs) mean += x;
  mean /= xs.size();
  for (double x : xs) var += (x - mean) * (x - mean);
  var /= xs.size();
  CHECK(std::fabs(mean) < 0.01);
  CHECK(std::fabs(var - 1.0) < 0.02);
  // Pinned values: a change to the generator changes every random model.
  normal_rng g(0);
  CHECK(g.next_u64() == 0x99ec5f36cb75f2b4ull);
  normal_rng u(12345);
  for (int i = 0; i < 1000; ++i) {
    double v = u.uniform();
    REQUIRE(v >= 0.0);
    REQUIRE(v < 1.0);
  }
}

TEST_CASE("random tensors: N(0, 0.02) weights and biases, ones for norms, independent of chunking") {
  model_config cfg = shape("tiny-qwen2");
  auto store = make_random_tensor_store(cfg, dtype::f32, 1);
  REQUIRE(store.ok());
  CHECK(check_tensors(cfg, *store).ok());
  for (const auto& [name, t] : store->all()) {
    CAPTURE(name);
    auto v = to_f32(t);
    if (is_norm_weight(name)) {
      for (float x : v) REQUIRE(x == 1.0f);
      continue;
    }
    double mean = 0, sq = 0;
    for (float x : v) mean += x;
    mean /= v.size();
    for (float x : v) sq += (x - mean) * (x - mean);
    const double sd = std::sqrt(sq / v.size());
    CHECK(std::fabs(mean) < 0.02 * 5 / std::sqrt(double(v.size())) + 1e-6);
    CHECK(sd == doctest::Approx(0.02).epsilon(v.size() > 1000 ? 0.03 : 0.3));
  }
  // Different tensors draw different numbers.
  CHECK(std::memcmp(store->find("model.layers.0.mlp.up_proj.weight")->data,
                    store->find("model.layers.0.mlp.gate_proj.weight")->data, 1024) != 0);

  tensor_spec spec{"model.layers.0.mlp.up_proj.weight", dtype::bf16, {704, 256}};
  std::vector<std::byte> whole(spec.nbytes()), pieces(spec.nbytes());
  random_tensor_stream(spec, 9).next(whole.data(), spec.numel());
  random_tensor_stream s(spec, 9);
  std::int64_t done = 0;
  for (std::int64_t step : {1, 2, 777, 100000}) {
    s.next(pieces.data() + dtype_bytes(spec.type, done), step);
    done += step;
  }
  s.next(pieces.data() + dtype_bytes(spec.type, done), spec.numel() - done);
  CHECK(whole == pieces);
}

TEST_CASE("random tensor store in Q8_0 keeps vectors in F32 and passes check_tensors") {
  model_config cfg = shape("tiny");
  auto m = make_random_model(cfg, dtype::q8_0, 3);
  REQUIRE(m.ok());
  CHECK(check_tensors(m->config, m->tensors).ok());
  CHECK(m->tensors.find("model.layers.0.self_attn.q_proj.weight")->type == dtype::q8_0);
  CHECK(m->tensors.find("model.norm.weight")->type == dtype::f32);
  auto f32 = make_random_tensor_store(cfg, dtype::f32, 3);
  REQUIRE(f32.ok());
  auto q = to_f32(*m->tensors.find("model.layers.0.mlp.down_proj.weight"));
  auto f = to_f32(*f32->find("model.layers.0.mlp.down_proj.weight"));
  float worst = 0;
  for (std::size_t i = 0; i < q.size(); ++i) worst = std::max(worst, std::fabs(q[i] - f[i]));
  CHECK(worst < 0.02f * 6 / 127);  // half a step of a block whose max is under 6 sigma... with margin
}

TEST_CASE("write_random_model: same seed same bytes, different seed different, tiny under 10M") {
  temp_dir a("kairos_mk"), b("kairos_mk"), c("kairos_mk");
  model_config cfg = shape("tiny");
  REQUIRE(write_random_model(a.path.string(), cfg, dtype::bf16, 7).ok());
  REQUIRE(write_random_model(b.path.string(), cfg, dtype::bf16, 7).ok());
  REQUIRE(write_random_model(c.path.string(), cfg, dtype::bf16, 8).ok());
  const std::string wa = read_bytes(a.file("model.safetensors"));
  CHECK(wa == read_bytes(b.file("model.safetensors")));
  CHECK(read_bytes(a.file("config.json")) == read_bytes(b.file("config.json")));
  const std::string wc = read_bytes(c.file("model.safetensors"));
  CHECK(wa.size() == wc.size());
  CHECK(wa != wc);
  CHECK(cfg.n_params() < 10'000'000);
  auto layout = random_model_layout(cfg, dtype::bf16);
  REQUIRE(layout.ok());
  CHECK(wa.size() == layout->file_bytes());
  CHECK(layout->data_bytes == static_cast<std::size_t>(cfg.n_params()) * 2);
  auto m = load_model(a.path.string());
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.message()));
  CHECK(m->config.weight_dtype == dtype::bf16);
  CHECK(m->config.bos_token_id == 0);
  CHECK(!write_random_model(a.path.string(), cfg, dtype::q8_0, 1).ok());
}

TEST_CASE("the llama3-8b header mkmodel would write") {
  model_config cfg = shape("llama3-8b");
  auto layout = random_model_layout(cfg, dtype::bf16);
  REQUIRE(layout.ok());
  CHECK(layout->header.size() % 8 == 0);
  CHECK(layout->data_bytes == 8030261248ull * 2);
  CHECK(layout->file_bytes() == 8 + layout->header.size() + layout->data_bytes);
  auto header = nlohmann::json::parse(layout->header);
  CHECK(header.size() == 1 + 1 + 32 * 9 + 1 + 1);  // __metadata__, embed, 32 x 9, norm, lm_head
  CHECK(header["model.embed_tokens.weight"]["dtype"] == "BF16");
  CHECK(header["model.embed_tokens.weight"]["shape"] == nlohmann::json::array({128256, 4096}));
  CHECK(header["model.embed_tokens.weight"]["data_offsets"] == nlohmann::json::array({0, 128256ull * 4096 * 2}));
  CHECK(header["model.layers.31.self_attn.k_proj.weight"]["shape"] == nlohmann::json::array({1024, 4096}));
  CHECK(header["model.layers.31.mlp.down_proj.weight"]["shape"] == nlohmann::json::array({4096, 14336}));
  CHECK(header["lm_head.weight"]["data_offsets"][1] == layout->data_bytes);
  CHECK_FALSE(header.contains("model.layers.0.self_attn.q_proj.bias"));
  auto smol = random_model_layout(shape("smollm2-135m"), dtype::f32);
  REQUIRE(smol.ok());
  CHECK(smol->data_bytes == 134515008ull * 4);
}

TEST_CASE("kairos mkmodel (when the tool is built)") {
  const fs::path tool = fs::path(KAIROS_BIN_DIR) / "kairos";
  if (!fs::exists(tool)) {
    MESSAGE("skipped: " << tool.string() << " is not built");
    return;
  }
  temp_dir a("kairos_mk"), b("kairos_mk");
  auto run = [&](const std::string& args) {
    return std::system((tool.string() + " mkmodel " + args + " > /dev/null 2>&1").c_str());
  };
  REQUIRE(run("--shape tiny --dtype bf16 --seed 3 --out " + a.path.string()) == 0);
  REQUIRE(run("--shape tiny --dtype bf16 --seed 3 --out " + b.path.string()) == 0);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
    CAPTURE(f);
    REQUIRE(fs::exists(a.file(f)));
    CHECK(read_bytes(a.file(f)) == read_bytes(b.file(f)));
  }
  auto m = load_model(a.path.string());
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.message()));
  CHECK(m->tokenizer_path == a.file("tokenizer.json"));
  auto tok = nlohmann::json::parse(read_bytes(a.file("tokenizer.json")), nullptr, false);
  CHECK_FALSE(tok.is_discarded());
  auto tc = nlohmann::json::parse(read_bytes(a.file("tokenizer_config.json")));
  CHECK(tc.contains("chat_template"));
  // The same library call writes the same weights.
  temp_dir c("kairos_mk");
  REQUIRE(write_random_model(c.path.string(), shape("tiny"), dtype::bf16, 3).ok());
  CHECK(read_bytes(c.file("model.safetensors")) == read_bytes(a.file("model.safetensors")));

  temp_dir d("kairos_mk");
  CHECK(run("--shape llama3-8b --dtype bf16 --dry-run --out " + d.file("x")) == 0);
  CHECK_FALSE(fs::exists(d.file("x")));
  CHECK(run("--shape nope --out " + d.file("y")) != 0);
  CHECK(run("--shape tiny --dtype q4 --out " + d.file("y")) != 0);
}
