// The serving front against the real runtime (default config: the tiny CPU
// model), on an ephemeral loopback port, with Beast HTTP and WebSocket clients.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
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
  explicit fixture(const std::string& key = "", size_t max_body = 1 << 20, int max_in_flight = 0, double grace_s = 5,
                   const std::function<void(http::server_options&)>& tweak = {}) {
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
    if (tweak) tweak(o);
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
  void still_serving_with(const std::string& key) {
    auto r = post(port, "/v1/completions", R"({"prompt": "ok", "max_tokens": 2, "ignore_eos": true})",
                  {{"Authorization", "Bearer " + key}});
    CHECK(r.status == 200);
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

namespace {

// The value of one sample line of a Prometheus text body (-1 when absent).
double metric(const std::string& body, const std::string& name_and_labels) {
  const std::string key = name_and_labels + " ";
  const auto at = body.find("\n" + key);
  if (at == std::string::npos) return -1;
  return std::stod(body.substr(at + 1 + key.size()));
}

}  // namespace

TEST_CASE("metrics: waiting and running per group, KV usage per device") {
  fixture f;
  const auto st = f.rt->stats();
  REQUIRE(st.groups.size() == 2);
  ws_client w;
  w.connect(f.port);
  w.send({{"id", "long"}, {"prompt", "x"}, {"max_tokens", 1000}, {"ignore_eos", true}});
  for (int n = 0; n < 2;)  // two tokens: prefilled, then decoded once
    n += w.read()["type"] == "token";
  auto body = get(f.port, "/metrics").body;
  CHECK(metric(body, "kairos:num_requests_running{group=\"decode\"}") == 1);
  CHECK(metric(body, "kairos:num_requests_waiting{group=\"decode\"}") == 0);
  CHECK(metric(body, "kairos:num_requests_waiting{group=\"prefill\"}") == 0);
  CHECK(metric(body, "kairos:num_requests_running{group=\"prefill\"}") == 0);
  CHECK(metric(body, "kairos:num_requests_in_flight") == 1);
  // The decode device holds the request's KV.
  double decode_kv = -1;
  for (const auto& d : st.devices)
    if (d.group == "decode")
      decode_kv = metric(body, "kairos:kv_cache_usage_ratio{device=\"" + d.name + "\",group=\"decode\"}");
  CHECK(decode_kv > 0);
  CHECK(decode_kv < 1);
  w.send({{"type", "cancel"}, {"id", "long"}});
  json m;
  do m = w.read();
  while (m["type"] != "done");
  REQUIRE(f.drained());
  body = get(f.port, "/metrics").body;
  for (const char* g : {"prefill", "decode"}) {
    CHECK(metric(body, std::string("kairos:num_requests_waiting{group=\"") + g + "\"}") == 0);
    CHECK(metric(body, std::string("kairos:num_requests_running{group=\"") + g + "\"}") == 0);
  }
  for (const auto& d : st.devices)
    CHECK(metric(body, "kairos:kv_cache_usage_ratio{device=\"" + d.name + "\",group=\"" + d.group + "\"}") == 0);
}

TEST_CASE("connection limit: past it a new connection gets 503 with a message, the others keep streaming") {
  fixture f("", 1 << 20, 0, 5, [](http::server_options& o) { o.max_connections = 3; });
  std::vector<std::unique_ptr<ws_client>> ws;
  for (int i = 0; i < 3; ++i) {
    ws.push_back(std::make_unique<ws_client>());
    ws.back()->connect(f.port);
    ws.back()->send({{"id", i}, {"prompt", "x"}, {"max_tokens", 1000}, {"ignore_eos", true}});
    CHECK(ws.back()->read()["type"] == "token");
  }
  for (int k = 0; k < 3; ++k) {  // HTTP and WebSocket alike
    auto r = get(f.port, "/health");
    CHECK(r.status == 503);
    CHECK(r.json()["error"]["code"] == "too_many_connections");
    CHECK(r.json()["error"]["message"].get<std::string>().find("3 open") != std::string::npos);
  }
  {
    ws_client extra;
    CHECK_THROWS(extra.connect(f.port));
  }
  // The three streams are unaffected; ending one frees a slot.
  for (auto& w : ws) CHECK(w->read()["type"] == "token");
  ws[0]->close();
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    served = get(f.port, "/health").status == 200;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(served);
  for (size_t i = 1; i < ws.size(); ++i) {
    ws[i]->send({{"type", "cancel"}, {"id", int(i)}});
    json m;
    do m = ws[i]->read();
    while (m["type"] != "done");
    CHECK(m["status"] == "cancelled");
    ws[i]->close();
  }
  CHECK(f.drained());
}

TEST_CASE("websocket flood: error frames, then closed (1008) past the bound; other clients keep being served") {
  fixture f("", 1 << 20, 0, 5, [](http::server_options& o) { o.max_ws_invalid_messages = 8; });
  ws_client good;
  good.connect(f.port);
  good.send({{"id", "g"}, {"prompt", "x"}, {"max_tokens", 200}, {"ignore_eos", true}});
  CHECK(good.read()["type"] == "token");

  ws_client bad;
  bad.connect(f.port);
  // A valid request in the middle resets the count; it is cancelled when the connection closes.
  bad.send({{"id", "mine"}, {"prompt", "y"}, {"max_tokens", 1000}, {"ignore_eos", true}});
  for (int i = 0; i < 5; ++i) bad.send_raw("{oops");
  bad.send({{"id", "ok"}, {"prompt", "z"}, {"max_tokens", 1}});
  for (int i = 0; i < 40; ++i) bad.send_raw(i % 2 ? "[1]" : "{\"id\": 1, \"prompt\": 5}");
  int errors = 0;
  json last_error;
  bool closed = false;
  try {
    for (;;) {
      json m = bad.read();
      if (m["type"] == "error") {
        ++errors;
        last_error = m;
      }
    }
  } catch (const boost::system::system_error& ex) {
    closed = true;
    CHECK(ex.code() == websocket::error::closed);
  }
  CHECK(closed);
  CHECK(bad.ws.reason().code == websocket::close_code::policy_error);
  CHECK(errors == 5 + 9 + 1);  // one per invalid message up to the bound, then too_many_errors
  CHECK(last_error["code"] == "too_many_errors");
  CHECK(last_error["message"].get<std::string>().find("9 invalid messages in a row") != std::string::npos);

  // The other client never noticed.
  json m;
  int tokens = 1;
  do {
    m = good.read();
    tokens += m["type"] == "token";
  } while (m["type"] != "done");
  CHECK(m["status"] == "finished");
  CHECK(tokens == 200);
  good.close();
  CHECK(f.drained());  // the flooder's running request was cancelled: no KV leaked
  f.still_serving();
}

TEST_CASE("after every bad-input case no KV block is left in use") {
  fixture f("", 4096);
  auto kv_free = [&] {
    for (const auto& d : f.rt->stats().devices)
      if (d.kv_free_blocks != d.kv_total_blocks) return false;
    return true;
  };
  const std::string cases[] = {"{", R"({"prompt": "x", "max_tokens": 100000})", R"({"prompt": [1, -4]})",
                               R"({"prompt": "x", "stream": true, "stop": 5.5})", R"({"prompt": "x", "model": "other"})"};
  for (const auto& c : cases) {
    CHECK(post(f.port, "/v1/completions", c).status >= 400);
    CHECK_MESSAGE(f.drained(), c);
    CHECK(kv_free());
  }
  {  // a WebSocket message over the limit closes the connection mid-request
    fixture g("", 1 << 20, 0, 5, [](http::server_options& o) { o.max_ws_message_bytes = 1024; });
    ws_client w;
    w.connect(g.port);
    w.send({{"id", "a"}, {"prompt", "x"}, {"max_tokens", 1000}, {"ignore_eos", true}});
    CHECK(w.read()["type"] == "token");
    w.send_raw(std::string(4096, ' '));
    CHECK_THROWS([&] {
      for (;;) w.read();  // tokens, then the close
    }());
    CHECK(g.drained());
  }
}

TEST_CASE("dashboard: GET / needs no key and holds no data; /v1/stats and the WebSocket need it") {
  fixture f("dash-key");
  auto page = get(f.port, "/");
  REQUIRE(page.status == 200);
  CHECK(page.content_type.find("text/html") == 0);
  CHECK(page.body.find("id=\"v-ttft\"") != std::string::npos);
  CHECK(page.body.find("dash-key") == std::string::npos);
  CHECK(get(f.port, "/v1/stats").status == 401);
  CHECK(get(f.port, "/v1/stats?key=dash-key").status == 401);  // never in a URL

  f.still_serving_with("dash-key");
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));  // two sampling intervals
  auto s = get(f.port, "/v1/stats", {{"Authorization", "Bearer dash-key"}});
  REQUIRE(s.status == 200);
  const json j = s.json();
  CHECK(j["totals"]["finished"] == 1);
  CHECK(j["totals"]["ttft_met"].get<int>() + j["totals"]["ttft_missed"].get<int>() == 1);
  CHECK(j["series"]["t"].size() >= 1);
  CHECK(j["series"]["t"].size() == j["series"]["prefill_waiting"].size());
  CHECK(j["groups"].size() == 2);
  CHECK(j["devices"].size() == f.rt->stats().devices.size());
  CHECK(j["series"]["kv_usage"].size() == f.rt->stats().devices.size());

  // WebSocket: the key as a subprotocol (what a browser can send); the server echoes only "kairos".
  auto ws_with = [&](const std::string& protocols) {
    auto w = std::make_unique<ws_client>();
    w->ws.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), f.port));
    w->ws.set_option(websocket::stream_base::decorator(
        [protocols](websocket::request_type& r) { r.set(bhttp::field::sec_websocket_protocol, protocols); }));
    websocket::response_type res;
    w->ws.handshake(res, "127.0.0.1", "/v1/stream");
    CHECK(res[bhttp::field::sec_websocket_protocol] == "kairos");
    return w;
  };
  auto w = ws_with("kairos, kairos.bearer.ZGFzaC1rZXk");  // base64url("dash-key")
  w->send({{"id", 1}, {"prompt", "x"}, {"max_tokens", 2}, {"ignore_eos", true}});
  json m;
  do m = w->read();
  while (m["type"] != "done");
  CHECK(m["status"] == "finished");
  w->close();
  CHECK_THROWS(ws_with("kairos, kairos.bearer.d3Jvbmc"));  // "wrong"
  CHECK_THROWS(ws_with("kairos"));
  CHECK_THROWS(ws_with("kairos, kairos.bearer.!!"));
}
