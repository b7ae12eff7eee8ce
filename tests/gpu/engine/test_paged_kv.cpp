// The engine over a paged KV cache: scattered blocks give the same logits as
// contiguous ones, an exhausted cache rejects a batch without changing
// anything, and freeing sequences returns every block.
#include <doctest/doctest.h>

#include <cstdio>
#include <map>
#include <vector>

#include "test_support.hpp"

using namespace kairos;
using namespace kairos::test;

TEST_CASE("scattered KV blocks give the same logits as contiguous ones") {
  struct shape_case {
    const char* name;
    model_config cfg;
    dtype type;
  };
  for (auto& sc : {shape_case{"gqa4/2-tied f32", config_gqa_tied(), dtype::f32},
                   shape_case{"qwen2-bias bf16", config_qwen2_bias(), dtype::bf16},
                   shape_case{"llama3-rope f32", config_llama3_rope(), dtype::f32}}) {
    CAPTURE(sc.name);
    auto m = make_model(sc.cfg, sc.type, 0.1, 4242);
    const int V = sc.cfg.vocab_size;
    for (auto [bs, kd] : {std::pair{4, kv_dtype::f32}, std::pair{16, kv_dtype::f32}, std::pair{4, kv_dtype::f16},
                          std::pair{16, kv_dtype::f16}}) {
      CAPTURE(bs);
      CAPTURE(kv_dtype_name(kd));
      // With an F16 cache, the reference rounds K and V the same way. It
      // rounds float64 values, the engine float32 ones, so an element within
      // ~1e-7 of a rounding tie can land one half-ulp apart: F32 weights get
      // 5e-4 instead of 1e-4 over the long decode below.
      reference ref(*m, kd == kv_dtype::f16);
      const double tol = sc.type == dtype::f32 ? (kd == kv_dtype::f16 ? 5e-4 : 1e-4) : 1e-2;
      auto opts = make_options(bs, 64 * bs);
      opts.kv_cache_dtype = kd;
      auto frag = make_engine(*m, opts);
      auto fresh = make_engine(*m, opts);
      REQUIRE(frag);
      REQUIRE(fresh);
      // Fragment: 8 dummy sequences of 2 blocks each, free every other one.
      for (seq_id s = 1; s <= 8; ++s) {
        auto t = random_tokens(2 * bs, V, 900 + s);
        (void)run_one(*frag, s, t, /*want_logits=*/false);
        CHECK(frag->kv_table().n_tokens(s) == 2 * bs);
      }
      for (seq_id s = 1; s <= 8; s += 2) frag->free_sequence(s);
      CHECK(frag->kv_table().n_free() == frag->kv_table().n_blocks() - 8);

      const int n_prompt = 3 * bs + 3;  // 4 blocks: spans 4 of the freed holes
      auto prompt = random_tokens(n_prompt, V, 77);
      auto a = run_one(*frag, 100, prompt);
      auto b = run_one(*fresh, 100, prompt);
      REQUIRE(!a.empty());
      REQUIRE(!b.empty());
      auto blocks_frag = frag->kv_table().blocks(100);
      auto blocks_fresh = fresh->kv_table().blocks(100);
      REQUIRE(blocks_frag.size() == 4);
      std::printf("  %-16s bs%-2d kv %s scattered blocks:", sc.name, bs, std::string(kv_dtype_name(kd)).c_str());
      for (auto x : blocks_frag) std::printf(" %d", x);
      std::printf("  fresh:");
      for (auto x : blocks_fresh) std::printf(" %d", x);
      CHECK_FALSE(contiguous(blocks_frag));
      CHECK(contiguous(blocks_fresh));
      double diff = max_abs_diff(a, b);
      double err = rel_l2(a, ref.last_logits(prompt));
      CHECK(diff == 0.0);
      CHECK(err < tol);
      // Decode across block boundaries (the new blocks come from the holes too).
      std::vector<std::int32_t> seq = prompt;
      double worst = diff;
      for (int step = 0; step < bs + 2; ++step) {
        std::int32_t t = static_cast<std::int32_t>((step * 37 + 11) % V);
        seq.push_back(t);
        auto ga = run_one(*frag, 100, std::span<const std::int32_t>(&t, 1));
        auto gb = run_one(*fresh, 100, std::span<const std::int32_t>(&t, 1));
        REQUIRE(!ga.empty());
        CHECK(max_abs_diff(ga, gb) == 0.0);
        worst = std::max(worst, max_abs_diff(ga, gb));
      }
      // The last decode step still matches the reference on the whole sequence.
      {
        std::int32_t t = 1;
        seq.push_back(t);
        auto ga = run_one(*frag, 100, std::span<const std::int32_t>(&t, 1));
        CHECK(rel_l2(ga, ref.last_logits(seq)) < tol);
      }
      CHECK_FALSE(contiguous(frag->kv_table().blocks(100)));
      std::printf("  -> max abs diff %.3e, ref rel_l2 %.3e\n", worst, err);
      // Everything back.
      for (seq_id s = 2; s <= 8; s += 2) frag->free_sequence(s);
      frag->free_sequence(100);
      CHECK(frag->kv_table().n_free() == frag->kv_table().n_blocks());
      CHECK(frag->kv_table().n_sequences() == 0);
    }
  }
}

