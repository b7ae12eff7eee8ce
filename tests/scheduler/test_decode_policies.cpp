// Decode policies with a fake clock. Step time = 5 ms + 10 us per context token.
#include <doctest/doctest.h>

#include <algorithm>

#include "scheduler/cb_decode_policy.hpp"
#include "scheduler/kairos_decode_policy.hpp"
#include "tests/scheduler/fake_cost_model.hpp"

using namespace kairos::sched;
using kairos::sched::testing::fake_cost_model;

namespace {

fake_cost_model step_cost() {
  fake_cost_model c;
  c.step_fixed_s = 0.005;
  c.per_ctx_s = 0.00001;
  return c;
}

// A sequence whose next token is due `slack` seconds after `now`.
decode_seq seq(request_id id, int32_t ctx, time_s slack, time_s now = 10.0, time_s tpot = 0.03) {
  decode_seq s;
  s.id = id;
  s.context_tokens = ctx;
  s.tokens_generated = 10;
  s.tpot_s = tpot;
  s.first_token_s = now + slack - tpot * s.tokens_generated;
  return s;
}

decode_limits big_kv() {
  decode_limits l;
  l.kv_capacity_tokens = 1 << 20;
  l.block_size = 16;
  l.max_num_seqs = 256;
  return l;
}

bool has(const std::vector<int32_t>& v, int32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

TEST_CASE("tpot slack: earned budget minus time used") {
  // first token at 1.0, 5 tokens so far, TPOT 50 ms: the next one is the 5th
  // after the first, due at 1.0 + 5 x 0.05 = 1.25
  CHECK(tpot_slack(1.0, 5, 0.05, 1.15) == doctest::Approx(0.10));
  CHECK(tpot_slack(1.0, 5, 0.05, 1.30) == doctest::Approx(-0.05));
}

// now = 10.0. A's next token is due in 12 ms; B..E have a second to spare.
//
//   seq  ctx   slack    alone adds
//   A    100   12 ms    5 + 1 ms
//   B    200   1 s      2 ms
//   C    300   1 s      3 ms
//   D    2000  1 s      20 ms
//   E    3000  1 s      30 ms
//
//   all five: 5 + 56 = 61 ms > 12 ms  -> A would be late
//   kairos:   A, then the gap packed shortest context first: A+B+C = 11 ms <= 12 ms;
//             D and E sit out this step (their slack covers it).
TEST_CASE("slack-guided batching keeps the predicted step within the tightest budget") {
  const auto cost = step_cost();
  const time_s now = 10.0;
  std::vector<decode_seq> running{seq(0, 100, 0.012), seq(1, 200, 1.0), seq(2, 300, 1.0), seq(3, 2000, 1.0),
                                  seq(4, 3000, 1.0)};
  std::vector<decode_seq> waiting;
  kairos_decode_options o;
  o.sit_out = true;
  kairos_decode_policy k(o);
  decode_decision d;
  k.select(running, waiting, now, cost, big_kv(), d);
  CHECK(d.run.size() == 3);
  CHECK(has(d.run, 0));
  CHECK(has(d.run, 1));
  CHECK(has(d.run, 2));
  CHECK(k.last_step_time() == doctest::Approx(0.011));
  CHECK(k.last_step_time() <= k.last_budget());
  CHECK(k.last_budget() == doctest::Approx(0.012));

  cb_decode_policy cb;
  cb.select(running, waiting, now, cost, big_kv(), d);
  CHECK(d.run.size() == 5);  // cb runs everyone: A misses its token
  kairos_decode_policy all_run;  // default: no sit-outs
  all_run.select(running, waiting, now, cost, big_kv(), d);
  CHECK(d.run.size() == 5);
}

TEST_CASE("kairos runs everyone when the whole batch fits the budget, and admits least slack first") {
  const auto cost = step_cost();
  const time_s now = 10.0;
  std::vector<decode_seq> running{seq(0, 100, 0.02), seq(1, 100, 0.5)};
  std::vector<decode_seq> waiting{seq(2, 100, 0.5), seq(3, 100, 0.015)};
  kairos_decode_policy k;
  decode_decision d;
  k.select(running, waiting, now, cost, big_kv(), d);
  CHECK(d.run.size() == 2);
  REQUIRE(d.admit.size() == 2);
  CHECK(d.admit[0] == 1);  // the waiting one with less slack goes first
  CHECK(k.last_step_time() == doctest::Approx(0.009));
}

TEST_CASE("past cb's cap, kairos admits only while the step fits the budget") {
  const auto cost = step_cost();
  const time_s now = 10.0;
  auto lim = big_kv();
  lim.max_num_seqs = 2;  // cb's cap
  std::vector<decode_seq> running{seq(0, 500, 0.03), seq(1, 500, 0.03)};   // 15 ms step
  std::vector<decode_seq> waiting{seq(2, 500, 0.03), seq(3, 500, 0.03), seq(4, 500, 0.03)};
  cb_decode_policy cb;
  decode_decision d;
  cb.select(running, waiting, now, cost, lim, d);
  CHECK(d.admit.empty());
  kairos_decode_policy k;  // budget 30 ms, margin 0.9 -> steps up to 27 ms: two more (25 ms)
  k.select(running, waiting, now, cost, lim, d);
  CHECK(d.admit.size() == 2);
  CHECK(k.last_step_time() <= 0.9 * 0.03 + 1e-12);
}

// KV capacity 2048 tokens, blocks of 16. Three sequences of 700 tokens need
// 3 x 704 = 2112 slots for the next step: one must go.
TEST_CASE("under KV pressure cb preempts the latest admitted, kairos the one with most slack") {
  const auto cost = step_cost();
  decode_limits lim;
  lim.kv_capacity_tokens = 2048;
  lim.block_size = 16;
  std::vector<decode_seq> running{seq(0, 700, 0.9), seq(1, 700, 0.02), seq(2, 700, 0.05)};
  std::vector<decode_seq> waiting;
  decode_decision d;
  cb_decode_policy cb;
  cb.select(running, waiting, 10.0, cost, lim, d);
  REQUIRE(d.preempt.size() == 1);
  CHECK(d.preempt[0] == 2);
  kairos_decode_policy k;
  k.select(running, waiting, 10.0, cost, lim, d);
  REQUIRE(d.preempt.size() == 1);
  CHECK(d.preempt[0] == 0);
  CHECK_FALSE(has(d.run, 0));
}

TEST_CASE("cb admits in arrival order while KV and max_num_seqs allow") {
  const auto cost = step_cost();
  decode_limits lim;
  lim.kv_capacity_tokens = 4096;
  lim.block_size = 16;
  lim.max_num_seqs = 3;
  lim.watermark = 0.0;
  std::vector<decode_seq> running{seq(0, 1000, 1)};
  std::vector<decode_seq> waiting{seq(1, 1000, 1), seq(2, 3000, 1), seq(3, 100, 1)};
  decode_decision d;
  cb_decode_policy cb;
  cb.select(running, waiting, 10.0, cost, lim, d);
  REQUIRE(d.admit.size() == 1);  // #2 does not fit; cb stops there (no skipping)
  CHECK(d.admit[0] == 0);
}
