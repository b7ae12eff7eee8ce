// The serving front against the real runtime (default config: the tiny CPU
// model), on an ephemeral loopback port, with Beast HTTP and WebSocket clients.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "actors/runtime.hpp"
#include "http/server.hpp"
#include "tests/http/client.hpp"

using namespace kairos;
using namespace kairos::test;
using nlohmann::json;

namespace {

struct fixture {
  std::unique_ptr<Runtime> rt;
  std::unique_ptr<http::server> srv;
  uint16_t port = 0;
  explicit fixture(const std::string& key = "", size_t max_body = 1 << 20, int max_in_flight = 0, double grace_s = 5) {
    auto cfg = load_runtime_config(std::string(KAIROS_SOURCE_DIR) + "/configs/default.yaml");
    REQUIRE_MESSAGE(cfg.ok(), (cfg.ok() ? "" : cfg.message()));
    if (max_in_flight > 0) cfg.value().admission.max_in_flight = max_in_flight;
    auto r = Runtime::create(cfg.value());
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.message()));
    rt = std::move(r.value());
    http::server_options o;
    o.port = 0;
    o.api_key = key;
    o.max_body_bytes = max_body;
    o.shutdown_grace_s = grace_s;
    o.log = [](const std::string&) {};
    auto s = http::server::start(*rt, o);
    REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.message()));
    srv = std::move(s.value());
    port = srv->port();
  }
  ~fixture() {
    srv->stop();
    rt->shutdown();
  }
  // Waits until no request is in flight and every KV block is free again.
  bool drained(double timeout_s = 10) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(int(timeout_s * 1e3));
    while (std::chrono::steady_clock::now() < until) {
      const auto st = rt->stats();
      bool free = st.in_flight == 0;
      for (const auto& d : st.devices) free = free && d.kv_free_blocks == d.kv_total_blocks;
      if (free) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  void still_serving() {
    auto r = post(port, "/v1/completions", R"({"prompt": "ok", "max_tokens": 2, "ignore_eos": true})");
    CHECK(r.status == 200);
    CHECK(r.json()["usage"]["completion_tokens"] == 2);
  }
};

}  // namespace

TEST_CASE("health, models and metrics") {
  fixture f;
  auto h = get(f.port, "/health");
  CHECK(h.status == 200);
  CHECK(h.json()["status"] == "ok");
  auto m = get(f.port, "/v1/models");
  REQUIRE(m.status == 200);
  CHECK(m.json()["data"][0]["id"].is_string());
  CHECK(get(f.port, "/nope").status == 404);
  f.still_serving();
  auto x = get(f.port, "/metrics");
  REQUIRE(x.status == 200);
  for (const char* name : {"kairos:time_to_first_token_seconds_bucket", "kairos:inter_token_latency_seconds_count",
                           "kairos:e2e_request_latency_seconds_sum", "kairos:request_queue_time_seconds_count",
                           "kairos:slo_met_total{class=\"standard\",kind=\"ttft\"}", "kairos:slo_missed_total",
                           "kairos:num_requests_waiting", "kairos:kv_cache_usage_ratio{device="})
    CHECK_MESSAGE(x.body.find(name) != std::string::npos, name);
}

