// The bench's clients: Kairos WebSocket and OpenAI HTTP/SSE, as C++20
// coroutines on one io_context thread. Every request is one coroutine (HTTP)
// or one entry on a shared connection (WS); a dispatcher releases them at their
// send times under the concurrency cap. The only Beast TU of the bench.
#include "tools/bench/bench_client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

namespace kairos::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using json = nlohmann::json;

bool parse_url(const std::string& url, backend b, endpoint_url& out, std::string& err) {
  std::string rest;
  for (const char* scheme : {"http://", "ws://"})
    if (url.rfind(scheme, 0) == 0) rest = url.substr(std::string(scheme).size());
  if (rest.empty()) {
    err = "--url: expected http://HOST:PORT[/PATH] or ws://HOST:PORT[/PATH], got '" + url + "'";
    return false;
  }
  const auto slash = rest.find('/');
  const std::string hostport = rest.substr(0, slash);
  out.path = slash == std::string::npos ? "" : rest.substr(slash);
  if (out.path.empty() || out.path == "/") out.path = b == backend::ws ? "/v1/stream" : "/v1/completions";
  const auto colon = hostport.rfind(':');
  out.host = hostport.substr(0, colon);
  out.port = 80;
  if (colon != std::string::npos) {
    const std::string p = hostport.substr(colon + 1);
    char* end = nullptr;
    const long v = std::strtol(p.c_str(), &end, 10);
    if (p.empty() || *end != '\0' || v <= 0 || v > 65535) {
      err = "--url: bad port '" + p + "' in '" + url + "'";
      return false;
    }
    out.port = uint16_t(v);
  }
  if (out.host.empty()) {
    err = "--url: no host in '" + url + "'";
    return false;
  }
  return true;
}

namespace {

using clock_type = std::chrono::steady_clock;

struct ws_conn;

// What every coroutine of one run shares; touched only from the io thread.
struct run_state {
  asio::io_context& ioc;
  const client_options& opt;
  std::span<const bench_request> reqs;
  std::vector<request_record>& recs;
  tcp::resolver::results_type endpoints;
  clock_type::time_point t0 = clock_type::now();
  int64_t in_flight = 0, done = 0, failed = 0, tokens = 0;
  std::vector<char> finished;                       // [requests]
  std::vector<std::function<void()>> abort;         // [requests]: cut a running request short
  std::vector<std::shared_ptr<ws_conn>> pool;       // open or opening WS connections
  asio::steady_timer wake{ioc};                     // cancelled whenever a request ends

  run_state(asio::io_context& io, const client_options& o, std::span<const bench_request> r, std::vector<request_record>& rc)
      : ioc(io), opt(o), reqs(r), recs(rc), finished(r.size(), 0), abort(r.size()) {}

