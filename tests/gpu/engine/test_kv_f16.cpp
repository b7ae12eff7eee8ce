// The F16 KV cache: the engine's logits against the float64 reference that
// rounds K and V to binary16 the same way, for every reference model, in
// prefill and decode, through both the AVX-512 (block 16) and generic
// (block 4) attention paths. Also checks that the rounding is what the
// comparison sees: the exact reference is much further away.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "test_support.hpp"

using namespace kairos;
using namespace kairos::test;

namespace {
double rel_l2_d(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / den);
}
}  // namespace

TEST_CASE("F16 KV cache: prefill and decode match the reference with K/V rounded to binary16") {
  std::printf("F16 KV (37-token prefill + 5 decode steps), worst step:\n");
  for (auto& nc : reference_configs()) {
    CAPTURE(nc.name);
    auto m = make_model(nc.cfg, nc.type, nc.scale, 5000 + nc.cfg.hidden_size);
    reference ref16(*m, /*kv_f16=*/true);
    reference exact(*m);
    for (int bs : {16, 4}) {
      CAPTURE(bs);
      auto opts = make_options(bs, 512);
      opts.kv_cache_dtype = kv_dtype::f16;
      auto e = make_engine(*m, opts);
      REQUIRE(e);
      CHECK(e->kv_storage().shape().dtype == kv_dtype::f16);
      auto seq = random_tokens(37, nc.cfg.vocab_size, 51);
      auto feed = random_tokens(5, nc.cfg.vocab_size, 52);
      auto full = seq;
      full.insert(full.end(), feed.begin(), feed.end());
      const auto all16 = ref16.all_logits(full);
      const auto all = exact.all_logits(full);
      auto got = run_one(*e, 3, seq);
      REQUIRE(got.size() == static_cast<std::size_t>(nc.cfg.vocab_size));
      double worst = rel_l2(got, all16[36]);
      double worst_exact = rel_l2(got, all[36]);
      double rounding = rel_l2_d(all16[36], all[36]);  // what F16 storage itself changes
      for (int step = 0; step < 5; ++step) {
        CAPTURE(step);
        auto g = run_one(*e, 3, std::span<const std::int32_t>(&feed[step], 1));
        REQUIRE(g.size() == static_cast<std::size_t>(nc.cfg.vocab_size));
        worst = std::max(worst, rel_l2(g, all16[37 + step]));
        worst_exact = std::max(worst_exact, rel_l2(g, all[37 + step]));
        rounding = std::max(rounding, rel_l2_d(all16[37 + step], all[37 + step]));
      }
      std::printf("  %-40s bs%-2d vs rounded ref %.3e (tol %.0e), vs exact ref %.3e, rounding alone %.3e\n", nc.name,
                  bs, worst, nc.tol, worst_exact, rounding);
      // Against the reference that stores K/V as the cache does: the weights'
      // tolerance (1e-4 for F32, 1e-2 for BF16).
      CHECK(worst < nc.tol);
      // Against the exact reference: the error of half precision storage.
      CHECK(worst_exact < 1e-2);
      // The comparison sees the rounding: for F32 weights, F16 storage moves
      // the logits well beyond the engine's distance from the rounded reference.
      if (nc.type == dtype::f32) CHECK(rounding > 5 * worst);
    }
  }
}

TEST_CASE("F16 KV cache holds half the bytes of an F32 one") {
  auto m = make_model(config_gqa_tied(), dtype::f32, 0.1, 3);
  auto o32 = make_options(16, 1024);
  auto o16 = o32;
  o16.kv_cache_dtype = kv_dtype::f16;
  auto e32 = make_engine(*m, o32);
  auto e16 = make_engine(*m, o16);
  REQUIRE(e32);
  REQUIRE(e16);
  CHECK(e16->kv_storage().bytes() * 2 == e32->kv_storage().bytes());
  CHECK(e16->kv_storage().shape().bytes_per_token() * 2 == e32->kv_storage().shape().bytes_per_token());
  CHECK(e16->kv_table().n_blocks() == e32->kv_table().n_blocks());
}