TEST_CASE("completions: non-streaming and SSE streaming give the same greedy text") {
  fixture f;
  const std::string req = R"({"prompt": "Once upon a time", "max_tokens": 24, "temperature": 0, "ignore_eos": true)";
  auto a = post(f.port, "/v1/completions", req + "}");
  REQUIRE(a.status == 200);
  const json ja = a.json();
  CHECK(ja["object"] == "text_completion");
  CHECK(ja["usage"]["completion_tokens"] == 24);
  CHECK(ja["usage"]["prompt_tokens"].get<int>() > 0);
  CHECK(ja["choices"][0]["finish_reason"] == "length");
  CHECK(ja["kairos"]["ttft_ms"].is_number());
  const std::string text = ja["choices"][0]["text"];

  auto b = post(f.port, "/v1/completions", req + R"(, "stream": true})");
  REQUIRE(b.status == 200);
  CHECK(b.content_type == "text/event-stream");
  auto ev = sse_events(b.body);
  REQUIRE(ev.size() >= 3);
  CHECK(ev.back() == "[DONE]");
  std::string streamed;
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < ev.size(); ++i) {
    json c = json::parse(ev[i]);
    streamed += c["choices"][0]["text"].get<std::string>();
    for (auto& t : c["choices"][0]["token_ids"]) ids.push_back(t.get<int32_t>());
  }
  CHECK(streamed == text);
  CHECK(ids == ja["choices"][0]["token_ids"].get<std::vector<int32_t>>());
  json last = json::parse(ev[ev.size() - 2]);
  CHECK(last["usage"]["completion_tokens"] == 24);
  CHECK(last["choices"][0]["finish_reason"] == "length");

  // token-id prompts, and chat
  auto c = post(f.port, "/v1/completions", R"({"prompt": [1, 2, 3, 4], "max_tokens": 3, "ignore_eos": true})");
  CHECK(c.status == 200);
  CHECK(c.json()["usage"]["prompt_tokens"] == 4);
  auto d = post(f.port, "/v1/chat/completions",
                R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "ignore_eos": true, "class": "interactive", "slo": {"ttft_ms": 5000}})");
  CHECK(d.status == 200);
  CHECK(d.json()["choices"][0]["message"]["role"] == "assistant");
  CHECK(d.json()["kairos"]["slo"]["ttft_ms"].get<double>() == doctest::Approx(5000));
  CHECK(f.drained());
}

TEST_CASE("bad input gets 400/413 naming the problem, and the server keeps serving") {
  fixture f("", 4096);
  struct bad_case {
    std::string body, needle;
  };
  const bad_case cases[] = {
      {"{\"prompt\": \"x\",", "malformed JSON"},
      {"[1, 2]", "JSON object"},
      {R"({"max_tokens": 4})", "'prompt' is required"},
      {R"({"prompt": 5})", "'prompt' must be a string"},
      {R"({"prompt": "x", "max_tokens": "ten"})", "'max_tokens' must be an integer"},
      {R"({"prompt": "x", "max_tokens": 0})", "'max_tokens' must be in"},
      {R"({"prompt": "x", "temperature": 7})", "'temperature'"},
      {R"({"prompt": "x", "top_p": 0})", "'top_p'"},
      {R"({"prompt": "x", "stream": "yes"})", "'stream' must be true or false"},
      {R"({"prompt": "x", "slo": {"ttft_ms": -5}})", "'slo.ttft_ms'"},
      {R"({"prompt": "x", "class": "vip"})", "'class'"},
      {R"({"prompt": [1, 99999999]})", "outside the vocabulary"},
      {R"({"prompt": "x", "max_tokens": 100000})", "max_tokens"},
      {"{\"prompt\": \"bad \xff\xfe utf8\"}", "UTF-8"},
  };
  for (const auto& c : cases) {
    auto r = post(f.port, "/v1/completions", c.body);
    CHECK_MESSAGE(r.status == 400, c.body);
    const json j = r.json();
    REQUIRE_MESSAGE(j.contains("error"), c.body);
    const std::string msg = j["error"]["message"];
    const std::string what = c.body + " -> " + msg;
    CHECK_MESSAGE(msg.find(c.needle) != std::string::npos, what);
    CHECK(j["error"]["type"].is_string());
    CHECK(j["error"]["code"].is_string());
  }
  auto big = post(f.port, "/v1/completions", "{\"prompt\": \"" + std::string(8000, 'a') + "\"}");
  CHECK(big.status == 413);
  CHECK(big.json()["error"]["code"] == "body_too_large");
  f.still_serving();
  CHECK(f.drained());
}

