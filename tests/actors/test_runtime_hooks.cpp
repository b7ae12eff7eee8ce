// The runtime's hooks on cpu devices with the tiny model: a fault injected
// from the config (groups.*.fail_at_batch), the config checks of the hooks,
// and tracing (every actor kind's receive/handle/send events, spans with
// request ids, nothing when off, a JSON-lines dump).
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

#include "actors/runtime.hpp"
#include "runtime_test_support.hpp"
#include "actors/trace.hpp"

using namespace kairos;
using namespace kairos::test;
using namespace std::chrono_literals;

namespace {

std::string default_yaml() {
  std::ifstream f(std::string(KAIROS_SOURCE_DIR) + "/configs/default.yaml");
  REQUIRE(f);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// default.yaml with its `decode:` group line replaced.
runtime_config config_with_decode(const std::string& decode_line, std::string extra = {}) {
  std::string y = default_yaml();
  const auto at = y.find("  decode:  {backend: cpu, devices: 1}");
  REQUIRE(at != std::string::npos);
  y.replace(at, std::string("  decode:  {backend: cpu, devices: 1}").size(), decode_line);
  y += extra;
  auto c = parse_runtime_config(y, "test.yaml");
  REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.message()));
  return c.value();
}

std::vector<int64_t> run_requests(Runtime& rt, collector& col, int n, int max_tokens) {
  std::vector<int64_t> ids;
  for (int i = 0; i < n; ++i) {
    generate_request r;
    r.prompt = prompt_of(10 + 7 * i, i);
    r.max_tokens = max_tokens;
    r.ignore_eos = true;
    auto h = rt.submit(r, col.result_callbacks());
    REQUIRE_MESSAGE(h.ok(), (h.ok() ? "" : h.message()));
    ids.push_back(h.value().id());
  }
  REQUIRE(col.wait_done(size_t(n)));
  return ids;
}

}  // namespace

