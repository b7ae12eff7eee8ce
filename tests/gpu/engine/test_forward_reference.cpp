// The CPU engine's logits against an independent float64 reference:
// prefill, decode, and a mixed ragged batch, for MHA / GQA / tied / qkv-bias /
// Llama-3 RoPE scaling models, F32 and BF16 weights.
#include <doctest/doctest.h>

#include <cstdio>
#include <vector>

#include "test_support.hpp"

using namespace kairos;
using namespace kairos::test;

namespace {

void report(const char* cfg, const char* what, double err, double tol) {
  std::printf("  %-40s %-34s rel_l2 %.3e (tol %.0e)\n", cfg, what, err, tol);
}

}  // namespace

TEST_CASE("reference self-check: llama3 RoPE bands fall in all three regimes") {
  model_config c = config_llama3_rope();
  auto scaled = reference::inverse_frequencies(c);
  c.rope_scaling.llama3 = false;
  auto plain = reference::inverse_frequencies(c);
  int kept = 0, divided = 0, smoothed = 0;
  for (std::size_t i = 0; i < plain.size(); ++i) {
    const double r = scaled[i] / plain[i];
    if (std::abs(r - 1.0) < 1e-12) ++kept;
    else if (std::abs(r - 1.0 / 8.0) < 1e-12) ++divided;
    else {
      CHECK(r < 1.0);
      CHECK(r > 1.0 / 8.0);
      ++smoothed;
    }
  }
  MESSAGE("llama3 bands: kept " << kept << ", smoothed " << smoothed << ", divided " << divided);
  CHECK(kept >= 1);
  CHECK(smoothed >= 1);
  CHECK(divided >= 1);
  // Consistency of the reference: all-position logits agree with last-token logits.
  auto m = make_model(config_gqa_tied(), dtype::f32, 0.1, 7);
  reference ref(*m);
  auto toks = random_tokens(9, m->cfg.vocab_size, 3);
  auto all = ref.all_logits(toks);
  auto last5 = ref.last_logits(std::span<const std::int32_t>(toks).first(5));
  REQUIRE(all.size() == 9);
  for (std::size_t i = 0; i < last5.size(); ++i) CHECK(all[4][i] == last5[i]);
}

TEST_CASE("reference self-check: the features under test change the logits far beyond the tolerance") {
  auto rel = [](const std::vector<double>& a, const std::vector<double>& b) {
    double num = 0, den = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      num += (a[i] - b[i]) * (a[i] - b[i]);
      den += b[i] * b[i];
    }
    return std::sqrt(num / den);
  };
  {  // llama3 scaling at the positions used (37 tokens, original max 64)
    auto m = make_model(config_llama3_rope(), dtype::f32, 0.1, 1);
    auto plain = *m;
    plain.cfg.rope_scaling.llama3 = false;
    auto toks = random_tokens(37, m->cfg.vocab_size, 2);
    double d = rel(reference(plain).last_logits(toks), reference(*m).last_logits(toks));
    MESSAGE("llama3 scaling on/off changes last logits by rel " << d);
    CHECK(d > 1e-2);
  }
  {  // qkv bias
    auto m = make_model(config_qwen2_bias(), dtype::f32, 0.1, 1);
    auto nobias = *m;
    nobias.cfg.qkv_bias = false;
    auto toks = random_tokens(37, m->cfg.vocab_size, 2);
    double d = rel(reference(nobias).last_logits(toks), reference(*m).last_logits(toks));
    MESSAGE("qkv bias on/off changes last logits by rel " << d);
    CHECK(d > 1e-2);
  }
  {  // BF16 rounding of the weights is visible (so the reference must use the rounded values)
    auto m32 = make_model(config_mha(), dtype::f32, 0.1, 1);
    auto m16 = make_model(config_mha(), dtype::bf16, 0.1, 1);
    auto toks = random_tokens(37, m32->cfg.vocab_size, 2);
    double d = rel(reference(*m16).last_logits(toks), reference(*m32).last_logits(toks));
    MESSAGE("bf16 vs f32 weights change last logits by rel " << d);
    CHECK(d > 1e-4);
  }
}

