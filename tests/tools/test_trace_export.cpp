// The trace file and what is read from it, on a recorded replay: the header
// and names, sends paired with receives, the Chrome export (parses, every
// event has the fields the format requires, flows pair up, a span per
// request, a track per actor), one request's timeline, and the summary.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tools/trace_analysis/chrome_export.hpp"
#include "tools/trace_analysis/request_timeline.hpp"
#include "tools/trace_analysis/trace_summary.hpp"
#include "trace_test_support.hpp"

using namespace kairos;
using namespace kairos::test;
using namespace kairos::trace_analysis;
using nlohmann::json;

namespace {

// 1P2D, decode step 2 + 0.1 b ms; 12 requests 5 ms apart, 16 tokens each.
const trace_file& recorded() {
  static const trace_file f = [] {
    std::vector<request_shape> shapes;
    for (int i = 0; i < 12; ++i) shapes.push_back({0.005 * i, 100 + 10 * i, 16});
    return record(trace_cluster(1, 2, 2.0, 0.1), workload_of(shapes, {0.5, 0.05}), "export");
  }();
  return f;
}

}  // namespace

TEST_CASE("the trace file: virtual clock, named actors, every request recorded, sends paired with receives") {
  const auto& f = recorded();
  CHECK(f.virtual_clock);
  CHECK(f.dropped == 0);
  REQUIRE(f.requests.size() == 12);
  std::set<std::string> devices;
  for (const auto& [id, a] : f.actors)
    if (a.type == actor_type::device) devices.insert(a.name + "/" + a.group);
  CHECK(devices == std::set<std::string>{"sim:0/prefill", "sim:1/decode", "sim:2/decode"});
  for (const auto& [id, r] : f.requests) {
    CAPTURE(id);
    CHECK(r.status == "finished");
    CHECK(r.output_tokens == 16);
    CHECK(r.end_ns > r.arrival_ns);
    CHECK(r.ttft_slo_s == doctest::Approx(0.5));
    CHECK(f.actors.count(r.actor) == 1);
  }
  // Each msg id: one send, then one receive of the same message type.
  std::map<int64_t, std::vector<const trace_event*>> by_msg;
  for (const auto& e : f.events)
    if (e.msg >= 0) by_msg[e.msg].push_back(&e);
  REQUIRE(by_msg.size() > 100);
  for (const auto& [id, v] : by_msg) {
    CAPTURE(id);
    REQUIRE(v.size() == 2);
    CHECK(v[0]->kind == ev_kind::send);
    CHECK(v[1]->kind == ev_kind::receive);
    CHECK(v[0]->w == v[1]->w);
    CHECK(v[0]->t_ns <= v[1]->t_ns);
  }
  // Every token a request actor handled came from a paired send.
  for (const auto& e : f.events)
    if (e.type == actor_type::request && e.kind == ev_kind::receive && e.w == what::token) CHECK(e.msg >= 0);
}

TEST_CASE("chrome export: parses, required fields, flows pair up, one track per actor, a span per request") {
  const auto& f = recorded();
  const auto m = build_model(f);
  const json j = json::parse(export_chrome(m).dump());  // through text, as a viewer reads it
  REQUIRE(j.contains("traceEvents"));
  const auto& ev = j["traceEvents"];
  REQUIRE(ev.size() > 100);
  std::map<int64_t, int> starts, finishes;
  std::set<uint64_t> named_tracks, used_tracks;
  std::map<int64_t, int> request_begins, request_ends;
  for (const auto& e : ev) {
    for (const char* k : {"ph", "ts", "pid", "tid", "name"}) {
      CAPTURE(e.dump());
      CHECK(e.contains(k));
    }
    const std::string ph = e["ph"];
    CHECK(e["ts"].is_number());
    if (ph == "X") CHECK((e.contains("dur") && e["dur"].get<double>() >= 0));
    if (ph == "s") ++starts[e["id"].get<int64_t>()];
    if (ph == "f") ++finishes[e["id"].get<int64_t>()];
    if (ph == "M" && e["name"] == "thread_name" && e["pid"] == 1) named_tracks.insert(e["tid"].get<uint64_t>());
    if (ph == "X" && e["pid"] == 1) used_tracks.insert(e["tid"].get<uint64_t>());
    if ((ph == "b" || ph == "e") && std::string(e["name"]).rfind("request ", 0) == 0)
      ++(ph == "b" ? request_begins : request_ends)[e["id"].get<int64_t>()];
  }
  REQUIRE_FALSE(starts.empty());
  CHECK(starts.size() == finishes.size());
  for (const auto& [id, n] : starts) {
    CAPTURE(id);
    CHECK(n == 1);
    CHECK(finishes[id] == 1);
  }
  for (uint64_t t : used_tracks) CHECK(named_tracks.count(t) == 1);
  // Actors: 1 prefill + 2 decode devices, 2 schedulers, 12 request actors.
  CHECK(named_tracks.size() == 17);
  CHECK(request_begins.size() == 12);
  for (const auto& [id, n] : request_begins) CHECK((n == 1 && request_ends[id] == 1));
}