  double now() const { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

  void add_chunk(int64_t i, int32_t n, double server_t) {
    if (finished[size_t(i)]) return;
    recs[size_t(i)].chunks.push_back(chunk{now(), n, server_t});
    tokens += n;
  }
  // Ends request i once; later calls (a timeout racing the stream) are ignored.
  void finish(int64_t i, bool ok, std::string err = {}) {
    if (finished[size_t(i)]) return;
    finished[size_t(i)] = 1;
    auto& r = recs[size_t(i)];
    r.end_s = now();
    r.ok = ok;
    if (!ok) r.error = std::move(err);
    abort[size_t(i)] = nullptr;
    --in_flight;
    ++done;
    failed += !ok;
    wake.cancel();
  }
  awaitable<void> wait_wake() {
    wake.expires_at(clock_type::time_point::max());
    beast::error_code ec;
    co_await wake.async_wait(asio::redirect_error(use_awaitable, ec));
  }
};

// The prompt field(s) of request i.
void put_prompt(const run_state& S, int64_t i, json& body, bool ids_key) {
  const auto& rq = S.reqs[size_t(i)];
  if (S.opt.prompt == prompt_kind::token_ids)
    body[ids_key ? "prompt_token_ids" : "prompt"] =
        prompt_token_ids(rq.index, rq.input_tokens, S.opt.token_id_lo, S.opt.token_id_hi, S.opt.seed);
  else
    body["prompt"] = prompt_text(rq.index, rq.input_tokens, S.opt.seed);
}

// -- OpenAI HTTP/SSE --

// One `data:` payload of the SSE stream. Returns false when it ends the request.
bool on_sse_data(run_state& S, int64_t i, const std::string& data, bool& done_seen, std::string& err) {
  if (data == "[DONE]") {
    done_seen = true;
    return false;
  }
  auto j = json::parse(data, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    err = "malformed SSE event: " + data.substr(0, 120);
    return false;
  }
  auto& rec = S.recs[size_t(i)];
  if (j.contains("error")) {
    const auto& e = j["error"];
    err = "error event: " + (e.is_object() && e.contains("message") ? e["message"].get<std::string>() : e.dump());
    return false;
  }
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
    rec.usage_prompt_tokens = u->value("prompt_tokens", -1);
    rec.usage_completion_tokens = u->value("completion_tokens", -1);
  }
  if (auto k = j.find("kairos"); k != j.end() && k->is_object()) {
    rec.server_ttft_met = k->value("ttft_met", false);
    rec.server_tpot_met = k->value("tpot_met", false);
    rec.server_slo_met = k->value("slo_met", false);
  }
  if (auto c = j.find("choices"); c != j.end() && c->is_array() && !c->empty()) {
    const auto& ch = (*c)[0];
    int32_t n = 0;
    if (auto ids = ch.find("token_ids"); ids != ch.end() && ids->is_array()) {
      n = int32_t(ids->size());
    } else {
      // Servers without token ids: one token per non-empty chunk, as vLLM counts.
      std::string text;
      if (ch.contains("text") && ch["text"].is_string()) text = ch["text"];
      else if (ch.contains("delta") && ch["delta"].is_object() && ch["delta"].contains("content") && ch["delta"]["content"].is_string())
        text = ch["delta"]["content"];
      n = text.empty() ? 0 : 1;
    }
    if (n > 0) S.add_chunk(i, n, -1);
    if (ch.contains("finish_reason") && ch["finish_reason"] == "error") {
      err = "finish_reason error";
      return false;
    }
  }
  return true;
}

awaitable<void> openai_request(run_state& S, int64_t i) {
  const auto& rq = S.reqs[size_t(i)];
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  bool aborted = false;
  S.abort[size_t(i)] = [&stream, &aborted] {
    aborted = true;
    beast::error_code ec;
    stream.socket().close(ec);
  };
  std::string err;
  std::string stage = "request failed: ";  // error prefix: where it broke
  bool done_seen = false;
  try {
    co_await stream.async_connect(S.endpoints, use_awaitable);
    // Small writes must not wait for ACKs (Nagle), or latency gains up to 40 ms.
    stream.socket().set_option(tcp::no_delay(true));
    json body;
    const bool chat = S.opt.url.path.find("chat/completions") != std::string::npos;
    if (chat) {
      body["messages"] = json::array({{{"role", "user"}, {"content", prompt_text(rq.index, rq.input_tokens, S.opt.seed)}}});
    } else {
      put_prompt(S, i, body, false);
    }
    if (!S.opt.model.empty()) body["model"] = S.opt.model;
    body["max_tokens"] = rq.max_tokens;
    body["ignore_eos"] = true;
    body["temperature"] = 0;
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, S.opt.url.path, 11};
    req.set(bhttp::field::host, S.opt.url.host + ":" + std::to_string(S.opt.url.port));
    req.set(bhttp::field::content_type, "application/json");
    req.set(bhttp::field::accept, "text/event-stream");
    if (!S.opt.api_key.empty()) req.set(bhttp::field::authorization, "Bearer " + S.opt.api_key);
    req.body() = body.dump();
    req.prepare_payload();
    co_await bhttp::async_write(stream, req, use_awaitable);

    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> p;
    p.body_limit(boost::none);
    co_await bhttp::async_read_header(stream, buf, p, use_awaitable);
    const int status = int(p.get().result_int());
    if (status != 200) {
      beast::error_code ec;
      while (!p.is_done() && !ec) co_await bhttp::async_read_some(stream, buf, p, asio::redirect_error(use_awaitable, ec));
      const auto j = json::parse(p.get().body(), nullptr, false);
      std::string msg = p.get().body().substr(0, 200);
      if (j.is_object() && j.contains("error") && j["error"].is_object() && j["error"].contains("message"))
        msg = j["error"]["message"].get<std::string>();
      err = "HTTP " + std::to_string(status) + ": " + msg;
    } else {
      bool more = true;
      std::string pending;  // bytes of an event not yet ended by a blank line
      auto drain = [&](bool final) {
        std::string& b = p.get().body();
        pending += b;
        b.clear();
        // Servers may end lines with CRLF; events are then split on "\n\n" alike.
        std::erase(pending, '\r');
        size_t start = 0, end;
        while (more && ((end = pending.find("\n\n", start)) != std::string::npos || (final && start < pending.size()))) {
          if (end == std::string::npos) end = pending.size();
          const std::string ev = pending.substr(start, end - start);
          start = std::min(end + 2, pending.size());
          size_t ls = 0;
          while (more && ls < ev.size()) {
            size_t le = ev.find('\n', ls);
            if (le == std::string::npos) le = ev.size();
            const std::string line = ev.substr(ls, le - ls);
            if (line.rfind("data:", 0) == 0) {
              std::string d = line.substr(5);
              if (!d.empty() && d.front() == ' ') d.erase(0, 1);
              more = on_sse_data(S, i, d, done_seen, err);
            }
            ls = le + 1;
          }
        }
        pending.erase(0, start);
      };
      stage = "stream broken: ";
      while (more && !p.is_done()) {
        co_await bhttp::async_read_some(stream, buf, p, use_awaitable);
        drain(false);
      }
      if (more) drain(true);
      if (err.empty() && !done_seen) err = "stream ended without [DONE]";
    }
  } catch (const boost::system::system_error& e) {
    if (err.empty()) err = aborted ? std::string("timed out") : stage + e.code().message();
  }
  S.abort[size_t(i)] = nullptr;
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream.socket().close(ec);
  if (aborted && err.empty()) err = "timed out";
  S.finish(i, err.empty(), err);
}