TEST_CASE("kv capacity is rounded up to whole blocks") {
  auto m = make_model(config_mha(), dtype::f32, 0.1, 5);
  auto e = make_engine(*m, make_options(16, 50));
  REQUIRE(e);
  CHECK(e->kv_table().block_size() == 16);
  CHECK(e->kv_table().n_blocks() == 4);
  CHECK(e->kv_table().n_free() == 4);
  auto e4 = make_engine(*m, make_options(4, 50));
  REQUIRE(e4);
  CHECK(e4->kv_table().block_size() == 4);
  CHECK(e4->kv_table().n_blocks() == 13);
}

TEST_CASE("exhausting the KV cache rejects the batch and changes nothing") {
  auto m = make_model(config_gqa_tied(), dtype::f32, 0.1, 99);
  reference ref(*m);
  const int V = m->cfg.vocab_size;
  auto e = make_engine(*m, make_options(16, 64));  // 4 blocks
  REQUIRE(e);
  REQUIRE(e->kv_table().n_blocks() == 4);
  auto p1 = random_tokens(20, V, 1);  // 2 blocks
  auto p2 = random_tokens(10, V, 2);  // 1 block
  REQUIRE(!run_one(*e, 1, p1).empty());
  REQUIRE(!run_one(*e, 2, p2).empty());
  REQUIRE(e->kv_table().n_free() == 1);
  auto before = snapshot(*e, {1, 2, 3});

  // Needs 2 blocks for seq 3 (+0 for seq 1's decode): only 1 free.
  auto p3 = random_tokens(20, V, 3);
  const std::int32_t t1 = 42;
  std::vector<batch_sequence> b{{1, std::span<const std::int32_t>(&t1, 1), true}, {3, p3, true}};
  auto r = e->forward(b);
  CHECK(r.status == forward_status::kv_exhausted);
  CHECK_FALSE(r.message.empty());
  std::printf("kv_exhausted message: \"%s\"\n", r.message.c_str());
  CHECK(snapshot(*e, {1, 2, 3}) == before);
  CHECK_FALSE(e->kv_table().contains(3));

  // A single sequence longer than the whole cache can never fit: rejected
  // (the engine calls it invalid_batch, since waiting would not help).
  auto huge = random_tokens(65, V, 4);
  auto r2 = e->forward(std::vector<batch_sequence>{{4, huge, true}});
  CHECK(r2.status != forward_status::ok);
  CHECK_FALSE(r2.message.empty());
  std::printf("sequence larger than the cache: %s \"%s\"\n", forward_status_name(r2.status), r2.message.c_str());
  CHECK(snapshot(*e, {1, 2, 3}) == before);
  CHECK_FALSE(e->kv_table().contains(4));

  // Nothing changed: seq 1's decode gives the reference logits (its KV was
  // not written by the failed batch).
  auto s1 = p1;
  s1.push_back(t1);
  auto g1 = run_one(*e, 1, std::span<const std::int32_t>(&t1, 1));
  REQUIRE(!g1.empty());
  double err = rel_l2(g1, ref.last_logits(s1));
  std::printf("decode after rejected batch: rel_l2 %.3e\n", err);
  CHECK(err < 1e-4);
  CHECK(e->kv_table().n_tokens(1) == 21);
  CHECK(e->kv_table().n_free() == 1);

  // After freeing seq 2 the batch fits (seq 3 takes 2 blocks).
  e->free_sequence(2);
  CHECK(e->kv_table().n_free() == 2);
  CHECK_FALSE(e->kv_table().contains(2));
  auto c = run_forward(*e, std::vector<batch_sequence>{{3, p3, true}});
  REQUIRE(c.status == forward_status::ok);
  REQUIRE(c.rows.size() == 1);
  CHECK(rel_l2(c.rows[0], ref.last_logits(p3)) < 1e-4);
  CHECK(e->kv_table().n_free() == 0);

  // Full: even a decode that needs a new block fails; one that fits works.
  // seq 1 holds 21 tokens in 2 blocks (room up to 32).
  std::vector<std::int32_t> more(11, 7);
  REQUIRE(!run_one(*e, 1, more).empty());
  CHECK(e->kv_table().n_tokens(1) == 32);
  const std::int32_t t2 = 3;
  auto r3 = e->forward(std::vector<batch_sequence>{{1, std::span<const std::int32_t>(&t2, 1), true}});
  CHECK(r3.status == forward_status::kv_exhausted);
  CHECK(e->kv_table().n_tokens(1) == 32);

  // free_sequence returns every block.
  e->free_sequence(1);
  e->free_sequence(3);
  CHECK(e->kv_table().n_free() == e->kv_table().n_blocks());
  CHECK(e->kv_table().n_sequences() == 0);
  // Freeing an unknown sequence is harmless.
  e->free_sequence(12345);
  CHECK(e->kv_table().n_free() == e->kv_table().n_blocks());
  // And it works again from scratch, matching the reference.
  auto g = run_one(*e, 7, p1);
  REQUIRE(!g.empty());
  CHECK(rel_l2(g, ref.last_logits(p1)) < 1e-4);
}

