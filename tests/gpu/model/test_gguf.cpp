// GGUF: the container (metadata of every type, alignment, tensor types), the
// llama/qwen2 mapping (names, dims, llama.cpp's q/k row permutation), round
// trips HF -> GGUF -> HF, and bad files.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <fstream>
#include <string>
#include <vector>

#include "gpu/engine/cpu_engine.hpp"
#include "gpu/model/gguf.hpp"
#include "gpu/model/gguf_convert.hpp"
#include "gpu/model/gguf_model.hpp"
#include "gpu/model/gguf_rope_permute.hpp"
#include "gpu/model/model_loader.hpp"
#include "gpu/model/random_weights.hpp"

#include "model_test_support.hpp"

using namespace kairos;
using namespace kairos::test;
namespace fs = std::filesystem;

namespace {

std::vector<std::byte> f32_bytes(const std::vector<float>& v) {
  std::vector<std::byte> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

gguf_value scalar(gguf_type t, std::uint64_t u, std::int64_t i = 0, double f = 0.0) {
  gguf_value v;
  v.type = t;
  v.u = u;
  v.i = i;
  v.f = f;
  return v;
}

model_config tiny(const std::string& name = "tiny") {
  auto c = named_shape(name);
  REQUIRE(c.ok());
  return *c;
}

std::string read_error(const std::string& path) {
  auto g = read_gguf(path);
  return g.ok() ? std::string("<no error>") : g.message();
}

}  // namespace

TEST_CASE("gguf container: every metadata type round-trips, arrays included") {
  temp_dir dir("kairos_gguf");
  std::vector<gguf_value> nested = {gguf_value::of_strings({"a", "b"}), gguf_value::of_strings({})};
  std::vector<std::pair<std::string, gguf_value>> md = {
      {"t.u8", scalar(gguf_type::u8, 200)},
      {"t.i8", scalar(gguf_type::i8, 0, -100)},
      {"t.u16", scalar(gguf_type::u16, 60000)},
      {"t.i16", scalar(gguf_type::i16, 0, -30000)},
      {"t.u32", gguf_value::of_u32(4000000000u)},
      {"t.i32", gguf_value::of_i32(-2000000000)},
      {"t.f32", gguf_value::of_f32(1.5f)},
      {"t.bool", gguf_value::of_bool(true)},
      {"t.string", gguf_value::of_string("héllo")},
      {"t.u64", gguf_value::of_u64(1ull << 60)},
      {"t.i64", scalar(gguf_type::i64, 0, -(1ll << 50))},
      {"t.f64", scalar(gguf_type::f64, 0, 0, 3.25)},
      {"t.arr_i32", gguf_value::of_array(gguf_type::i32, {gguf_value::of_i32(1), gguf_value::of_i32(-2)})},
      {"t.arr_str", gguf_value::of_strings({"x", "", "yz"})},
      {"t.arr_arr", gguf_value::of_array(gguf_type::array, nested)},
  };
  std::vector<float> w = {1, 2, 3, 4, 5, 6};
  auto wb = f32_bytes(w);
  std::vector<gguf_tensor_out> tensors(2);
  tensors[0].name = "w";
  tensors[0].dims = {3, 2};
  tensors[0].nbytes = wb.size();
  tensors[0].data = wb;
  tensors[1].name = "lazy";
  tensors[1].ggml_type = ggml_type::f16;
  tensors[1].dims = {5};
  tensors[1].nbytes = 10;
  tensors[1].produce = [] { return result<std::vector<std::byte>>(std::vector<std::byte>(10, std::byte{7})); };
  const std::string path = dir.file("c.gguf");
  REQUIRE(write_gguf(path, md, tensors).ok());
  CHECK(is_gguf_file(path));

  auto g = read_gguf(path);
  REQUIRE_MESSAGE(g.ok(), (g.ok() ? "" : g.message()));
  CHECK(g->version == 3);
  CHECK(g->alignment == 32);
  CHECK(g->metadata.size() == md.size());
  CHECK(g->find("t.u8")->u == 200);
  CHECK(g->find("t.i8")->i == -100);
  CHECK(g->find("t.u16")->u == 60000);
  CHECK(g->find("t.i16")->i == -30000);
  CHECK(g->find("t.u32")->as_int() == 4000000000ll);
  CHECK(g->find("t.i32")->as_int() == -2000000000ll);
  CHECK(g->find("t.f32")->as_float() == 1.5);
  CHECK(g->find("t.bool")->type == gguf_type::boolean);
  CHECK(g->find("t.bool")->u == 1);
  CHECK(g->find("t.string")->str == "héllo");
  CHECK(g->find("t.u64")->u == (1ull << 60));
  CHECK(g->find("t.i64")->i == -(1ll << 50));
  CHECK(g->find("t.f64")->f == 3.25);
  CHECK(g->find("t.arr_i32")->items.size() == 2);
  CHECK(g->find("t.arr_i32")->items[1].i == -2);
  REQUIRE(g->find("t.arr_str")->items.size() == 3);
  CHECK(g->find("t.arr_str")->items[2].str == "yz");
  const gguf_value* aa = g->find("t.arr_arr");
  REQUIRE(aa->items.size() == 2);
  CHECK(aa->items[0].elem_type == gguf_type::string);
  CHECK(aa->items[0].items[1].str == "b");
  CHECK(aa->items[1].items.empty());

  REQUIRE(g->tensors.size() == 2);
  const gguf_tensor_info* t = g->find_tensor("w");
  REQUIRE(t);
  CHECK(t->dims == std::vector<std::uint64_t>{3, 2});
  CHECK(t->type == dtype::f32);
  CHECK(std::memcmp(t->data, wb.data(), wb.size()) == 0);
  const gguf_tensor_info* lazy = g->find_tensor("lazy");
  CHECK(lazy->offset == 32);  // 24 bytes of "w", padded to the default alignment
  CHECK(lazy->type == dtype::f16);
  CHECK(static_cast<int>(lazy->data[9]) == 7);
  CHECK((lazy->data - g->map->data()) % 32 == 0);
}

TEST_CASE("gguf container: general.alignment is honoured") {
  temp_dir dir("kairos_gguf");
  std::vector<float> a(3, 1.0f), b(5, 2.0f);
  auto ab = f32_bytes(a), bb = f32_bytes(b);
  std::vector<gguf_tensor_out> tensors(2);
  tensors[0] = {"a", ggml_type::f32, {3}, ab.size(), ab, {}};
  tensors[1] = {"b", ggml_type::f32, {5}, bb.size(), bb, {}};
  gguf_write_header h;
  h.alignment = 128;
  const std::string path = dir.file("a.gguf");
  REQUIRE(write_gguf(path, {{"general.architecture", gguf_value::of_string("none")}}, tensors, h).ok());
  auto g = read_gguf(path);
  REQUIRE(g.ok());
  CHECK(g->alignment == 128);
  REQUIRE(g->find("general.alignment"));
  CHECK(g->find_tensor("b")->offset == 128);
  CHECK((g->find_tensor("b")->data - g->map->data()) % 128 == 0);
  float x;
  std::memcpy(&x, g->find_tensor("b")->data + 16, 4);
  CHECK(x == 2.0f);
}

TEST_CASE("gguf names map both ways") {
  CHECK(gguf_to_hf_name("token_embd.weight") == "model.embed_tokens.weight");
  CHECK(gguf_to_hf_name("output_norm.weight") == "model.norm.weight");
  CHECK(gguf_to_hf_name("output.weight") == "lm_head.weight");
  CHECK(gguf_to_hf_name("blk.17.attn_norm.weight") == "model.layers.17.input_layernorm.weight");
  CHECK(gguf_to_hf_name("blk.0.attn_q.weight") == "model.layers.0.self_attn.q_proj.weight");
  CHECK(gguf_to_hf_name("blk.0.attn_k.bias") == "model.layers.0.self_attn.k_proj.bias");
  CHECK(gguf_to_hf_name("blk.3.attn_v.weight") == "model.layers.3.self_attn.v_proj.weight");
  CHECK(gguf_to_hf_name("blk.3.attn_output.weight") == "model.layers.3.self_attn.o_proj.weight");
  CHECK(gguf_to_hf_name("blk.3.ffn_norm.weight") == "model.layers.3.post_attention_layernorm.weight");
  CHECK(gguf_to_hf_name("blk.3.ffn_gate.weight") == "model.layers.3.mlp.gate_proj.weight");
  CHECK(gguf_to_hf_name("blk.3.ffn_up.weight") == "model.layers.3.mlp.up_proj.weight");
  CHECK(gguf_to_hf_name("blk.3.ffn_down.weight") == "model.layers.3.mlp.down_proj.weight");
  CHECK(gguf_to_hf_name("blk.x.ffn_down.weight").empty());
  CHECK(gguf_to_hf_name("blk.3.attn_q_norm.weight").empty());
  CHECK(gguf_to_hf_name("rope_freqs.weight").empty());
  for (const auto& spec : expected_tensors(tiny("tiny-qwen2"))) {
    CAPTURE(spec.name);
    std::string g = hf_to_gguf_name(spec.name);
    CHECK_FALSE(g.empty());
    CHECK(gguf_to_hf_name(g) == spec.name);
  }
}

TEST_CASE("rope row permutation matches llama.cpp's reshape(heads, 2, hd/2).swapaxes(1, 2), and inverts") {
  const std::int64_t heads = 3, hd = 8, rows = heads * hd;
  const std::size_t row_bytes = q8_0_block_bytes * 2;  // a Q8_0 row of 64 values
  std::vector<std::byte> hf(rows * row_bytes), gg(rows * row_bytes), back(rows * row_bytes);
  for (std::size_t i = 0; i < hf.size(); ++i) hf[i] = static_cast<std::byte>((i * 31 + i / row_bytes) & 0xff);
  rope_rows_hf_to_gguf(hf.data(), gg.data(), heads, hd, row_bytes);
  for (std::int64_t r = 0; r < rows; ++r) {
    // GGUF row r = (h, i, s) in the swapped shape [heads, hd/2, 2] reads HF (h, s, i) of [heads, 2, hd/2].
    const std::int64_t h = r / hd, i = (r % hd) / 2, s = r % 2;
    const std::int64_t src = h * hd + s * (hd / 2) + i;
    CHECK(std::memcmp(gg.data() + r * row_bytes, hf.data() + src * row_bytes, row_bytes) == 0);
  }
  rope_rows_gguf_to_hf(gg.data(), back.data(), heads, hd, row_bytes);
  CHECK(back == hf);
}

TEST_CASE("HF -> GGUF -> HF round trip, F32/F16/BF16 exact, llama q/k permuted on disk and restored") {
  temp_dir dir("kairos_gguf");
  for (dtype type : {dtype::f32, dtype::f16, dtype::bf16}) {
    for (const char* shape : {"tiny", "tiny-qwen2"}) {
      CAPTURE(dtype_name(type));
      CAPTURE(shape);
      model_config cfg = tiny(shape);
      auto src = make_random_model(cfg, type, 42);
      REQUIRE(src.ok());
      const std::string path = dir.file(std::string(shape) + "_" + dtype_name(type) + ".gguf");
      auto w = write_gguf_model(path, src->config, src->tensors);
      REQUIRE_MESSAGE(w.ok(), w.message());

      auto m = load_model(path);
      REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.message()));
      CHECK(m->config.architecture == cfg.architecture);
      CHECK(m->config.vocab_size == cfg.vocab_size);
      CHECK(m->config.hidden_size == cfg.hidden_size);
      CHECK(m->config.n_layers == cfg.n_layers);
      CHECK(m->config.n_heads == cfg.n_heads);
      CHECK(m->config.n_kv_heads == cfg.n_kv_heads);
      CHECK(m->config.head_dim == cfg.head_dim);
      CHECK(m->config.ffn_size == cfg.ffn_size);
      CHECK(m->config.max_position == cfg.max_position);
      CHECK(m->config.rms_eps == cfg.rms_eps);
      CHECK(m->config.rope_theta == cfg.rope_theta);
      CHECK(m->config.tie_embeddings == cfg.tie_embeddings);
      CHECK(m->config.qkv_bias == cfg.qkv_bias);
      CHECK(m->config.bos_token_id == cfg.bos_token_id);
      CHECK(m->config.eos_token_ids == cfg.eos_token_ids);
      CHECK(m->config.weight_dtype == type);
      CHECK(m->tokenizer_path.empty());
      for (const auto& [name, t] : src->tensors.all()) {
        CAPTURE(name);
        const raw_tensor* got = m->tensors.find(name);
        REQUIRE(got != nullptr);
        CHECK(got->shape == t.shape);
        CHECK(got->file == path);
        if (t.shape.size() == 2) {  // matrices keep their type and bytes
          CHECK(got->type == type);
          REQUIRE(got->nbytes == t.nbytes);
          CHECK(std::memcmp(got->data, t.data, t.nbytes) == 0);
        } else {  // norms and biases are stored F32, as llama.cpp does
          CHECK(got->type == dtype::f32);
          CHECK(to_f32(*got) == to_f32(t));
        }
      }
    }
  }
}