TEST_CASE("prefill: last-token logits match the float64 reference") {
  std::printf("prefill (37 tokens) and 1-token prompt:\n");
  for (auto& nc : reference_configs()) {
    CAPTURE(nc.name);
    auto m = make_model(nc.cfg, nc.type, nc.scale, 1000 + nc.cfg.hidden_size);
    reference ref(*m);
    for (int bs : {16, 4}) {
      auto e = make_engine(*m, make_options(bs, 512));
      REQUIRE(e);
      CAPTURE(bs);
      auto prompt = random_tokens(37, nc.cfg.vocab_size, 11);
      auto got = run_one(*e, 1, prompt);
      REQUIRE(got.size() == static_cast<std::size_t>(nc.cfg.vocab_size));
      double err = rel_l2(got, ref.last_logits(prompt));
      report(nc.name, bs == 16 ? "prefill 37 (bs16)" : "prefill 37 (bs4)", err, nc.tol);
      CHECK(err < nc.tol);
      CHECK(e->kv_table().n_tokens(1) == 37);

      // A one-token prompt.
      auto one = random_tokens(1, nc.cfg.vocab_size, 12);
      auto got1 = run_one(*e, 2, one);
      REQUIRE(got1.size() == static_cast<std::size_t>(nc.cfg.vocab_size));
      double err1 = rel_l2(got1, ref.last_logits(one));
      if (bs == 16) report(nc.name, "prefill 1 token", err1, nc.tol);
      CHECK(err1 < nc.tol);
    }
  }
}

TEST_CASE("decode: five steps after a prefill match the reference on the whole sequence") {
  std::printf("decode (37-token prefill + 5 steps), worst step:\n");
  for (auto& nc : reference_configs()) {
    CAPTURE(nc.name);
    auto m = make_model(nc.cfg, nc.type, nc.scale, 2000 + nc.cfg.hidden_size);
    reference ref(*m);
    for (int bs : {16, 4}) {
      CAPTURE(bs);
      auto e = make_engine(*m, make_options(bs, 512));
      REQUIRE(e);
      auto seq = random_tokens(37, nc.cfg.vocab_size, 21);
      auto feed = random_tokens(5, nc.cfg.vocab_size, 22);
      // Reference logits of every position of the whole 42-token sequence
      // (causal: position t's logits are those of the prefix of t + 1 tokens).
      auto full = seq;
      full.insert(full.end(), feed.begin(), feed.end());
      auto all = ref.all_logits(full);
      auto got = run_one(*e, 5, seq);
      REQUIRE(!got.empty());
      double worst = rel_l2(got, all[36]);
      CHECK(worst < nc.tol);
      for (int step = 0; step < 5; ++step) {
        CAPTURE(step);
        seq.push_back(feed[step]);
        auto g = run_one(*e, 5, std::span<const std::int32_t>(&feed[step], 1));
        REQUIRE(g.size() == static_cast<std::size_t>(nc.cfg.vocab_size));
        double err = rel_l2(g, all[37 + step]);
        CHECK(err < nc.tol);
        worst = std::max(worst, err);
        CHECK(e->kv_table().n_tokens(5) == static_cast<int>(seq.size()));
      }
      report(nc.name, bs == 16 ? "decode x5 (bs16)" : "decode x5 (bs4)", worst, nc.tol);
    }
  }
}

TEST_CASE("prefill in chunks and logits of earlier positions via short prompts") {
  // A prompt sent as three chunks (no logits for the first two) gives the
  // same last logits as the reference.
  std::printf("chunked prefill 13+11+13:\n");
  for (auto& nc : reference_configs()) {
    CAPTURE(nc.name);
    auto m = make_model(nc.cfg, nc.type, nc.scale, 3000 + nc.cfg.hidden_size);
    reference ref(*m);
    auto e = make_engine(*m, make_options(16, 512));
    REQUIRE(e);
    auto prompt = random_tokens(37, nc.cfg.vocab_size, 31);
    std::span<const std::int32_t> p(prompt);
    auto r0 = run_one(*e, 9, p.subspan(0, 13), /*want_logits=*/false);
    auto r1 = run_one(*e, 9, p.subspan(13, 11), /*want_logits=*/false);
    CHECK(r0.empty());
    CHECK(r1.empty());
    CHECK(e->kv_table().n_tokens(9) == 24);
    auto got = run_one(*e, 9, p.subspan(24));
    REQUIRE(got.size() == static_cast<std::size_t>(nc.cfg.vocab_size));
    double err = rel_l2(got, ref.last_logits(prompt));
    report(nc.name, "chunked prefill", err, nc.tol);
    CHECK(err < nc.tol);
  }
}

