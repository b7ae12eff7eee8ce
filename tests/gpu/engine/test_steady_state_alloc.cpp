// The engine allocates nothing per token in the steady state: after a warm-up,
// decode steps and prefills within the configured sizes make no heap
// allocation through operator new (every C++ container goes through it).
#include <doctest/doctest.h>

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <atomic>
#include <cstdlib>
#include <new>

#include "gpu/engine/sampler.hpp"
#include "test_support.hpp"

namespace {
std::atomic<long> g_news{0};
}

void* operator new(std::size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// The replaced operator new uses malloc, so delete must use free.
// NOLINTBEGIN
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
// NOLINTEND

using namespace kairos;
using namespace kairos::test;

TEST_CASE("decode steps and prefills allocate nothing after warm-up") {
  auto m = make_model(config_gqa_tied(), dtype::f32, 0.1, 3);
  auto e = cpu_engine::create(m->cfg, m->store, make_options(16, 1024));
  REQUIRE(e.ok());
  auto& eng = **e;
  auto p1 = random_tokens(40, m->cfg.vocab_size, 1);
  auto p2 = random_tokens(23, m->cfg.vocab_size, 2);
  std::vector<batch_sequence> batch{{1, p1, true}, {2, p2, true}};
  sampler smp(sampling_params{0.8f, 20, 0.9f, 7});
  std::int32_t toks[2];
  // No doctest assertion inside the measured region: doctest allocates.
  bool all_ok = true;
  auto step = [&] {
    auto r = eng.forward(batch);
    all_ok = all_ok && r.status == forward_status::ok;
    for (int i = 0; i < 2; ++i) toks[i] = smp.sample(r.logits(i));
    batch[0].tokens = {&toks[0], 1};
    batch[1].tokens = {&toks[1], 1};
  };
  step();  // prefill, and warm-up of every scratch buffer
  step();
  auto p3 = random_tokens(31, m->cfg.vocab_size, 3);
  std::vector<batch_sequence> mixed{{1, {}, true}, {3, p3, true}};
  const long before = g_news.load();
  for (int i = 0; i < 20; ++i) step();
  // A prefill of a new sequence beside running decodes: still no allocation
  // beyond the block table's bookkeeping of the new sequence.
  mixed[0].tokens = {&toks[0], 1};
  const long before_mixed = g_news.load();
  auto r = eng.forward(mixed);
  const long decode_news = before_mixed - before;
  const long mixed_news = g_news.load() - before_mixed;
  CHECK(all_ok);
  CHECK(r.status == forward_status::ok);
  MESSAGE("operator new calls: 20 decode steps " << decode_news << ", one mixed step " << mixed_news);
  CHECK(decode_news == 0);
  CHECK(mixed_news <= 2);  // the new sequence's entry in the block table
}