TEST_CASE("GGUF files store llama q/k rows in llama.cpp's order; qwen2 rows as they are") {
  temp_dir dir("kairos_gguf");
  for (const char* shape : {"tiny", "tiny-qwen2"}) {
    CAPTURE(shape);
    model_config cfg = tiny(shape);
    if (std::string(shape) == "tiny") cfg.qkv_bias = true;  // llama biases are permuted too
    auto src = make_random_model(cfg, dtype::f32, 7);
    REQUIRE(src.ok());
    const std::string path = dir.file(std::string(shape) + ".gguf");
    REQUIRE(write_gguf_model(path, src->config, src->tensors).ok());
    auto g = read_gguf(path);
    REQUIRE(g.ok());
    const bool permuted = cfg.architecture == "llama";
    struct which {
      const char* gguf;
      const char* hf;
      int heads;
    };
    for (const which& w : {which{"blk.1.attn_q.weight", "model.layers.1.self_attn.q_proj.weight", cfg.n_heads},
                           which{"blk.1.attn_k.weight", "model.layers.1.self_attn.k_proj.weight", cfg.n_kv_heads},
                           which{"blk.1.attn_q.bias", "model.layers.1.self_attn.q_proj.bias", cfg.n_heads},
                           which{"blk.1.attn_v.weight", "model.layers.1.self_attn.v_proj.weight", 0}}) {
      CAPTURE(w.gguf);
      const gguf_tensor_info* gt = g->find_tensor(w.gguf);
      const raw_tensor* ht = src->tensors.find(w.hf);
      REQUIRE(gt);
      REQUIRE(ht);
      const std::int64_t rows = ht->shape[0], hd = cfg.head_dim;
      const std::size_t row_bytes = ht->nbytes / static_cast<std::size_t>(rows);
      CHECK(gt->dims.back() == static_cast<std::uint64_t>(rows));  // innermost first
      bool same = true;
      for (std::int64_t r = 0; r < rows; ++r) {
        std::int64_t src_row = r;
        if (permuted && w.heads > 0) src_row = (r / hd) * hd + (r % 2) * (hd / 2) + (r % hd) / 2;
        same = same && std::memcmp(gt->data + r * row_bytes, ht->data + src_row * row_bytes, row_bytes) == 0;
      }
      CHECK(same);
    }
    // ... and loading undoes it.
    auto m = load_gguf(path);
    REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.message()));
    const raw_tensor* q = m->tensors.find("model.layers.1.self_attn.q_proj.weight");
    CHECK(std::memcmp(q->data, src->tensors.find("model.layers.1.self_attn.q_proj.weight")->data, q->nbytes) == 0);
  }
}