// -- Kairos WebSocket --

struct ws_conn : std::enable_shared_from_this<ws_conn> {
  explicit ws_conn(asio::io_context& io) : ws(io) {}
  websocket::stream<beast::tcp_stream> ws;
  std::deque<std::string> outq;
  bool writing = false, open = false, dead = false;
  std::set<int64_t> active;  // request indices running here (the WS id is the index)
};

void ws_fail_all(run_state& S, ws_conn& c, const std::string& why) {
  c.dead = true;
  for (int64_t i : c.active) S.finish(i, false, why);
  c.active.clear();
  std::erase_if(S.pool, [&](const auto& p) { return p.get() == &c; });
}

awaitable<void> ws_flush(run_state& S, std::shared_ptr<ws_conn> c) {
  if (c->writing || !c->open) co_return;
  c->writing = true;
  try {
    while (!c->outq.empty() && !c->dead) {
      co_await c->ws.async_write(asio::buffer(c->outq.front()), use_awaitable);
      c->outq.pop_front();
    }
  } catch (const boost::system::system_error& e) {
    if (!c->dead) ws_fail_all(S, *c, "connection lost while sending: " + e.code().message());
  }
  c->writing = false;
}

void ws_send(run_state& S, const std::shared_ptr<ws_conn>& c, std::string frame) {
  c->outq.push_back(std::move(frame));
  if (c->open && !c->writing) asio::co_spawn(S.ioc, ws_flush(S, c), asio::detached);
}