TEST_CASE("a request's timeline: every hop in order, every decode step with its batch size and step time") {
  const auto& f = recorded();
  const auto m = build_model(f);
  const int64_t id = f.requests.rbegin()->first;
  auto t = timeline_of(m, id);
  REQUIRE(t.ok());
  std::vector<std::string> order;
  for (const auto& h : t->hops) order.push_back(h.what);
  const std::vector<std::string> want = {"arrival", "enqueued", "queue wait begins", "queue wait ends", "prefill begins",
                                         "prefill ends", "first token", "admitted to decode", "KV transfer begins",
                                         "KV transfer ends", "decoding"};
  for (size_t i = 0; i + 1 < want.size(); ++i) {
    auto a = std::find(order.begin(), order.end(), want[i]);
    auto b = std::find(order.begin(), order.end(), want[i + 1]);
    CAPTURE(want[i]);
    REQUIRE(a != order.end());
    REQUIRE(b != order.end());
    CHECK(a < b);
  }
  CHECK(order.back() == "end");
  // 16 tokens: the first from prefill, 15 from decode steps.
  REQUIRE(t->steps.size() == 15);
  for (const auto& s : t->steps) {
    CAPTURE(s.step);
    CHECK(s.batch >= 1);
    CHECK(s.ms == doctest::Approx(2.0 + 0.1 * s.batch).epsilon(1e-3));  // the fitted decode model
    CHECK((s.device == "sim:1" || s.device == "sim:2"));
  }
  CHECK(t->att.ttft_met);
  const auto text = format_timeline(t.value());
  CHECK(text.find("decode steps (15)") != std::string::npos);
  auto missing = timeline_of(m, 999);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.message().find("request 999 is not in the trace") != std::string::npos);
}

TEST_CASE("summary: messages handled per actor, mailbox waits, device utilisation, attainment per class") {
  const auto& f = recorded();
  const auto s = summarize(build_model(f));
  std::map<std::string, const actor_load*> types;
  for (const auto& t : s.types) types[t.name] = &t;
  REQUIRE(types.count("request"));
  CHECK(types["request"]->instances == 12);
  // Each request actor handles prefill start, first token, decoding and 15 tokens at least.
  CHECK(types["request"]->handled >= 12 * 18);
  REQUIRE(types.count("device"));
  CHECK(types["device"]->instances == 3);
  int64_t decode_batches = 0;
  for (const auto& d : s.devices) {
    CHECK(d.utilisation > 0);
    CHECK(d.utilisation <= 1.0);
    if (d.group == "decode") decode_batches += d.batches;
  }
  CHECK(decode_batches > 15);
  REQUIRE(s.classes.size() == 1);
  CHECK(s.classes[0].cls == "standard");
  CHECK(s.classes[0].requests == 12);
  CHECK(s.classes[0].finished == 12);
  const auto text = format_summary(s);
  CHECK(text.find("sim:1") != std::string::npos);
  CHECK(text.find("mailbox") != std::string::npos);
}

TEST_CASE("a malformed trace is refused with the line and the reason") {
  std::istringstream bad("{\"type\":\"header\",\"format\":\"kairos-trace\",\"version\":1}\n{\"type\":\"event\",\"t_ns\":1}\n");
  auto r = parse_trace(bad, "bad.jsonl");
  REQUIRE_FALSE(r.ok());
  CHECK(r.message().find("bad.jsonl:2") != std::string::npos);
  CHECK(r.message().find("\"actor\"") != std::string::npos);
  std::istringstream notjson("hello\n");
  auto n = parse_trace(notjson, "x.jsonl");
  REQUIRE_FALSE(n.ok());
  CHECK(n.message().find("x.jsonl:1: not JSON") != std::string::npos);
}
