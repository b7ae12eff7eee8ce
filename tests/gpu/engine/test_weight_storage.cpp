// 16-bit and Q8_0 checkpoints: the engine packs their matrices as bf16 / f16
// panels or Q8_0 blocks and widens them in the GEMM. The logits must be bit for bit those of an
// engine given the same values as F32 tensors (the kernels widen exactly and
// run the same fma chains), in prefill and decode, batched, for every
// reference shape (untied and tied LM heads, qkv bias, Llama-3 RoPE), and the
// bytes a decode step streams must shrink to match. A mixed matrix stays F32.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "test_support.hpp"

using namespace kairos;
using namespace kairos::test;

namespace {

// A store holding m's tensors as F32, with exactly m's values.
tensor_store as_f32(const test_model& m, const std::string& except_keep = "") {
  tensor_store out;
  for (const auto& [name, t] : m.store.all()) {
    if (name == except_keep) {
      out.add(t);
      continue;
    }
    const auto d = m.get(name);
    std::vector<float> v(d.begin(), d.end());
    detail::add_tensor(out, name, t.shape, v, dtype::f32);
  }
  return out;
}

// Two sequences: a prefill of 21 and 9 tokens in one batch, then 4 decode
// steps of both (greedy on the first engine's logits); every row of every step.
std::vector<std::vector<float>> run_steps(cpu_engine& e, int vocab, const std::vector<std::int32_t>* feed) {
  std::vector<std::vector<float>> rows;
  const auto p1 = random_tokens(21, vocab, 5), p2 = random_tokens(9, vocab, 6);
  std::vector<batch_sequence> b = {{1, p1, true}, {2, p2, true}};
  auto c = run_forward(e, b);
  REQUIRE(c.status == forward_status::ok);
  rows.insert(rows.end(), c.rows.begin(), c.rows.end());
  for (int step = 0; step < 4; ++step) {
    std::vector<std::int32_t> t1{feed ? (*feed)[2 * step] : argmax(rows[rows.size() - 2])};
    std::vector<std::int32_t> t2{feed ? (*feed)[2 * step + 1] : argmax(rows.back())};
    std::vector<batch_sequence> d = {{1, t1, true}, {2, t2, true}};
    auto r = run_forward(e, d);
    REQUIRE(r.status == forward_status::ok);
    rows.insert(rows.end(), r.rows.begin(), r.rows.end());
  }
  return rows;
}

std::vector<std::int32_t> greedy_feed(const std::vector<std::vector<float>>& rows) {
  std::vector<std::int32_t> f;
  for (std::size_t i = 0; i + 2 < rows.size(); ++i) f.push_back(argmax(rows[i]));
  return f;
}

}  // namespace

TEST_CASE("bf16, f16 and Q8_0 checkpoints: logits bitwise equal to F32 tensors of the same values, fewer bytes") {
  for (dtype type : {dtype::bf16, dtype::f16, dtype::q8_0}) {
    for (auto& nc : reference_configs()) {
      if (nc.type != dtype::f32 || nc.scale != 0.1) continue;  // each shape once
      INFO(nc.name << " stored as " << dtype_name(type));
      auto m16 = make_model(nc.cfg, type, nc.scale, 77);
      const tensor_store s32 = as_f32(*m16);
      model_config cfg32 = m16->cfg;
      cfg32.weight_dtype = dtype::f32;
      auto e16 = make_engine(*m16, make_options());
      auto r32 = cpu_engine::create(cfg32, s32, make_options());
      REQUIRE(e16);
      REQUIRE(r32.ok());
      auto& e32 = *r32.value();
      // 16-bit: half the bytes; Q8_0: 36 bytes per 32 values (int8 and an f32 scale) instead of 128.
      if (type == dtype::q8_0)
        CHECK(e16->weight_bytes_per_token() * 128 == e32.weight_bytes_per_token() * 36);
      else
        CHECK(e16->weight_bytes_per_token() * 2 == e32.weight_bytes_per_token());
      const auto rows16 = run_steps(*e16, nc.cfg.vocab_size, nullptr);
      const auto feed = greedy_feed(rows16);
      const auto rows32 = run_steps(e32, nc.cfg.vocab_size, &feed);
      REQUIRE(rows16.size() == rows32.size());
      bool same = true;
      for (std::size_t i = 0; i < rows16.size(); ++i)
        same = same && rows16[i].size() == rows32[i].size() &&
               std::memcmp(rows16[i].data(), rows32[i].data(), rows16[i].size() * sizeof(float)) == 0;
      CHECK(same);
    }
  }
}

TEST_CASE("a matrix whose tensors differ in type is packed as F32") {
  // q_proj of layer 0 left in bf16 (Q8_0), the rest F32: layer 0's qkv stays
  // F32 (its k and v are F32), and the logits are those of all-F32 tensors.
  for (dtype type : {dtype::bf16, dtype::q8_0}) {
    INFO(dtype_name(type));
    auto m16 = make_model(config_gqa_tied(), type, 0.1, 78);
    const tensor_store mixed = as_f32(*m16, "model.layers.0.self_attn.q_proj.weight");
    const tensor_store all32 = as_f32(*m16);
    model_config cfg = m16->cfg;
    cfg.weight_dtype = dtype::f32;
    auto a = cpu_engine::create(cfg, mixed, make_options());
    auto b = cpu_engine::create(cfg, all32, make_options());
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a.value()->weight_bytes_per_token() == b.value()->weight_bytes_per_token());
    const auto p = random_tokens(13, cfg.vocab_size, 9);
    const auto la = run_one(*a.value(), 1, p), lb = run_one(*b.value(), 1, p);
    REQUIRE(!la.empty());
    CHECK(std::memcmp(la.data(), lb.data(), la.size() * sizeof(float)) == 0);
  }
}
