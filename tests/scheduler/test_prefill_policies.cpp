// Prefill policies on hand-drawn timelines, with a fake clock and a linear
// cost model of 1 ms per prompt token.
#include <doctest/doctest.h>

#include <algorithm>

#include "scheduler/edf_prefill_policy.hpp"
#include "scheduler/fcfs_prefill_policy.hpp"
#include "scheduler/kairos_prefill_policy.hpp"
#include "scheduler/policy_registry.hpp"
#include "scheduler/simulator.hpp"
#include "scheduler/spf_prefill_policy.hpp"
#include "tests/scheduler/fake_cost_model.hpp"

using namespace kairos::sched;
using kairos::sched::testing::fake_cost_model;

namespace {

queued_prefill q(request_id id, time_s arrival, int32_t tokens, time_s ttft = 0.5) {
  return {id, arrival, arrival + ttft, tokens, 0};
}

// Kairos prefill with a 2 s starvation bound and the given starving share.
kairos_prefill_options starving(double share) {
  kairos_prefill_options o;
  o.starvation_s = 2.0;
  o.starving_share = share;
  return o;
}

// One prefill instance, one decode instance, one output token each (so a
// request ends at its first token), batches of one request.
sim_result run(const std::string& policy, const std::vector<trace_row>& rows, time_s starvation_s = 10.0,
               double starving_share = 0) {
  static fake_cost_model cost;
  workload_options wo;
  wo.slo = {0.5, 0.05};
  const workload w = make_workload(rows, wo);
  sim_config cfg;
  cfg.prefill.max_batch_size = 1;
  cfg.decode.kv_capacity_tokens = 1 << 20;
  policy_options po;
  po.kairos_prefill.starvation_s = starvation_s;
  po.kairos_prefill.starving_share = starving_share;
  std::string err;
  auto ps = make_policy_set(policy, po, err);
  REQUIRE(ps.ok());
  const sim_policies pol{ps.prefill.get(), ps.decode.get(), ps.placement.get()};
  return simulate(w, cfg, pol, cost, cost);
}

}  // namespace

// Timeline (TTFT SLO 500 ms, 1 ms per token, one request per batch):
//
//   t(s)  0.00  W(50) arrives, runs 0.00-0.05
//         0.01  L(400)  deadline 0.51
//         0.02  S1(100) deadline 0.52
//         0.03  S2(100) deadline 0.53
//         0.04  S3(100) deadline 0.54
//
//   FCFS:   W | L .05-.45 ok | S1 .45-.55 miss | S2 -.65 miss | S3 -.75 miss
//   kairos: W | S1 .05-.15 | S2 -.25 | S3 -.35 | L .35-.75 miss
//           (L on time would push S1..S3 late: Moore-Hodgson drops the longest)
TEST_CASE("a long prompt blocks three short ones under FCFS; kairos saves all but the long one") {
  const std::vector<trace_row> rows{{0.00, 50, 1}, {0.01, 400, 1}, {0.02, 100, 1}, {0.03, 100, 1}, {0.04, 100, 1}};
  const auto f = run("fcfs+cb", rows);
  CHECK(f.outcomes[1].first_token_s == doctest::Approx(0.45));
  CHECK(f.outcomes[1].meets_ttft());
  for (int i = 2; i <= 4; ++i) CHECK_FALSE(f.outcomes[size_t(i)].meets_ttft());
  CHECK(f.outcomes[4].first_token_s == doctest::Approx(0.75));

  const auto k = run("kairos-prefill+cb", rows);
  CHECK(k.outcomes[0].meets_ttft());
  CHECK(k.outcomes[2].first_token_s == doctest::Approx(0.15));
  CHECK(k.outcomes[3].first_token_s == doctest::Approx(0.25));
  CHECK(k.outcomes[4].first_token_s == doctest::Approx(0.35));
  for (int i : {0, 2, 3, 4}) CHECK(k.outcomes[size_t(i)].meets_ttft());
  CHECK_FALSE(k.outcomes[1].meets_ttft());
  CHECK(k.outcomes[1].finished);  // deferred, not dropped
  CHECK(k.outcomes[1].first_token_s == doctest::Approx(0.75));
}

