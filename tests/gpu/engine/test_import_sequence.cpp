// Moving a sequence's KV between engines (the CPU KV transfer): a sequence
// prefilled on one engine, exported and imported into another whose cache is
// fragmented, decodes its next token with the same logits as on the source;
// an import into a full cache fails with kv_exhausted and changes nothing.
#include <doctest/doctest.h>

#include <map>
#include <vector>

#include "test_support.hpp"

using namespace kairos;
using namespace kairos::test;

TEST_CASE("an imported sequence decodes with the source engine's logits") {
  for (const auto& [name, cfg, type, kd] :
       {std::tuple{"mha f32", config_mha(), dtype::f32, kv_dtype::f32},
        std::tuple{"gqa-tied bf16", config_gqa_tied(), dtype::bf16, kv_dtype::f32},
        std::tuple{"gqa-tied f32, f16 KV", config_gqa_tied(), dtype::f32, kv_dtype::f16}}) {
    CAPTURE(name);
    auto m = make_model(cfg, type, 0.1, 7);
    auto opts = make_options(16, 1024);
    opts.kv_cache_dtype = kd;
    auto src = make_engine(*m, opts);
    auto dst = make_engine(*m, opts);

    // Fragment the destination: five sequences, free every other one, so
    // the import lands on scattered blocks.
    for (seq_id s = 100; s < 105; ++s) REQUIRE_FALSE(run_one(*dst, s, random_tokens(20, cfg.vocab_size, 40 + s)).empty());
    dst->free_sequence(100);
    dst->free_sequence(102);
    dst->free_sequence(104);

    const auto prompt = random_tokens(53, cfg.vocab_size, 11);
    const seq_id seq = 7;
    auto first = run_one(*src, seq, prompt);
    REQUIRE_FALSE(first.empty());
    const int32_t next = argmax(first);

    auto blob = src->export_sequence(seq);
    REQUIRE(blob.n_tokens == 53);
    REQUIRE(blob.rows);
    std::string why;
    REQUIRE_MESSAGE(dst->import_sequence(seq, blob, &why) == forward_status::ok, why);
    CHECK(dst->kv_table().n_tokens(seq) == 53);
    CHECK_FALSE(contiguous(dst->kv_table().blocks(seq)));
    CHECK(std::vector<int32_t>(dst->kv_table().blocks(seq).begin(), dst->kv_table().blocks(seq).end()) !=
          std::vector<int32_t>(src->kv_table().blocks(seq).begin(), src->kv_table().blocks(seq).end()));

    // The next two decode steps, on both engines.
    int32_t tok = next;
    for (int step = 0; step < 2; ++step) {
      auto a = run_one(*src, seq, std::span<const int32_t>(&tok, 1));
      auto b = run_one(*dst, seq, std::span<const int32_t>(&tok, 1));
      REQUIRE(a.size() == b.size());
      REQUIRE_FALSE(a.empty());
      CHECK(max_abs_diff(a, b) == 0.0);
      tok = argmax(a);
    }

    // A second import of the same sequence is refused, unchanged.
    const auto before = snapshot(*dst, {seq});
    CHECK(dst->import_sequence(seq, blob, &why) == forward_status::invalid_batch);
    CHECK(snapshot(*dst, {seq}) == before);
  }
}

TEST_CASE("importing into a full cache returns kv_exhausted and changes nothing") {
  auto cfg = config_mha();
  auto m = make_model(cfg, dtype::f32, 0.1, 3);
  auto src = make_engine(*m, make_options(16, 1024));
  auto dst = make_engine(*m, make_options(16, 128));  // 8 blocks
  REQUIRE_FALSE(run_one(*src, 1, random_tokens(70, cfg.vocab_size, 1)).empty());  // 5 blocks
  REQUIRE_FALSE(run_one(*dst, 2, random_tokens(60, cfg.vocab_size, 2)).empty());  // 4 blocks, 4 free
  auto blob = src->export_sequence(1);
  REQUIRE(blob.n_tokens == 70);

  const auto before = snapshot(*dst, {1, 2});
  std::string why;
  CHECK(dst->import_sequence(1, blob, &why) == forward_status::kv_exhausted);
  CHECK(why.find("exhausted") != std::string::npos);
  CHECK(snapshot(*dst, {1, 2}) == before);
  CHECK_FALSE(dst->kv_table().contains(1));

  // With room made, the same blob goes in.
  dst->free_sequence(2);
  CHECK(dst->import_sequence(1, blob, &why) == forward_status::ok);
  CHECK(dst->kv_table().n_tokens(1) == 70);
}

TEST_CASE("export of an unknown sequence is empty; mismatched rows are refused") {
  auto m = make_model(config_mha(), dtype::f32, 0.1, 5);
  auto e = make_engine(*m, make_options(16, 256));
  auto blob = e->export_sequence(42);
  CHECK(blob.n_tokens == 0);
  CHECK_FALSE(blob.rows);
  CHECK(e->import_sequence(42, blob) == forward_status::invalid_batch);

  kv_pool_shape other = e->kv_storage().shape();
  other.block_size = 8;
  other.n_blocks = 4;
  kv_pool rows(other);
  const int free_before = e->kv_table().n_free();
  std::string why;
  CHECK(e->import_sequence(42, 20, rows, &why) == forward_status::invalid_batch);
  CHECK(e->kv_table().n_free() == free_before);

  // Rows of the right shape but F16 elements, into an F32 cache.
  kv_pool_shape f16_shape = e->kv_storage().shape();
  f16_shape.n_blocks = 4;
  f16_shape.dtype = kv_dtype::f16;
  kv_pool f16_rows(f16_shape);
  CHECK(e->import_sequence(42, 20, f16_rows, &why) == forward_status::invalid_batch);
  CHECK(why.find("dtype f16") != std::string::npos);
  CHECK(e->kv_table().n_free() == free_before);
  CHECK_FALSE(e->kv_table().contains(42));
}
