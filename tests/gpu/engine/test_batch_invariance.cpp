// Batch invariance: a sequence's logits do not depend on what else is in the
// batch (the engine aims at bitwise equality), greedy generation gives the
// same tokens however prompts are batched, and reruns are deterministic.
#include <doctest/doctest.h>

#include <cstdio>
#include <map>
#include <vector>

#include "test_support.hpp"

using namespace kairos;
using namespace kairos::test;

namespace {

// Tolerance on the max abs difference between batched and alone logits:
// exact equality is the engine's aim.
constexpr double kExact = 0.0;

struct shape_case {
  const char* name;
  model_config cfg;
  dtype type;
};

std::vector<shape_case> shapes() {
  return {{"mha-untied f32", config_mha(), dtype::f32},
          {"gqa4/2-tied bf16", config_gqa_tied(), dtype::bf16},
          {"qwen2-bias f32", config_qwen2_bias(), dtype::f32},
          {"llama3-rope f32", config_llama3_rope(), dtype::f32}};
}

// Greedy generation. `start[i]` is the step at which prompt i joins (0 for
// all-together); every step runs one forward() holding every active
// sequence: prefills of those joining, decodes of the others.
std::vector<std::vector<std::int32_t>> generate(cpu_engine& e, const std::vector<std::vector<std::int32_t>>& prompts,
                                                const std::vector<int>& start, const std::vector<int>& order,
                                                int n_new, seq_id base,
                                                std::vector<std::vector<std::vector<float>>>* logits_out = nullptr) {
  const int n = static_cast<int>(prompts.size());
  std::vector<std::vector<std::int32_t>> out(n);
  std::vector<std::int32_t> last(n);
  if (logits_out) logits_out->assign(n, {});
  for (int step = 0;; ++step) {
    std::vector<batch_sequence> batch;
    std::vector<int> who;
    for (int i : order) {
      if (step < start[i]) continue;
      if (static_cast<int>(out[i].size()) >= n_new) continue;
      if (step == start[i])
        batch.push_back({base + i, prompts[i], true});
      else
        batch.push_back({base + i, std::span<const std::int32_t>(&last[i], 1), true});
      who.push_back(i);
    }
    if (batch.empty()) {
      bool pending = false;
      for (int i = 0; i < n; ++i) pending |= step < start[i];
      if (!pending) break;
      continue;
    }
    auto r = e.forward(batch);
    REQUIRE(r.status == forward_status::ok);
    for (std::size_t j = 0; j < who.size(); ++j) {
      auto row = r.logits(static_cast<int>(j));
      const int i = who[j];
      last[i] = argmax(row);
      out[i].push_back(last[i]);
      if (logits_out) (*logits_out)[i].emplace_back(row.begin(), row.end());
    }
  }
  for (int i = 0; i < n; ++i) e.free_sequence(base + i);
  return out;
}

}  // namespace