// H(600) needs 0.6 s > its 0.5 s SLO: hopeless from the start.
//
//   now = 0.05, queue: H (arrived 0.00), F (arrived 0.01, 100 tokens)
//   kairos picks F although H is older; FCFS would pick H and make F miss.
//   At now = 3.0 with H still queued behind fresh feasible work, H has waited
//   past the starvation bound (2 s) and goes first.
TEST_CASE("a hopeless request does not block feasible ones, and is not starved") {
  fake_cost_model cost;
  prefill_limits lim;
  lim.max_batch_size = 1;
  kairos_prefill_policy k(starving(0));  // the starving go first (the share: the next test)
  prefill_batch out;
  std::vector<queued_prefill> queue{q(0, 0.00, 600), q(1, 0.01, 100)};
  k.select(queue, {0.05, {}}, cost, lim, out);
  REQUIRE(out.items.size() == 1);
  CHECK(queue[size_t(out.items[0].queue_index)].id == 1);

  fcfs_prefill_policy f;
  f.select(queue, {0.05, {}}, cost, lim, out);
  CHECK(queue[size_t(out.items[0].queue_index)].id == 0);

  // Alone, the hopeless one is served at once (work-conserving).
  std::vector<queued_prefill> only_h{q(0, 0.00, 600)};
  k.select(only_h, {0.05, {}}, cost, lim, out);
  REQUIRE(out.items.size() == 1);

  // Behind a stream of feasible work it waits, until the starvation bound.
  std::vector<queued_prefill> later{q(0, 0.00, 600), q(7, 1.90, 100), q(8, 1.95, 100)};
  k.select(later, {1.96, {}}, cost, lim, out);
  CHECK(later[size_t(out.items[0].queue_index)].id == 7);
  later = {q(0, 0.00, 600), q(9, 2.95, 100), q(10, 2.96, 100)};
  k.select(later, {3.0, {}}, cost, lim, out);
  CHECK(later[size_t(out.items[0].queue_index)].id == 0);

  // End to end: a steady stream of feasible requests, and H among them.
  std::vector<trace_row> rows{{0.0, 600, 1}};
  for (int i = 1; i <= 60; ++i) rows.push_back({0.001 + 0.1 * i, 90, 1});  // 90% busy with feasible work
  const auto r = run("kairos-prefill+cb", rows, 2.0, 0.0);
  CHECK(r.outcomes[0].finished);
  CHECK(r.outcomes[0].prefill_start_s <= 2.2);
}