void on_ws_frame(run_state& S, ws_conn& c, const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("id") || !j["id"].is_number_integer()) return;
  const int64_t i = j["id"].get<int64_t>();
  if (i < 0 || size_t(i) >= S.recs.size() || !c.active.count(i)) return;
  auto& rec = S.recs[size_t(i)];
  const std::string type = j.value("type", "");
  if (type == "token") {
    const int32_t n = j.contains("token_ids") && j["token_ids"].is_array() ? int32_t(j["token_ids"].size()) : 1;
    S.add_chunk(i, n, j.value("t", -1.0));
  } else if (type == "done") {
    if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
      rec.usage_prompt_tokens = u->value("prompt_tokens", -1);
      rec.usage_completion_tokens = u->value("completion_tokens", -1);
    }
    if (auto t = j.find("timings"); t != j.end() && t->is_object()) {
      rec.server_ttft_met = t->value("ttft_met", false);
      rec.server_tpot_met = t->value("tpot_met", false);
      rec.server_slo_met = t->value("slo_met", false);
      // Admission on the server's clock: the first token's timestamp less the
      // server's TTFT (an upper bound: the frame is stamped after the token).
      if (t->contains("ttft_ms") && (*t)["ttft_ms"].is_number() && !rec.chunks.empty() && rec.chunks[0].server_t >= 0)
        rec.server_arrival_s = rec.chunks[0].server_t - (*t)["ttft_ms"].get<double>() / 1e3;
    }
    c.active.erase(i);
    const std::string status = j.value("status", "");
    if (status == "finished" && rec.error.empty()) {
      S.finish(i, true);
    } else {
      std::string why = rec.error.empty() ? "status " + status : rec.error;
      if (j.contains("error") && j["error"].is_string()) why += ": " + j["error"].get<std::string>();
      S.finish(i, false, why);
    }
  } else if (type == "error") {
    const std::string code = j.value("code", ""), msg = j.value("message", "");
    rec.error = code + ": " + msg;
    // A slow client's request still gets its done frame; other errors end it here.
    if (code != "slow_client") {
      c.active.erase(i);
      S.finish(i, false, rec.error);
    }
  }
}

awaitable<void> ws_run(run_state& S, std::shared_ptr<ws_conn> c) {
  try {
    auto& tcp_layer = beast::get_lowest_layer(c->ws);
    tcp_layer.expires_after(std::chrono::seconds(30));
    co_await tcp_layer.async_connect(S.endpoints, use_awaitable);
    tcp_layer.expires_never();
    tcp_layer.socket().set_option(tcp::no_delay(true));  // request frames are small: no Nagle
    c->ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    const std::string key = S.opt.api_key;
    c->ws.set_option(websocket::stream_base::decorator([key](websocket::request_type& r) {
      if (!key.empty()) r.set(bhttp::field::authorization, "Bearer " + key);
    }));
    co_await c->ws.async_handshake(S.opt.url.host + ":" + std::to_string(S.opt.url.port), S.opt.url.path, use_awaitable);
    c->ws.text(true);
    c->open = true;
    asio::co_spawn(S.ioc, ws_flush(S, c), asio::detached);
    beast::flat_buffer b;
    for (;;) {
      co_await c->ws.async_read(b, use_awaitable);
      on_ws_frame(S, *c, beast::buffers_to_string(b.data()));
      b.consume(b.size());
    }
  } catch (const boost::system::system_error& e) {
    if (!c->dead) ws_fail_all(S, *c, std::string(c->open ? "connection lost: " : "connect failed: ") + e.code().message());
  }
}