TEST_CASE("config: fail_at_batch per group or per device, correction_alpha checked") {
  auto all = config_with_decode("  decode:  {backend: cpu, devices: 2, fail_at_batch: 7}");
  REQUIRE(all.decode.devices.size() == 2);
  CHECK(all.decode.devices[0].fail_at_batch == 7);
  CHECK(all.decode.devices[1].fail_at_batch == 7);
  CHECK(all.prefill.devices[0].fail_at_batch == 0);

  auto one = config_with_decode("  decode:  {backend: cpu, devices: 2, fail_at_batch: {\"cpu:2\": 3}}");
  CHECK(one.decode.devices[0].fail_at_batch == 0);
  CHECK(one.decode.devices[1].fail_at_batch == 3);
  CHECK(one.cost.correction_alpha == doctest::Approx(0.1));

  std::string y = default_yaml();
  auto bad_name = y;
  bad_name.replace(bad_name.find("  decode:  {backend: cpu, devices: 1}"), 37,
                   "  decode:  {backend: cpu, devices: 1, fail_at_batch: {\"cpu:9\": 3}}");
  auto r = parse_runtime_config(bad_name, "bad.yaml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.message().find("groups.decode.fail_at_batch") != std::string::npos);

  auto bad_alpha = y;
  bad_alpha.replace(bad_alpha.find("correction_alpha: 0.1"), 21, "correction_alpha: 1.5");
  auto a = parse_runtime_config(bad_alpha, "bad.yaml");
  REQUIRE_FALSE(a.ok());
  CHECK(a.message().find("cost_model.correction_alpha") != std::string::npos);
}

TEST_CASE("a fault injected from the config fails the device's requests naming it; the others finish") {
  // cpu:2 dies on its 3rd decode step; cpu:1 serves on.
  auto cfg = config_with_decode("  decode:  {backend: cpu, devices: 2, fail_at_batch: {\"cpu:2\": 3}}");
  auto rt = Runtime::create(cfg).value();
  collector col;
  run_requests(*rt, col, 8, 12);
  int failed = 0, finished = 0;
  for (auto& [id, res] : col.done) {
    CAPTURE(id);
    if (res.status == request_status::failed) {
      ++failed;
      CHECK(res.error.find("cpu:2") != std::string::npos);
    } else {
      CHECK(res.status == request_status::finished);
      CHECK(res.decode_device == "cpu:1");
      CHECK(res.tokens.size() == 12);
      ++finished;
    }
  }
  CHECK(failed >= 1);
  CHECK(failed + finished == 8);
  bool cpu2_dead = false;
  for (const auto& d : rt->stats().devices)
    if (d.name == "cpu:2") cpu2_dead = !d.alive;
  CHECK(cpu2_dead);

  // The group keeps serving on cpu:1.
  collector col2;
  run_requests(*rt, col2, 2, 4);
  for (auto& [id, res] : col2.done) {
    CHECK(res.status == request_status::finished);
    CHECK(res.decode_device == "cpu:1");
  }
}

TEST_CASE("tracing off records nothing") {
  trace::set_enabled(false);
  trace::clear();
  auto rt = Runtime::create(config_with_decode("  decode:  {backend: cpu, devices: 1}")).value();
  CHECK_FALSE(rt->tracing());
  collector col;
  run_requests(*rt, col, 3, 4);
  rt->shutdown();
  CHECK(trace::collect().empty());
}

TEST_CASE("tracing on: every actor kind receives, handles and sends; spans carry the request ids") {
  trace::clear();
  auto rt = Runtime::create(config_with_decode("  decode:  {backend: cpu, devices: 1}")).value();
  rt->set_tracing(true);
  CHECK(rt->tracing());
  collector col;
  const auto ids = run_requests(*rt, col, 4, 5);
  rt->shutdown();
  rt->set_tracing(false);
  const auto ev = trace::collect();
  REQUIRE_FALSE(ev.empty());

  using trace::actor_kind;
  using trace::kind;
  using trace::what;
  std::map<std::pair<actor_kind, kind>, int> counts;
  std::map<std::pair<what, kind>, std::set<int64_t>> requests;  // request ids seen per (what, kind)
  int begins = 0, ends = 0;
  for (const auto& e : ev) {
    ++counts[{e.ak, e.k}];
    if (e.request >= 0) requests[{e.w, e.k}].insert(e.request);
    if (e.k == kind::handle_begin) ++begins;
    if (e.k == kind::handle_end) ++ends;
  }
  for (auto ak : {actor_kind::device, actor_kind::prefill_scheduler, actor_kind::decode_scheduler, actor_kind::request}) {
    CAPTURE(trace::name(ak));
    CHECK(counts[{ak, kind::receive}] > 0);
    CHECK(counts[{ak, kind::handle_begin}] > 0);
    CHECK(counts[{ak, kind::handle_end}] > 0);
    CHECK(counts[{ak, kind::send}] > 0);
  }
  CHECK(begins == ends);
  const std::set<int64_t> want(ids.begin(), ids.end());
  // Batch spans: the devices' prefill batches and decode steps name their requests.
  CHECK(counts[{actor_kind::device, kind::span_begin}] > 0);
  CHECK(requests[{what::prefill_batch, kind::member}] == want);
  CHECK(requests[{what::decode_step, kind::member}] == want);
  // Per-request spans: queue waits and KV transfers, begun and ended.
  CHECK(requests[{what::queue_wait, kind::span_begin}] == want);
  CHECK(requests[{what::queue_wait, kind::span_end}] == want);
  CHECK(requests[{what::kv_transfer, kind::span_begin}] == want);
  CHECK(requests[{what::kv_transfer, kind::span_end}] == want);
  // Tokens: sent by the decode scheduler, received and handled by the request actors.
  CHECK(requests[{what::token, kind::send}] == want);
  CHECK(requests[{what::token, kind::receive}] == want);

  // The dump: one JSON object per event.
  const std::string path = std::string(KAIROS_BIN_DIR) + "/trace_hooks_test.jsonl";
  REQUIRE(rt->dump_trace(path).ok());
  std::ifstream f(path);
  std::string line;
  size_t n = 0;
  bool shaped = true;
  while (std::getline(f, line)) {
    if (line.find("\"type\":\"event\"") == std::string::npos) continue;  // header, actors, requests
    ++n;
    shaped = shaped && line.front() == '{' && line.back() == '}' && line.find("\"actor_kind\":") != std::string::npos &&
             line.find("\"request\":") != std::string::npos;
  }
  CHECK(n == ev.size());
  CHECK(shaped);
  std::remove(path.c_str());
  rt->clear_trace();
  CHECK(trace::collect().empty());
}