TEST_CASE("websocket: two concurrent ids, a cancel, error frames") {
  fixture f;
  ws_client w;
  w.connect(f.port);
  w.send({{"type", "request"}, {"id", "a"}, {"prompt", "Hello there"}, {"max_tokens", 16}, {"ignore_eos", true}});
  w.send({{"type", "request"}, {"id", "b"}, {"prompt_token_ids", {5, 6, 7}}, {"max_tokens", 1000}, {"ignore_eos", true}});
  w.send({{"type", "cancel"}, {"id", "b"}});
  w.send_raw("{not json");
  w.send({{"type", "request"}, {"id", 7}, {"prompt", "x"}, {"top_k", "many"}});
  int tokens_a = 0, errors = 0;
  json done_a, done_b;
  bool saw_param = false;
  while (done_a.is_null() || done_b.is_null() || errors < 2) {
    json m = w.read();
    if (m["type"] == "token") {
      CHECK(m["t"].is_number());
      CHECK(m["token_ids"].size() == 1);
      CHECK(m["text"].is_string());
      if (m["id"] == "a") ++tokens_a;
    } else if (m["type"] == "done") {
      (m["id"] == "a" ? done_a : done_b) = m;
    } else if (m["type"] == "error") {
      ++errors;
      CHECK(m["message"].is_string());
      if (m["id"] == 7) saw_param = m["param"] == "top_k";
    }
  }
  CHECK(saw_param);
  CHECK(tokens_a == 16);
  CHECK(done_a["status"] == "finished");
  CHECK(done_a["usage"]["completion_tokens"] == 16);
  for (const char* k : {"queue_ms", "prefill_ms", "transfer_ms", "ttft_ms", "tpot_ms", "e2e_ms", "ttft_met", "tpot_met"})
    CHECK_MESSAGE(done_a["timings"].contains(k), k);
  CHECK(done_b["status"] == "cancelled");
  CHECK(done_b["usage"]["completion_tokens"].get<int>() < 1000);
  // the connection still works after the errors and the cancel
  w.send({{"id", "c"}, {"prompt", "again"}, {"max_tokens", 3}, {"ignore_eos", true}});
  json m;
  do m = w.read();
  while (m["type"] != "done");
  CHECK(m["id"] == "c");
  CHECK(m["status"] == "finished");
  w.close();
  CHECK(f.drained());
}

TEST_CASE("a client that disconnects mid-stream has its request cancelled") {
  fixture f;
  {  // SSE: read the first bytes, then drop the connection
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), f.port));
    const std::string body = R"({"prompt": "long", "max_tokens": 1000, "ignore_eos": true, "stream": true})";
    const std::string req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
    asio::write(s, asio::buffer(req));
    char buf[512];
    CHECK(s.read_some(asio::buffer(buf)) > 0);
    s.close();
  }
  {  // WebSocket: start a long request, then close the TCP connection
    ws_client w;
    w.connect(f.port);
    w.send({{"id", "x"}, {"prompt", "long"}, {"max_tokens", 1000}, {"ignore_eos", true}});
    CHECK(w.read()["type"] == "token");
    w.ws.next_layer().close();
  }
  CHECK(f.drained());
  CHECK(f.rt->stats().cancelled >= 2);
  f.still_serving();
}

TEST_CASE("api key: bearer auth everywhere but /health, on the upgrade too") {
  fixture f("s3cret-key");
  CHECK(get(f.port, "/health").status == 200);
  auto none = get(f.port, "/v1/models");
  CHECK(none.status == 401);
  CHECK(none.json()["error"]["message"].get<std::string>().find("missing") != std::string::npos);
  CHECK(get(f.port, "/v1/models", {{"Authorization", "Bearer wrong"}}).status == 401);
  CHECK(get(f.port, "/v1/models", {{"Authorization", "Bearer s3cret-ke"}}).status == 401);
  CHECK(get(f.port, "/metrics").status == 401);
  CHECK(post(f.port, "/v1/completions", R"({"prompt": "x"})", {{"Authorization", "Basic s3cret-key"}}).status == 401);
  auto q = get(f.port, "/v1/models?api_key=s3cret-key", {{"Authorization", "Bearer s3cret-key"}});
  CHECK(q.status == 401);
  CHECK(get(f.port, "/v1/models", {{"Authorization", "Bearer s3cret-key"}}).status == 200);
  {
    ws_client w;
    CHECK_THROWS(w.connect(f.port));
  }
  {
    ws_client w;
    CHECK_THROWS(w.connect(f.port, "nope"));
  }
  ws_client w;
  w.connect(f.port, "s3cret-key");
  w.send({{"id", 1}, {"prompt", "x"}, {"max_tokens", 2}, {"ignore_eos", true}});
  json m;
  do m = w.read();
  while (m["type"] != "done");
  CHECK(m["status"] == "finished");
  auto ok = post(f.port, "/v1/completions", R"({"prompt": "ok", "max_tokens": 2})", {{"Authorization", "Bearer s3cret-key"}});
  CHECK(ok.status == 200);
}