TEST_CASE("GGUF Q8_0: quantised weights load within quantisation error, q/k permutation undone on raw blocks; the engine runs the blocks") {
  temp_dir dir("kairos_gguf");
  model_config cfg = tiny();
  auto src = make_random_model(cfg, dtype::f32, 3);
  REQUIRE(src.ok());
  gguf_model_write_options opts;
  opts.matrix_type = dtype::q8_0;
  const std::string path = dir.file("q8.gguf");
  REQUIRE(write_gguf_model(path, cfg, src->tensors, opts).ok());
  auto m = load_gguf(path);
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.message()));
  CHECK(m->config.weight_dtype == dtype::q8_0);
  CHECK(fs::file_size(path) < static_cast<std::uintmax_t>(cfg.n_params()) * 4 / 3);
  for (const auto& [name, t] : src->tensors.all()) {
    CAPTURE(name);
    const raw_tensor* got = m->tensors.find(name);
    REQUIRE(got);
    CHECK(got->type == (t.shape.size() == 2 ? dtype::q8_0 : dtype::f32));
    std::vector<float> want = to_f32(t), have = to_f32(*got);
    // Per block of 32, the error is at most half a step, step = max|x| / 127.
    for (std::size_t b = 0; b < want.size(); b += 32) {
      float amax = 0;
      const std::size_t end = std::min(want.size(), b + 32);
      for (std::size_t i = b; i < end; ++i) amax = std::max(amax, std::fabs(want[i]));
      float worst = 0;
      for (std::size_t i = b; i < end; ++i) worst = std::max(worst, std::fabs(want[i] - have[i]));
      REQUIRE(worst <= amax / 127.0f * (0.5f + 127.0f / 2048.0f) + 1e-7f);
    }
  }
  // The CPU engine keeps the file's Q8_0 blocks as int8 (about a quarter of
  // the bytes a decode step streams) and gives bit for bit the logits of the
  // same values dequantized to F32 tensors.
  tensor_store dequantized;
  for (const auto& [name, t] : m->tensors.all()) {
    auto buf = std::make_shared<std::vector<float>>(to_f32(t));
    raw_tensor r;
    r.name = name;
    r.shape = t.shape;
    r.file = "<dequantized>";
    r.data = reinterpret_cast<const std::byte*>(buf->data());
    r.nbytes = buf->size() * sizeof(float);
    dequantized.keep_alive(buf);
    dequantized.add(std::move(r));
  }
  model_config cfg32 = m->config;
  cfg32.weight_dtype = dtype::f32;
  engine_options eo;
  eo.n_threads = 2;
  eo.kv_tokens = 256;
  eo.max_batch_tokens = 64;
  eo.max_logit_rows = 4;
  auto eq = cpu_engine::create(m->config, m->tensors, eo);
  auto ef = cpu_engine::create(cfg32, dequantized, eo);
  REQUIRE_MESSAGE(eq.ok(), (eq.ok() ? "" : eq.message()));
  REQUIRE_MESSAGE(ef.ok(), (ef.ok() ? "" : ef.message()));
  CHECK((*eq)->weight_bytes_per_token() * 3 < (*ef)->weight_bytes_per_token());
  std::vector<std::int32_t> prompt;
  for (int i = 0; i < 23; ++i) prompt.push_back((i * 37 + 5) % cfg.vocab_size);
  const batch_sequence b{1, prompt, true};
  const auto rq = (*eq)->forward(std::span<const batch_sequence>(&b, 1));
  const auto rf = (*ef)->forward(std::span<const batch_sequence>(&b, 1));
  REQUIRE(rq.status == forward_status::ok);
  REQUIRE(rf.status == forward_status::ok);
  CHECK(std::memcmp(rq.logits(0).data(), rf.logits(0).data(), sizeof(float) * cfg.vocab_size) == 0);
}