TEST_CASE("prefill and decode logits are the same batched as alone") {
  std::printf("batched vs alone, max abs diff of logits:\n");
  for (auto& sc : shapes()) {
    CAPTURE(sc.name);
    auto m = make_model(sc.cfg, sc.type, 0.1, 500 + sc.cfg.hidden_size);
    const int V = sc.cfg.vocab_size;
    std::vector<std::vector<std::int32_t>> prompts{random_tokens(23, V, 1), random_tokens(9, V, 2),
                                                   random_tokens(1, V, 3), random_tokens(40, V, 4)};
    for (int bs : {16, 4}) {
      CAPTURE(bs);
      auto batched = make_engine(*m, make_options(bs, 512));
      auto alone = make_engine(*m, make_options(bs, 512));
      REQUIRE(batched);
      REQUIRE(alone);
      // Prefill: all four prompts in one forward vs one at a time.
      std::vector<batch_sequence> b;
      for (int i = 0; i < 4; ++i) b.push_back({i, prompts[i], true});
      auto cb = run_forward(*batched, b);
      REQUIRE(cb.status == forward_status::ok);
      REQUIRE(cb.rows.size() == 4);
      double worst = 0, scale = 0;
      for (int i = 0; i < 4; ++i) {
        auto a = run_one(*alone, i, prompts[i]);
        REQUIRE(!a.empty());
        double d = max_abs_diff(cb.rows[i], a);
        scale = std::max(scale, max_abs(a));
        CHECK(d <= kExact * scale);
        worst = std::max(worst, d);
      }
      // Decode: three steps, all four together vs one at a time; the alone
      // engine also runs the sequences in a different order.
      for (int step = 0; step < 3; ++step) {
        std::vector<std::int32_t> toks{static_cast<std::int32_t>((7 * step + 1) % V), static_cast<std::int32_t>((3 * step + 5) % V),
                                       static_cast<std::int32_t>((11 * step + 2) % V), static_cast<std::int32_t>((13 * step + 9) % V)};
        std::vector<batch_sequence> d;
        for (int i = 0; i < 4; ++i) d.push_back({i, std::span<const std::int32_t>(&toks[i], 1), true});
        auto c = run_forward(*batched, d);
        REQUIRE(c.status == forward_status::ok);
        REQUIRE(c.rows.size() == 4);
        for (int i : {3, 1, 0, 2}) {
          auto a = run_one(*alone, i, std::span<const std::int32_t>(&toks[i], 1));
          REQUIRE(!a.empty());
          double diff = max_abs_diff(c.rows[i], a);
          CHECK(diff <= kExact * scale);
          worst = std::max(worst, diff);
        }
      }
      std::printf("  %-20s bs%-2d max abs diff %.3e (logit scale %.3e)\n", sc.name, bs, worst, scale);
    }
  }
}

TEST_CASE("a sequence's logits do not depend on its batch position or neighbours") {
 for (kv_dtype kd : {kv_dtype::f32, kv_dtype::f16}) {
  CAPTURE(kv_dtype_name(kd));
  auto m = make_model(config_gqa_tied(), dtype::f32, 0.1, 77);
  const int V = m->cfg.vocab_size;
  auto target = random_tokens(17, V, 5);
  auto opts = make_options(16, 1024);
  opts.kv_cache_dtype = kd;
  auto e = make_engine(*m, opts);
  REQUIRE(e);
  auto ref_logits = run_one(*e, 1000, target);
  e->free_sequence(1000);
  REQUIRE(!ref_logits.empty());
  double worst = 0;
  // Neighbours of various lengths, target first, middle, last.
  for (int pos = 0; pos < 3; ++pos) {
    for (int nl : {1, 5, 33}) {
      auto n1 = random_tokens(nl, V, 100 + nl);
      auto n2 = random_tokens(nl + 3, V, 200 + nl);
      std::vector<batch_sequence> b{{1, n1, true}, {2, n2, pos != 1}};
      b.insert(b.begin() + pos, batch_sequence{1000, target, true});
      auto c = run_forward(*e, b);
      REQUIRE(c.status == forward_status::ok);
      int row = 0;
      for (int j = 0; j < pos; ++j) row += b[j].want_logits ? 1 : 0;
      double d = max_abs_diff(c.rows[row], ref_logits);
      CHECK(d <= kExact);
      worst = std::max(worst, d);
      for (seq_id s : {1, 2, 1000}) e->free_sequence(s);
    }
  }
  std::printf("position/neighbour invariance, kv %s: max abs diff %.3e\n", std::string(kv_dtype_name(kd)).c_str(), worst);
 }
}