// With a starving share the starving are owed part of the capacity instead
// of going first (share 0.25, credit at most 0.25 s, starvation bound 2 s):
//
//   t 3.0  first call: no credit yet -> the feasible F runs although H starves
//   t 3.1  credit 0.25 x 0.1 = 0.025 > 0 -> H (600 ms) runs; credit -0.575
//   t 3.7  credit -0.575 + 0.15 = -0.425 -> the feasible G runs
//   t 5.0  credit -0.425 + 0.325 = -0.1 -> the feasible one runs, H2 waits
//   t 5.5  credit -0.1 + 0.125 = 0.025 -> H2 runs; credit -0.575
//   t 5.6  credit -0.55, but nothing else can be on time -> the starving run,
//          free of charge (they take nobody's capacity)
TEST_CASE("a starving share: the starving are paid from a credit, and the feasible keep running meanwhile") {
  fake_cost_model cost;
  prefill_limits lim;
  lim.max_batch_size = 1;
  kairos_prefill_policy k(starving(0.25));
  prefill_batch out;
  auto pick = [&](const std::vector<queued_prefill>& queue, time_s now) {
    k.select(queue, {now, {}}, cost, lim, out);
    REQUIRE(out.items.size() == 1);
    return queue[size_t(out.items[0].queue_index)].id;
  };
  CHECK(pick({q(0, 0.00, 600), q(1, 2.95, 100)}, 3.0) == 1);
  CHECK(pick({q(0, 0.00, 600), q(2, 3.05, 100)}, 3.1) == 0);
  CHECK(pick({q(3, 0.50, 600), q(4, 3.65, 100)}, 3.7) == 4);
  CHECK(pick({q(3, 0.50, 600), q(5, 4.95, 100)}, 5.0) == 5);
  CHECK(pick({q(3, 0.50, 600), q(6, 5.45, 100)}, 5.5) == 3);
  CHECK(pick({q(7, 1.00, 600), q(8, 5.00, 100)}, 5.6) == 7);
  // That one was free: the credit is -0.55 + 0.25 x 0.6 = -0.4 at 6.2, not
  // 1 s deeper, and back above 0 by 7.9 (-0.4 + 0.425 = 0.025).
  CHECK(pick({q(9, 1.50, 600), q(10, 6.15, 100)}, 6.2) == 10);
  CHECK(pick({q(9, 1.50, 600), q(11, 7.85, 100)}, 7.9) == 9);

  // Share 0 sends the starving first at once.
  kairos_prefill_policy first(starving(0));
  first.select(std::vector<queued_prefill>{q(0, 0.00, 600), q(1, 2.95, 100)}, {3.0, {}}, cost, lim, out);
  REQUIRE(out.items.size() == 1);
  CHECK(out.items[0].queue_index == 0);
}

// End to end under a fully loaded stream (a feasible 100 ms prompt every
// 100 ms for 10 s) with three hopeless 600 ms prompts among the first: with
// the starving first, all three go at the bound back to back and the stream
// behind them misses; with a 0.25 share they go one at a time, spread out.
// Nobody is starved either way: every request finishes.
TEST_CASE("a starving share keeps more of a saturated stream on time, and still serves the starving") {
  std::vector<trace_row> rows;
  for (int i = 0; i < 100; ++i) rows.push_back({i == 0 ? 0.0 : 0.1 * i - 0.0005, 100, 1});
  for (int h = 0; h < 3; ++h) rows.push_back({0.05 + 0.001 * h, 600, 1});
  std::sort(rows.begin(), rows.end(), [](const trace_row& a, const trace_row& b) { return a.arrival_s < b.arrival_s; });
  const auto first = run("kairos-prefill+cb", rows, 2.0, 0.0);
  const auto shared = run("kairos-prefill+cb", rows, 2.0, 0.25);
  auto on_time = [](const sim_result& r) {
    int n = 0;
    for (const auto& o : r.outcomes) n += o.meets_ttft();
    return n;
  };
  for (const auto* r : {&first, &shared})
    for (const auto& o : r->outcomes) CHECK(o.finished);
  CHECK(on_time(shared) >= 2 * on_time(first));  // 80 against 29 of 103
  // The hopeless three, by arrival: back to back at the bound when they go
  // first; spread out with a share (each one's 0.6 s is repaid at 0.25 s/s).
  std::vector<time_s> starts_first, starts_shared;
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].input_tokens == 600) {
      starts_first.push_back(first.outcomes[i].prefill_start_s);
      starts_shared.push_back(shared.outcomes[i].prefill_start_s);
    }
  REQUIRE(starts_first.size() == 3);
  CHECK(starts_first[1] - starts_first[0] == doctest::Approx(0.6));
  CHECK(starts_first[2] - starts_first[1] == doctest::Approx(0.6));
  CHECK(starts_first[0] <= 2.2);
  // 2.1, 3.5, 6.0 here: the second goes early because the stream right behind
  // the first could no longer be on time (with nothing on time the starving run).
  for (int h = 1; h < 3; ++h) CHECK(starts_shared[size_t(h)] - starts_shared[size_t(h - 1)] > 1.0);
  CHECK(starts_shared[2] < 11.0);  // served while the stream still runs
}