TEST_CASE("mixed ragged batch: two prefills, two decodes and a chunk in one forward") {
  std::printf("mixed ragged batch (prefill 23, prefill 9, decode ctx 30, decode ctx 5, chunk 12+7):\n");
  for (auto& nc : reference_configs()) {
    CAPTURE(nc.name);
    auto m = make_model(nc.cfg, nc.type, nc.scale, 4000 + nc.cfg.hidden_size);
    reference ref(*m);
    for (int bs : {16, 4}) {
      CAPTURE(bs);
      auto e = make_engine(*m, make_options(bs, 512));
      REQUIRE(e);
      const int V = nc.cfg.vocab_size;
      auto pa = random_tokens(23, V, 41);  // new prefill
      auto pb = random_tokens(9, V, 42);   // new prefill
      auto hc = random_tokens(30, V, 43);  // decode context
      auto hd = random_tokens(5, V, 44);   // decode context
      auto he = random_tokens(19, V, 45);  // 12 held, 7 in the mixed batch
      // Earlier forward: the decode contexts and the first chunk, together.
      {
        std::vector<batch_sequence> pre{
            {30, hc, false}, {40, hd, true}, {50, std::span<const std::int32_t>(he).first(12), false}};
        auto c = run_forward(*e, pre);
        REQUIRE(c.status == forward_status::ok);
        REQUIRE(c.rows.size() == 1);
        double err = rel_l2(c.rows[0], ref.last_logits(hd));
        CHECK(err < nc.tol);
      }
      const std::int32_t tc = 17 % V, td = 101 % V;
      std::vector<batch_sequence> batch{
          {30, std::span<const std::int32_t>(&tc, 1), true},     // decode, context 30
          {10, pa, true},                                         // prefill 23
          {50, std::span<const std::int32_t>(he).subspan(12), true},  // chunk 7 after 12
          {40, std::span<const std::int32_t>(&td, 1), true},     // decode, context 5
          {20, pb, true},                                         // prefill 9
      };
      auto c = run_forward(*e, batch);
      REQUIRE(c.status == forward_status::ok);
      REQUIRE(c.rows.size() == 5);
      auto sc = hc;
      sc.push_back(tc);
      auto sd = hd;
      sd.push_back(td);
      double errs[5] = {rel_l2(c.rows[0], ref.last_logits(sc)), rel_l2(c.rows[1], ref.last_logits(pa)),
                        rel_l2(c.rows[2], ref.last_logits(he)), rel_l2(c.rows[3], ref.last_logits(sd)),
                        rel_l2(c.rows[4], ref.last_logits(pb))};
      const char* what[5] = {"decode ctx30", "prefill 23", "chunk 12+7", "decode ctx5", "prefill 9"};
      double worst = 0;
      for (int i = 0; i < 5; ++i) {
        CAPTURE(what[i]);
        CHECK(errs[i] < nc.tol);
        worst = std::max(worst, errs[i]);
      }
      if (worst >= nc.tol)
        for (int i = 0; i < 5; ++i) report(nc.name, what[i], errs[i], nc.tol);
      report(nc.name, bs == 16 ? "mixed batch worst (bs16)" : "mixed batch worst (bs4)", worst, nc.tol);
      CHECK(e->kv_table().n_tokens(30) == 31);
      CHECK(e->kv_table().n_tokens(10) == 23);
      CHECK(e->kv_table().n_tokens(50) == 19);
      CHECK(e->kv_table().n_tokens(40) == 6);
      CHECK(e->kv_table().n_tokens(20) == 9);

      // Mixed batch where only some sequences want logits: rows are in batch order.
      const std::int32_t t2 = 5 % V, t3 = 7 % V;
      std::vector<batch_sequence> b2{{10, std::span<const std::int32_t>(&t2, 1), false},
                                     {20, std::span<const std::int32_t>(&t3, 1), true}};
      auto c2 = run_forward(*e, b2);
      REQUIRE(c2.status == forward_status::ok);
      REQUIRE(c2.rows.size() == 1);
      auto sb = pb;
      sb.push_back(t3);
      CHECK(rel_l2(c2.rows[0], ref.last_logits(sb)) < nc.tol);
      CHECK(e->kv_table().n_tokens(10) == 24);
    }
  }
}
