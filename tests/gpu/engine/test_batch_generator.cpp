// The engine-level generation loop: continuous batching, chunked prompts and
// preemption under KV pressure must not change greedy outputs.
#include <doctest/doctest.h>

#include "gpu/engine/batch_generator.hpp"
#include "test_support.hpp"

using namespace kairos;
using namespace kairos::test;

namespace {
std::vector<generation_request> make_requests(int vocab) {
  std::vector<generation_request> reqs;
  const int lens[] = {5, 40, 17, 3, 29, 11};
  for (int i = 0; i < 6; ++i) {
    generation_request r;
    r.prompt = random_tokens(lens[i], vocab, 100 + i);
    r.stop.max_tokens = 12 + i;
    reqs.push_back(r);
  }
  return reqs;
}
}  // namespace

TEST_CASE("continuous batching, chunking and preemption give the same greedy tokens as one at a time") {
  auto m = make_model(config_gqa_tied(), dtype::f32, 0.1, 21);
  auto reqs = make_requests(m->cfg.vocab_size);

  // Reference: each request alone, roomy cache, no chunking.
  std::vector<std::vector<std::int32_t>> alone;
  {
    auto e = cpu_engine::create(m->cfg, m->store, make_options(16, 1024));
    REQUIRE(e.ok());
    for (auto& r : reqs) {
      batch_generator g(**e);
      auto o = g.run({&r, 1});
      REQUIRE(o[0].error.empty());
      CHECK(o[0].reason == stop_reason::max_tokens);
      alone.push_back(o[0].tokens);
    }
  }
  SUBCASE("all together, chunked prompts") {
    auto e = cpu_engine::create(m->cfg, m->store, make_options(16, 1024));
    REQUIRE(e.ok());
    batch_generator g(**e, {.max_step_tokens = 24});
    auto out = g.run(reqs);
    for (std::size_t i = 0; i < reqs.size(); ++i) CHECK(out[i].tokens == alone[i]);
    CHECK((*e)->kv_table().n_free() == (*e)->kv_table().n_blocks());
  }
  SUBCASE("a cache too small for all at once forces preemption") {
    // 8 blocks of 8 tokens = 64 tokens: the longest request needs 40 + 13.
    auto e = cpu_engine::create(m->cfg, m->store, make_options(8, 64));
    REQUIRE(e.ok());
    batch_generator g(**e, {.max_step_tokens = 64});
    auto out = g.run(reqs);
    int preemptions = 0;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      CHECK(out[i].error == "");
      CHECK(out[i].tokens == alone[i]);
      preemptions += out[i].n_preemptions;
    }
    MESSAGE("preemptions: " << preemptions);
    CHECK(preemptions > 0);
    CHECK((*e)->kv_table().n_free() == (*e)->kv_table().n_blocks());
  }
}

TEST_CASE("a prompt longer than the context fails alone; the others finish") {
  auto m = make_model(config_mha(), dtype::f32, 0.1, 5);
  auto e = cpu_engine::create(m->cfg, m->store, make_options(16, 64));
  REQUIRE(e.ok());
  std::vector<generation_request> reqs(2);
  reqs[0].prompt = random_tokens(100, m->cfg.vocab_size, 1);
  reqs[1].prompt = random_tokens(10, m->cfg.vocab_size, 2);
  reqs[1].stop.max_tokens = 5;
  batch_generator g(**e);
  auto out = g.run(reqs);
  CHECK(out[0].error.find("does not fit") != std::string::npos);
  CHECK(out[1].error.empty());
  CHECK(out[1].tokens.size() == 5);
}