// Moore-Hodgson picks the largest on-time set, not the earliest deadlines.
//   now 0, deadlines: A(300 tok) 0.40, B(150) 0.45, C(150) 0.46, D(100) 0.50
//   EDF sequence A,B,C: C would end at 0.60 -> drop A (longest) -> B,C,D on time (3).
TEST_CASE("kairos chooses the on-time set Moore-Hodgson style") {
  fake_cost_model cost;
  prefill_limits lim;
  lim.max_batch_size = 1;
  kairos_prefill_policy k;
  prefill_batch out;
  std::vector<queued_prefill> queue{q(0, 0.0, 300, 0.40), q(1, 0.0, 150, 0.45), q(2, 0.0, 150, 0.46),
                                    q(3, 0.0, 100, 0.50)};
  k.select(queue, {0.0, {}}, cost, lim, out);
  const auto on = k.last_on_time();
  REQUIRE(on.size() == 3);
  CHECK(on[0] == 1);
  CHECK(on[1] == 2);
  CHECK(on[2] == 3);
  CHECK(out.items[0].queue_index == 1);

  // Two parallel instances, the other busy until 0.3: the work ahead is shared.
  std::vector<time_s> other{0.30};
  k.select(queue, {0.0, other}, cost, lim, out);
  CHECK(k.last_on_time().size() >= 2);
}

TEST_CASE("kairos batches on-time requests under the token budget only while all stay on time") {
  fake_cost_model cost;  // batches add up: batching neither helps nor hurts
  prefill_limits lim;
  lim.max_batch_tokens = 250;
  kairos_prefill_policy k;
  prefill_batch out;
  std::vector<queued_prefill> queue{q(0, 0.0, 100), q(1, 0.0, 100), q(2, 0.0, 100)};
  k.select(queue, {0.0, {}}, cost, lim, out);
  CHECK(out.items.size() == 2);  // 300 tokens would pass the budget
  CHECK(out.total_tokens() == 200);
  // A tight head: batching the second would make the head late.
  queue = {q(0, 0.0, 100, 0.15), q(1, 0.0, 100, 0.5)};
  k.select(queue, {0.0, {}}, cost, lim, out);
  CHECK(out.items.size() == 1);
}

TEST_CASE("chunked prefill cuts prompts to the chunk size") {
  fake_cost_model cost;
  prefill_limits lim;
  lim.chunk_tokens = 256;
  kairos_prefill_policy k;
  prefill_batch out;
  std::vector<queued_prefill> queue{q(0, 0.0, 1000, 5.0), q(1, 0.0, 100, 5.0)};
  k.select(queue, {0.0, {}}, cost, lim, out);
  REQUIRE(out.items.size() == 2);
  CHECK(out.items[0].tokens == 256);
  CHECK(out.items[1].tokens == 100);
}

TEST_CASE("spf goes shortest first, aged requests ahead; edf goes by deadline") {
  fake_cost_model cost;
  prefill_limits lim;
  lim.max_batch_size = 1;
  prefill_batch out;
  spf_prefill_policy spf(5.0);
  std::vector<queued_prefill> queue{q(0, 0.0, 900), q(1, 0.5, 300), q(2, 0.6, 200)};
  spf.select(queue, {1.0, {}}, cost, lim, out);
  CHECK(out.items[0].queue_index == 2);
  spf.select(queue, {5.0, {}}, cost, lim, out);  // request 0 has waited 5 s
  CHECK(out.items[0].queue_index == 0);

  edf_prefill_policy edf;
  std::vector<queued_prefill> mixed{q(0, 0.0, 100, 2.0), q(1, 0.1, 100, 0.25)};
  edf.select(mixed, {0.2, {}}, cost, lim, out);
  CHECK(out.items[0].queue_index == 1);
}