TEST_CASE("GGUF llama3 RoPE scaling: from the scaling keys, and recognised from rope_freqs.weight alone") {
  temp_dir dir("kairos_gguf");
  model_config cfg = tiny();
  cfg.rope_scaling = {true, 8.0f, 1.0f, 4.0f, 1024};
  cfg.rope_theta = 500000.0f;
  auto src = make_random_model(cfg, dtype::bf16, 5);
  REQUIRE(src.ok());
  const std::string path = dir.file("l3.gguf");
  REQUIRE(write_gguf_model(path, cfg, src->tensors).ok());
  auto m = load_gguf(path);
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.message()));
  CHECK(m->config.rope_scaling.llama3);
  CHECK(m->config.rope_scaling.factor == 8.0f);
  CHECK(m->config.rope_scaling.original_max_position == 1024);
  CHECK(m->tensors.find("rope_freqs.weight") == nullptr);

  auto factors = llama3_rope_factors(cfg);
  REQUIRE(factors.size() == 32);
  CHECK(factors.front() == 1.0f);  // highest frequency: untouched
  CHECK(factors.back() == 8.0f);   // lowest: divided by the factor

  // Rewrite the file without the scaling keys, as llama.cpp's converter would have.
  auto g = read_gguf(path);
  REQUIRE(g.ok());
  std::vector<std::pair<std::string, gguf_value>> md;
  for (const auto& [k, v] : g->metadata)
    if (k.find("rope.scaling.") == std::string::npos || k.find("original_context_length") != std::string::npos)
      md.push_back({k, v});
  std::vector<gguf_tensor_out> outs;
  for (const auto& t : g->tensors) outs.push_back({t.name, t.ggml_type, t.dims, t.nbytes, {t.data, t.nbytes}, {}});
  const std::string bare = dir.file("l3_bare.gguf");
  REQUIRE(write_gguf(bare, md, outs).ok());
  auto m2 = load_gguf(bare);
  REQUIRE_MESSAGE(m2.ok(), (m2.ok() ? "" : m2.message()));
  CHECK(m2->config.rope_scaling.llama3);
  CHECK(m2->config.rope_scaling.factor == 8.0f);
  CHECK(m2->config.rope_scaling.low_freq_factor == 1.0f);
  CHECK(m2->config.rope_scaling.high_freq_factor == 4.0f);
  CHECK(m2->config.rope_scaling.original_max_position == 1024);

  // Factors that are not llama3 scaling are refused, naming the tensor.
  std::vector<float> odd(32, 2.0f);
  auto odd_bytes = f32_bytes(odd);
  for (auto& o : outs)
    if (o.name == "rope_freqs.weight") o.data = odd_bytes;
  const std::string weird = dir.file("weird.gguf");
  REQUIRE(write_gguf(weird, md, outs).ok());
  auto m3 = load_gguf(weird);
  REQUIRE_FALSE(m3.ok());
  CHECK(contains(m3.message(), "rope_freqs.weight"));
}