TEST_CASE("overload: admission rejection is 429 over HTTP and an error frame over WebSocket") {
  fixture f("", 1 << 20, 1);
  ws_client w;
  w.connect(f.port);
  w.send({{"id", "long"}, {"prompt", "x"}, {"max_tokens", 1000}, {"ignore_eos", true}});
  CHECK(w.read()["type"] == "token");  // it runs: the runtime is now full
  auto r = post(f.port, "/v1/completions", R"({"prompt": "x", "max_tokens": 2})");
  CHECK(r.status == 429);
  CHECK(r.json()["error"]["message"].get<std::string>().find("overloaded") != std::string::npos);
  w.send({{"id", "more"}, {"prompt", "x"}, {"max_tokens", 2}});
  w.send({{"type", "cancel"}, {"id", "long"}});
  bool overloaded = false, cancelled = false;
  while (!overloaded || !cancelled) {
    json m = w.read();
    if (m["type"] == "error" && m["id"] == "more") overloaded = m["code"] == "overloaded";
    if (m["type"] == "done" && m["id"] == "long") cancelled = m["status"] == "cancelled";
  }
  CHECK(f.drained());
  f.still_serving();
}

TEST_CASE("stop(): in-flight requests end (cancelled past the grace period), then connections close") {
  fixture f("", 1 << 20, 0, 0.2);
  ws_client w;
  w.connect(f.port);
  w.send({{"id", "a"}, {"prompt", "x"}, {"max_tokens", 1000}, {"ignore_eos", true}});
  CHECK(w.read()["type"] == "token");
  std::thread stopper([&] { f.srv->stop(); });
  json done;
  bool closed = false;
  try {
    for (;;) {
      json m = w.read();
      if (m["type"] == "done") done = m;
    }
  } catch (const std::exception&) {
    closed = true;
  }
  stopper.join();
  CHECK(closed);
  REQUIRE(done.is_object());
  CHECK(done["status"] == "cancelled");
  CHECK(f.drained());
  CHECK_THROWS(get(f.port, "/health"));  // nobody listens any more
}

TEST_CASE("stop strings end the text before the match, over HTTP, SSE and WebSocket") {
  fixture f;
  const std::string base = R"({"prompt": "Once upon a time", "max_tokens": 24, "ignore_eos": true)";
  const json full = post(f.port, "/v1/completions", base + "}").json();
  const std::string text = full["choices"][0]["text"];
  REQUIRE(text.size() > 12);
  const std::string stop = text.substr(text.size() / 2, 3);
  const std::string expect = text.substr(0, text.find(stop));
  const std::string with_stop = base + ", \"stop\": [" + json(stop).dump() + "]";

  const json a = post(f.port, "/v1/completions", with_stop + "}").json();
  CHECK(a["choices"][0]["text"] == expect);
  CHECK(a["choices"][0]["finish_reason"] == "stop");
  CHECK(a["usage"]["completion_tokens"].get<int>() < 24);

  auto ev = sse_events(post(f.port, "/v1/completions", with_stop + ", \"stream\": true}").body);
  REQUIRE(ev.size() >= 2);
  CHECK(ev.back() == "[DONE]");
  std::string streamed;
  for (size_t i = 0; i + 1 < ev.size(); ++i) streamed += json::parse(ev[i])["choices"][0]["text"].get<std::string>();
  CHECK(streamed == expect);
  CHECK(json::parse(ev[ev.size() - 2])["choices"][0]["finish_reason"] == "stop");

  ws_client w;
  w.connect(f.port);
  json m = json::parse(with_stop + "}");
  m["id"] = "s";
  w.send(m);
  std::string got;
  json done;
  while (done.is_null()) {
    json fr = w.read();
    if (fr["type"] == "token") got += fr["text"].get<std::string>();
    if (fr["type"] == "done") {
      done = fr;
      got += fr["text"].get<std::string>();
    }
  }
  CHECK(got == expect);
  CHECK(done["finish_reason"] == "stop");
  CHECK(done["status"] == "finished");
  w.close();
  CHECK(f.drained());
}
