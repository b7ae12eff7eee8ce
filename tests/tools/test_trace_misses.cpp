// Miss attribution on traces of real replays with injected faults: a slow sim
// device, a burst of long prompts ahead of short ones, an oversized decode
// batch. Each must be named as the cause.
#include <algorithm>
#include <set>

#include "tools/trace_analysis/miss_attribution.hpp"
#include "trace_test_support.hpp"

using namespace kairos;
using namespace kairos::test;
using namespace kairos::trace_analysis;

namespace {

const cause_part* largest(const request_miss& m) { return m.parts.empty() ? nullptr : &m.parts.front(); }

}  // namespace

TEST_CASE("a sim device made slow is named as the cause of the TPOT misses") {
  // Two decode devices; sim:2 takes 5x its modelled time: 5 x (4 + 0.1 b) ms
  // misses the 15 ms TPOT budget at any batch, sim:1 meets it below b = 110.
  auto cfg = trace_cluster(1, 2, 4.0, 0.1, ", slowdown: {\"sim:2\": 5}");
  std::vector<request_shape> shapes;
  for (int i = 0; i < 40; ++i) shapes.push_back({0.01 * i, 200, 30});
  const auto f = record(cfg, workload_of(shapes, {1.0, 0.015}), "slow_device");
  const auto m = build_model(f);
  const auto rep = attribute_misses(m);
  CHECK(rep.judged == 40);
  REQUIRE_FALSE(rep.misses.empty());
  int on_slow = 0;
  for (const auto& x : rep.misses) {
    CAPTURE(x.id);
    CHECK(x.tpot_missed);
    CHECK_FALSE(x.ttft_missed);
    const auto* p = largest(x);
    REQUIRE(p);
    CHECK(p->c == cause::decode_slow_device);
    CHECK(p->device == "sim:2");
    on_slow += p->device == "sim:2";
  }
  CHECK(on_slow == int(rep.misses.size()));
  // Requests decoded on sim:1 met their SLO: the misses are sim:2's.
  std::set<int64_t> missed;
  for (const auto& x : rep.misses) missed.insert(x.id);
  int fast_met = 0;
  for (const auto& [id, r] : m.requests) {
    if (r.steps.empty()) continue;
    if (f.actor_name(m.work[r.steps.front()].device) == "sim:1") {
      CHECK_FALSE(missed.count(id));
      ++fast_met;
    }
  }
  CHECK(fast_met > 0);
  REQUIRE_FALSE(rep.totals.empty());
  CHECK(rep.totals.front().key == "decode on slow device sim:2");
  CHECK(format_misses(rep).find("decode on slow device sim:2") != std::string::npos);
}

TEST_CASE("a burst of long prompts ahead of short ones is named as queueing, with the long prompts identified") {
  // FCFS prefill, one device, 4096 tokens a batch: five 4000-token prompts
  // (201 ms each) arrive first and the short ones wait behind all of them.
  auto cfg = trace_cluster(1, 1, 1.0, 0.01);
  std::vector<request_shape> shapes;
  for (int i = 0; i < 5; ++i) shapes.push_back({0.001 * i, 4000, 4});
  for (int i = 0; i < 8; ++i) shapes.push_back({0.010 + 0.001 * i, 50, 4});
  const auto f = record(cfg, workload_of(shapes, {0.3, 0.1}), "long_prompts");
  const auto m = build_model(f);
  std::set<int64_t> long_ids;
  for (const auto& [id, r] : f.requests)
    if (r.input_tokens == 4000) long_ids.insert(id);
  REQUIRE(long_ids.size() == 5);
  const auto rep = attribute_misses(m);
  int short_misses = 0;
  for (const auto& x : rep.misses) {
    if (long_ids.count(x.id)) continue;
    CAPTURE(x.id);
    ++short_misses;
    CHECK(x.ttft_missed);
    const auto* p = largest(x);
    REQUIRE(p);
    CHECK(p->c == cause::queueing);
    // It waited for the long prompts ahead of it (FCFS packs a short one into
    // the fifth long prompt's batch: 4000 + 50 tokens fit 4096, so at least
    // four); they are the ones named, most first.
    REQUIRE(p->behind.size() >= 4);
    for (size_t k = 0; k < 4; ++k) {
      CHECK(long_ids.count(p->behind[k].request) == 1);
      CHECK(p->behind[k].tokens == 4000);
    }
    CHECK(p->seconds > 0.6);  // more than three 201 ms prefills
  }
  CHECK(short_misses == 8);
  REQUIRE_FALSE(rep.totals.empty());
  CHECK(rep.totals.front().key == "queueing");
  const std::string text = format_misses(rep);
  CHECK(text.find("(4000 tok,") != std::string::npos);
}

TEST_CASE("an oversized decode batch is named, with its size") {
  // One decode device running everyone (cb, max_num_seqs 512): 5 + 0.5 b ms
  // per step is over the 30 ms budget once b > 50; 150 requests arrive at once.
  auto cfg = trace_cluster(1, 1, 5.0, 0.5);
  std::vector<request_shape> shapes;
  for (int i = 0; i < 150; ++i) shapes.push_back({0.0005 * i, 64, 40});
  const auto f = record(cfg, workload_of(shapes, {5.0, 0.03}), "big_batch");
  const auto m = build_model(f);
  const auto rep = attribute_misses(m);
  REQUIRE(rep.misses.size() > 100);
  int32_t biggest = 0;
  for (const auto& x : rep.misses) {
    CAPTURE(x.id);
    CHECK(x.tpot_missed);
    const auto* p = largest(x);
    REQUIRE(p);
    CHECK(p->c == cause::decode_batch_too_large);
    CHECK(p->max_batch > 50);  // only batches over 50 break the budget
    biggest = std::max(biggest, p->max_batch);
  }
  // The largest batch reported is the largest step the device ran.
  int32_t ran = 0;
  for (const auto& w : m.work)
    if (!w.prefill) ran = std::max(ran, w.n_run);
  CHECK(biggest == ran);
  CHECK(ran > 100);
  REQUIRE_FALSE(rep.totals.empty());
  CHECK(rep.totals.front().key == "decode batch too large");
  CHECK(rep.totals.front().max_batch == ran);
  CHECK(format_misses(rep).find("batch up to " + std::to_string(ran)) != std::string::npos);
}