TEST_CASE("GGUF bad files: errors name the file and the tensor or key") {
  temp_dir dir("kairos_gguf");
  model_config cfg = tiny();
  auto src = make_random_model(cfg, dtype::f32, 1);
  REQUIRE(src.ok());
  const std::string good = dir.file("good.gguf");
  REQUIRE(write_gguf_model(good, cfg, src->tensors).ok());
  const std::string bytes = read_bytes(good);
  const std::string p = dir.file("bad.gguf");

  SUBCASE("bad magic") {
    std::string b = bytes;
    b[0] = 'X';
    write_bytes(p, b);
    CHECK(contains(read_error(p), p + ": bad magic"));
    CHECK_FALSE(is_gguf_file(p));
  }
  SUBCASE("bad version") {
    for (std::uint32_t v : {1u, 4u, 0xffffffffu}) {
      std::string b = bytes;
      std::memcpy(b.data() + 4, &v, 4);
      write_bytes(p, b);
      CHECK(contains(read_error(p), p + ": unsupported GGUF version " + std::to_string(v)));
    }
  }
  SUBCASE("truncated: tensor data runs past the end") {
    write_bytes(p, bytes.substr(0, bytes.size() - 100));
    std::string e = read_error(p);
    CHECK(contains(e, p));
    CHECK(contains(e, "tensor "));
    CHECK(contains(e, "runs past the end"));
  }
  SUBCASE("truncated in the metadata") {
    write_bytes(p, bytes.substr(0, 200));
    std::string e = read_error(p);
    CHECK(contains(e, p));
    CHECK(contains(e, "truncated"));
  }
  SUBCASE("empty file") {
    write_bytes(p, "");
    CHECK(contains(read_error(p), "too short"));
  }
  SUBCASE("unknown tensor type") {
    std::vector<std::byte> blocks(18 * 8);  // 1 Q4_K super-block of 256 values is 144 bytes
    std::vector<gguf_tensor_out> outs = {{"blk.0.attn_q.weight", ggml_type::q4_k, {256}, blocks.size(), blocks, {}}};
    REQUIRE(write_gguf(p, {{"general.architecture", gguf_value::of_string("llama")}}, outs).ok());
    std::string e = read_error(p);
    CHECK(contains(e, p));
    CHECK(contains(e, "tensor blk.0.attn_q.weight has type Q4_K (12), unsupported"));
    outs[0].ggml_type = 77;
    REQUIRE(write_gguf(p, {}, outs).ok());
    CHECK(contains(read_error(p), "tensor blk.0.attn_q.weight has type type 77 (77)"));
  }
  SUBCASE("Q8_0 row not a multiple of 32") {
    std::vector<std::byte> blk(34);
    std::vector<gguf_tensor_out> outs = {{"odd", ggml_type::q8_0, {16, 2}, blk.size(), blk, {}}};
    REQUIRE(write_gguf(p, {}, outs).ok());
    CHECK(contains(read_error(p), "tensor odd is Q8_0 with a row of 16"));
  }
  SUBCASE("bad alignment key, unknown value type, absurd counts") {
    REQUIRE(write_gguf(p, {{"general.alignment", gguf_value::of_u32(24)}}, {}).ok() == false);
    std::string b = bytes;
    const std::uint64_t huge = 1ull << 62;
    std::memcpy(b.data() + 8, &huge, 8);
    write_bytes(p, b);
    CHECK(contains(read_error(p), "tensor count"));
  }
  SUBCASE("unsupported architecture and missing keys name the key") {
    std::vector<float> one(4, 1.0f);
    auto ob = f32_bytes(one);
    std::vector<gguf_tensor_out> outs = {{"token_embd.weight", ggml_type::f32, {2, 2}, ob.size(), ob, {}}};
    REQUIRE(write_gguf(p, {{"general.architecture", gguf_value::of_string("gemma3")}}, outs).ok());
    auto m = load_gguf(p);
    REQUIRE_FALSE(m.ok());
    CHECK(contains(m.message(), p + ": metadata general.architecture is 'gemma3'"));
    REQUIRE(write_gguf(p, {{"general.architecture", gguf_value::of_string("llama")}}, outs).ok());
    m = load_gguf(p);
    REQUIRE_FALSE(m.ok());
    CHECK(contains(m.message(), p + ": metadata llama.block_count is missing"));
    REQUIRE(write_gguf(p,
                       {{"general.architecture", gguf_value::of_string("llama")},
                        {"llama.block_count", gguf_value::of_string("four")}},
                       outs)
                .ok());
    m = load_gguf(p);
    REQUIRE_FALSE(m.ok());
    CHECK(contains(m.message(), "metadata llama.block_count must be an integer"));
  }
  SUBCASE("a tensor with the wrong shape") {
    auto g = read_gguf(good);
    REQUIRE(g.ok());
    std::vector<std::pair<std::string, gguf_value>> md(g->metadata.begin(), g->metadata.end());
    std::vector<gguf_tensor_out> outs;
    for (const auto& t : g->tensors) {
      gguf_tensor_out o{t.name, t.ggml_type, t.dims, t.nbytes, {t.data, t.nbytes}, {}};
      if (t.name == "blk.2.ffn_up.weight") {  // [704, 256] stored as {256, 704}: drop a column
        o.dims = {255, 704};
        o.nbytes = 255 * 704 * 4;
        o.data = o.data.first(o.nbytes);
      }
      outs.push_back(o);
    }
    REQUIRE(write_gguf(p, md, outs).ok());
    auto m = load_gguf(p);
    REQUIRE_FALSE(m.ok());
    CHECK(m.message() == p + ": tensor model.layers.2.mlp.up_proj.weight has shape [704, 255], expected [704, 256]");
  }
  SUBCASE("a missing tensor") {
    auto g = read_gguf(good);
    REQUIRE(g.ok());
    std::vector<std::pair<std::string, gguf_value>> md(g->metadata.begin(), g->metadata.end());
    std::vector<gguf_tensor_out> outs;
    for (const auto& t : g->tensors)
      if (t.name != "blk.3.ffn_down.weight") outs.push_back({t.name, t.ggml_type, t.dims, t.nbytes, {t.data, t.nbytes}, {}});
    REQUIRE(write_gguf(p, md, outs).ok());
    auto m = load_gguf(p);
    REQUIRE_FALSE(m.ok());
    CHECK(contains(m.message(), p + ": missing tensor model.layers.3.mlp.down_proj.weight"));
  }
}

TEST_CASE("load_model finds GGUF by magic whatever the extension") {
  temp_dir dir("kairos_gguf");
  model_config cfg = tiny();
  auto src = make_random_model(cfg, dtype::f32, 9);
  REQUIRE(src.ok());
  const std::string path = dir.file("weights.bin");
  REQUIRE(write_gguf_model(path, cfg, src->tensors).ok());
  std::ofstream(dir.file("tokenizer.json")) << "{}";
  auto m = load_model(path);
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.message()));
  CHECK(m->config.n_layers == 4);
  CHECK(m->tokenizer_path == dir.file("tokenizer.json"));
}