void ws_launch(run_state& S, int64_t i) {
  std::shared_ptr<ws_conn> c;
  const size_t cap = size_t(std::max(1, S.opt.ws_requests_per_conn));
  for (auto& p : S.pool)
    if (!p->dead && p->active.size() < cap) {
      c = p;
      break;
    }
  if (!c) {
    c = std::make_shared<ws_conn>(S.ioc);
    S.pool.push_back(c);
    asio::co_spawn(S.ioc, ws_run(S, c), asio::detached);
  }
  c->active.insert(i);
  const auto& rq = S.reqs[size_t(i)];
  json f = {{"type", "request"}, {"id", i}, {"max_tokens", rq.max_tokens}, {"ignore_eos", true}};
  put_prompt(S, i, f, true);
  if (S.opt.send_slo) f["slo"] = {{"ttft_ms", rq.slo.ttft_s * 1e3}, {"tpot_ms", rq.slo.tpot_s * 1e3}};
  std::weak_ptr<ws_conn> w = c;
  S.abort[size_t(i)] = [&S, w, i] {
    if (auto c = w.lock()) {
      c->active.erase(i);
      if (!c->dead) ws_send(S, c, json{{"type", "cancel"}, {"id", i}}.dump());
    }
    S.finish(i, false, "timed out");
  };
  ws_send(S, c, f.dump());
}

// -- the run --

awaitable<void> dispatch(run_state& S) {
  asio::steady_timer t(S.ioc);
  const int cap = S.opt.max_concurrency;
  for (size_t i = 0; i < S.reqs.size(); ++i) {
    t.expires_at(S.t0 + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(S.reqs[i].send_at_s)));
    co_await t.async_wait(use_awaitable);
    while (cap > 0 && S.in_flight >= cap) co_await S.wait_wake();
    auto& rec = S.recs[i];
    rec.send_s = S.now();
    ++S.in_flight;
    if (S.opt.kind == backend::ws) ws_launch(S, int64_t(i));
    else asio::co_spawn(S.ioc, openai_request(S, int64_t(i)), asio::detached);
  }
  while (S.done < int64_t(S.reqs.size())) co_await S.wait_wake();
  for (auto& c : S.pool) {
    beast::error_code ec;
    c->dead = true;
    beast::get_lowest_layer(c->ws).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(c->ws).socket().close(ec);
  }
  S.pool.clear();
}

// Progress every 100 ms; timeouts checked on the same tick.
awaitable<void> ticker(run_state& S, const std::function<void(const progress&)>& on_progress) {
  asio::steady_timer t(S.ioc);
  while (S.done < int64_t(S.reqs.size())) {
    t.expires_after(std::chrono::milliseconds(100));
    co_await t.async_wait(use_awaitable);
    const double now = S.now();
    if (S.opt.request_timeout_s > 0)
      for (size_t i = 0; i < S.reqs.size(); ++i)
        if (S.abort[i] && !S.finished[i] && S.recs[i].send_s >= 0 && now - S.recs[i].send_s > S.opt.request_timeout_s) {
          auto f = S.abort[i];  // finish() clears the slot
          f();
        }
    if (on_progress)
      on_progress(progress{int64_t(S.reqs.size()), S.done, S.failed, S.in_flight, S.tokens, now});
  }
}

}  // namespace

std::vector<request_record> run_bench(const client_options& opt, std::span<const bench_request> requests,
                                      const std::function<void(const progress&)>& on_progress) {
  std::vector<request_record> recs(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    recs[i].index = requests[i].index;
    recs[i].prompt_tokens = requests[i].input_tokens;
    recs[i].max_tokens = requests[i].max_tokens;
    recs[i].slo = requests[i].slo;
  }
  if (requests.empty()) return recs;
  asio::io_context ioc(1);
  run_state S(ioc, opt, requests, recs);
  beast::error_code ec;
  tcp::resolver res(ioc);
  S.endpoints = res.resolve(opt.url.host, std::to_string(opt.url.port), ec);
  if (ec) {
    for (auto& r : recs) r.error = "cannot resolve " + opt.url.host + ": " + ec.message();
    return recs;
  }
  S.t0 = clock_type::now();
  auto rethrow = [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  };
  asio::co_spawn(ioc, dispatch(S), rethrow);
  asio::co_spawn(ioc, ticker(S, on_progress), rethrow);
  ioc.run();
  if (on_progress) on_progress(progress{int64_t(requests.size()), S.done, S.failed, 0, S.tokens, S.now()});
  return recs;
}

}  // namespace kairos::bench