TEST_CASE("invalid batches are rejected without changing the table") {
  auto m = make_model(config_mha(), dtype::f32, 0.1, 8);
  auto e = make_engine(*m, make_options(16, 256));
  REQUIRE(e);
  const int V = m->cfg.vocab_size;
  auto p = random_tokens(5, V, 1);
  REQUIRE(!run_one(*e, 1, p).empty());
  auto before = snapshot(*e, {1, 2});

  // The same sequence twice in one batch.
  auto q = random_tokens(3, V, 2);
  auto r1 = e->forward(std::vector<batch_sequence>{{2, q, true}, {2, q, true}});
  CHECK(r1.status == forward_status::invalid_batch);
  CHECK_FALSE(r1.message.empty());
  CHECK(snapshot(*e, {1, 2}) == before);

  // A token id outside the vocabulary.
  std::vector<std::int32_t> bad{1, V, 2};
  auto r2 = e->forward(std::vector<batch_sequence>{{2, bad, true}});
  CHECK(r2.status == forward_status::invalid_batch);
  CHECK(snapshot(*e, {1, 2}) == before);
  std::vector<std::int32_t> neg{-1};
  auto r3 = e->forward(std::vector<batch_sequence>{{1, neg, true}});
  CHECK(r3.status == forward_status::invalid_batch);
  CHECK(snapshot(*e, {1, 2}) == before);
  std::printf("invalid_batch messages: \"%s\" / \"%s\"\n", r1.message.c_str(), r2.message.c_str());
}