TEST_CASE("greedy generation: together, alone and staggered give identical tokens") {
  for (auto& sc : shapes()) {
    CAPTURE(sc.name);
    auto m = make_model(sc.cfg, sc.type, 0.1, 900 + sc.cfg.hidden_size);
    const int V = sc.cfg.vocab_size;
    std::vector<std::vector<std::int32_t>> prompts{random_tokens(12, V, 61), random_tokens(31, V, 62),
                                                   random_tokens(3, V, 63), random_tokens(20, V, 64)};
    const int n_new = 20;
    auto e1 = make_engine(*m, make_options(16, 1024));
    auto e2 = make_engine(*m, make_options(16, 1024));
    auto e3 = make_engine(*m, make_options(16, 1024));
    auto e4 = make_engine(*m, make_options(4, 1024));
    REQUIRE(e1);
    REQUIRE(e2);
    REQUIRE(e3);
    REQUIRE(e4);

    std::vector<std::vector<std::vector<float>>> lt, ls;
    auto together = generate(*e1, prompts, {0, 0, 0, 0}, {0, 1, 2, 3}, n_new, 100, &lt);
    // Alone: one prompt at a time on a second engine.
    std::vector<std::vector<std::int32_t>> alone(4);
    for (int i = 0; i < 4; ++i) {
      std::vector<std::vector<std::int32_t>> one{prompts[i]};
      alone[i] = generate(*e2, one, {0}, {0}, n_new, 200 + 10 * i)[0];
    }
    // Staggered: prompt i joins at step 3*i, reversed batch order; batches
    // mix prefills and decodes.
    auto staggered = generate(*e3, prompts, {0, 3, 6, 9}, {3, 2, 1, 0}, n_new, 300, &ls);
    // Staggered differently on an engine with block size 4: same tokens
    // (logits compared but only reported: another block size may sum in
    // another order).
    std::vector<std::vector<std::vector<float>>> l4;
    auto staggered4 = generate(*e4, prompts, {5, 0, 2, 1}, {1, 3, 0, 2}, n_new, 500, &l4);
    // Same again on the first engine (its blocks are now reused): determinism.
    std::vector<std::vector<std::vector<float>>> lt2;
    auto again = generate(*e1, prompts, {0, 0, 0, 0}, {0, 1, 2, 3}, n_new, 400, &lt2);

    double max_stagger = 0, max_again = 0, max_bs4 = 0;
    for (int i = 0; i < 4; ++i) {
      CAPTURE(i);
      REQUIRE(together[i].size() == static_cast<std::size_t>(n_new));
      CHECK(together[i] == alone[i]);
      CHECK(together[i] == staggered[i]);
      CHECK(together[i] == again[i]);
      CHECK(together[i] == staggered4[i]);
      for (int s = 0; s < n_new; ++s) {
        max_stagger = std::max(max_stagger, max_abs_diff(lt[i][s], ls[i][s]));
        max_again = std::max(max_again, max_abs_diff(lt[i][s], lt2[i][s]));
        max_bs4 = std::max(max_bs4, max_abs_diff(lt[i][s], l4[i][s]));
      }
    }
    // Distinct tokens: the test would be weak if every prompt generated one token.
    std::map<int, int> distinct;
    for (auto& v : together)
      for (int t : v) distinct[t]++;
    std::printf("  greedy %-20s distinct tokens %zu; logits max diff: together vs staggered %.3e, rerun %.3e, "
                "vs staggered bs4 %.3e\n",
                sc.name, distinct.size(), max_stagger, max_again, max_bs4);
    CHECK(distinct.size() > 4);
    CHECK(max_again == 0.0);
    CHECK(max_stagger <= kExact);
    CHECK(e1->kv_table().n_free() == e1->kv_table().n_blocks());
    CHECK(e3->kv_table().n_free() == e3->kv_table().n_blocks());
    CHECK(e4->kv_table().n_free() == e4->kv_table().n_blocks());
  }
}

TEST_CASE("running the same batch twice on fresh engines gives identical logits") {
  auto m = make_model(config_qwen2_bias(), dtype::bf16, 0.1, 31337);
  const int V = m->cfg.vocab_size;
  std::vector<std::vector<std::int32_t>> prompts{random_tokens(29, V, 1), random_tokens(6, V, 2)};
  std::vector<std::vector<float>> first;
  for (int run = 0; run < 2; ++run) {
    auto e = make_engine(*m, make_options(16, 512));
    REQUIRE(e);
    std::vector<batch_sequence> b{{1, prompts[0], true}, {2, prompts[1], true}};
    auto c = run_forward(*e, b);
    REQUIRE(c.status == forward_status::ok);
    if (run == 0) {
      first = c.rows;
    } else {
      REQUIRE(c.rows.size() == first.size());
      for (std::size_t i = 0; i < first.size(); ++i) CHECK(max_abs_diff(c.rows[i], first[i]) == 0.0);
    }
  }
}
