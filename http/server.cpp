// The only Beast translation unit: HTTP/1.1 (+SSE) and WebSocket sessions as
// C++20 coroutines on a small io_context thread pool, one strand per
// connection. Runtime callbacks (on the runtime's threads) only push events
// into a connection's queue and wake its coroutine; decoding, JSON and all
// socket I/O happen on the io threads.
#include "http/server.hpp"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <thread>
#include <unordered_map>

#include "http/api.hpp"
#include "http/dashboard_page.hpp"
#include "http/open_files.hpp"
#include "http/stats_series.hpp"

namespace kairos::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;
using asio::awaitable;
using asio::use_awaitable;
using string_request = bhttp::request<bhttp::string_body>;

namespace {

// One request's link to the runtime: its handle once submit returned, and a
// cancel that works before that too.
struct live_request {
  std::mutex mu;
  std::optional<request_handle> handle;
  bool cancel_wanted = false;
  std::atomic<bool> overflowed{false};
  void cancel() {
    std::lock_guard lk(mu);
    if (handle) handle->cancel();
    else cancel_wanted = true;
  }
  void set(request_handle h) {
    std::lock_guard lk(mu);
    handle = h;
    if (cancel_wanted) handle->cancel();
  }
};

struct event {
  enum kind_t { token, done, frame } kind = token;
  uint64_t key = 0;  // the server-wide request key
  int32_t tok = 0;
  double t = 0;      // runtime clock
  std::shared_ptr<request_result> result;
  std::string text;  // frame: a ready WebSocket frame
};

// Posting to the io_context is allowed only while it exists.
struct post_guard {
  std::mutex mu;
  bool alive = true;
};

// Events from the runtime's threads to one connection's coroutines.
struct event_queue : std::enable_shared_from_this<event_queue> {
  explicit event_queue(asio::any_io_executor ex, std::shared_ptr<post_guard> g) : timer(ex), guard(std::move(g)) {}
  std::mutex mu;
  std::deque<event> items;
  bool closed = false;
  asio::steady_timer timer;
  std::shared_ptr<post_guard> guard;

  size_t push(event e) {
    size_t n;
    {
      std::lock_guard lk(mu);
      items.push_back(std::move(e));
      n = items.size();
    }
    wake();
    return n;
  }
  void wake() {
    std::lock_guard lk(guard->mu);
    if (guard->alive) asio::post(timer.get_executor(), [self = shared_from_this()] { self->timer.cancel(); });
  }
  // Waits (on the strand) until there is an event or the queue is closed.
  awaitable<void> wait() {
    for (;;) {
      {
        std::lock_guard lk(mu);
        if (!items.empty() || closed) co_return;
      }
      timer.expires_at(asio::steady_timer::time_point::max());
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    }
  }
  size_t size() {
    std::lock_guard lk(mu);
    return items.size();
  }
  std::deque<event> take() {
    std::lock_guard lk(mu);
    std::deque<event> out;
    out.swap(items);
    return out;
  }
};

}  // namespace

struct server::impl : std::enable_shared_from_this<server::impl> {
  Runtime& rt;
  server_options opt;
  std::shared_ptr<frontend> fe;
  metrics mx;
  std::shared_ptr<asio::io_context> ioc = std::make_shared<asio::io_context>();
  std::shared_ptr<post_guard> guard = std::make_shared<post_guard>();
  std::optional<tcp::acceptor> acceptor{std::in_place, *ioc};
  std::vector<std::thread> threads;
  uint16_t bound_port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<bool> stopped{false};
  std::atomic<int> connections{0};
  std::atomic<uint64_t> next_key{1};
  std::mutex live_mu;
  std::unordered_map<uint64_t, std::shared_ptr<live_request>> live;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
  std::chrono::steady_clock::time_point started_steady = std::chrono::steady_clock::now();
  std::optional<asio::ssl::context> ssl;  // set: HTTPS and WSS only
  stats_series series;
  std::atomic<int> refusing{0};          // connections being sent a 503 (bounded)
  std::atomic<uint64_t> refused_total{0};

  impl(Runtime& r, server_options o) : rt(r), opt(std::move(o)), series(opt.stats_points) {}

  double uptime_s() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_steady).count(); }
  void take_sample() { series.sample(uptime_s(), rt.stats(), mx.totals()); }

  void log(const std::string& m) const {
    if (opt.log) opt.log(m);
    else std::fprintf(stderr, "kairos serve: %s\n", m.c_str());
  }

  // -- requests --

  // Submits with callbacks that feed `q`; returns the key, or the rejection.
  result<uint64_t> submit(const generate_request& req, const std::shared_ptr<event_queue>& q, const std::shared_ptr<live_request>& lr) {
    const uint64_t key = next_key.fetch_add(1);
    {
      std::lock_guard lk(live_mu);
      live[key] = lr;
    }
    request_callbacks cb;
    std::weak_ptr<impl> self = weak_from_this();
    const size_t max_pending = opt.max_pending_events;
    cb.on_token = [q, lr, key, self, max_pending](int64_t, int32_t tok) {
      auto s = self.lock();
      event e;
      e.kind = event::token;
      e.key = key;
      e.tok = tok;
      e.t = s ? s->rt.now_s() : 0;
      if (q->push(std::move(e)) > max_pending && !lr->overflowed.exchange(true)) lr->cancel();
    };
    cb.on_done = [q, key, self](const request_result& r) {
      if (auto s = self.lock()) {
        s->mx.observe_done(r);
        std::lock_guard lk(s->live_mu);
        s->live.erase(key);
      }
      event e;
      e.kind = event::done;
      e.key = key;
      e.result = std::make_shared<request_result>(r);
      q->push(std::move(e));
    };
    auto h = rt.submit(req, std::move(cb));
    if (!h) {
      std::lock_guard lk(live_mu);
      live.erase(key);
      mx.observe_rejected(req.cls);
      return make_error(h.message());
    }
    lr->set(h.value());
    return key;
  }

  // -- HTTP helpers --

  bool authorized(const string_request& req, std::string& why) const {
    const std::string target(req.target());
    if (target.find("api_key=") != std::string::npos || target.find("key=") != std::string::npos ||
        target.find("token=") != std::string::npos) {
      why = "a key was sent in the URL; send it only as 'Authorization: Bearer KEY'";
      return false;
    }
    if (opt.api_key.empty()) return true;
    std::string presented;
    auto it = req.find(bhttp::field::authorization);
    if (it != req.end()) {
      std::string v(it->value());
      if (v.rfind("Bearer ", 0) != 0) {
        why = "the Authorization header is not 'Bearer KEY'";
        return false;
      }
      presented = v.substr(7);
    } else if (websocket::is_upgrade(req) && req.find(bhttp::field::sec_websocket_protocol) != req.end()) {
      // Browsers cannot set headers on a WebSocket: the key may come as a subprotocol.
      auto k = bearer_from_subprotocols(std::string(req[bhttp::field::sec_websocket_protocol]));
      if (!k) {
        why = "missing 'Authorization: Bearer KEY' header or 'kairos.bearer.<base64url KEY>' subprotocol";
        return false;
      }
      presented = *k;
    } else {
      why = "missing 'Authorization: Bearer KEY' header";
      return false;
    }
    if (!keys_equal(presented, opt.api_key)) {
      why = "wrong API key";
      return false;
    }
    return true;
  }

  template <class Stream>
  awaitable<void> send(Stream& stream, unsigned version, bool keep_alive, int status, std::string body,
                       std::string content_type = std::string("application/json")) {
    bhttp::response<bhttp::string_body> res{bhttp::status(status), version};
    res.set(bhttp::field::server, "kairos");
    res.set(bhttp::field::content_type, content_type);
    if (status == 401) res.set(bhttp::field::www_authenticate, "Bearer");
    if (content_type.rfind("text/html", 0) == 0) {
      res.set("Content-Security-Policy", dashboard_csp());
      res.set("X-Content-Type-Options", "nosniff");
      res.set("Referrer-Policy", "no-referrer");
      res.set(bhttp::field::cache_control, "no-store");
    }
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    mx.count_http(status);
    co_await bhttp::async_write(stream, res, use_awaitable);
  }
};

namespace {

using impl_ptr = std::shared_ptr<server::impl>;

std::string error_body(int status, const std::string& message, const std::string& type, const std::string& code) {
  api_error e;
  e.status = status;
  e.message = message;
  e.type = type;
  e.code = code;
  return e.body().dump();
}

json usage_json(int32_t prompt_tokens, size_t completion) {
  return json{{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion},
              {"total_tokens", prompt_tokens + int64_t(completion)}};
}

std::string ms_now_id(uint64_t key) { return std::to_string(key); }

// POST /v1/completions and /v1/chat/completions.
template <class Stream>
awaitable<bool> handle_completion(impl_ptr S, Stream& stream, const string_request& req, endpoint ep) {
  const bool keep = req.keep_alive();
  const unsigned ver = req.version();
  json body;
  parsed_request pr;
  std::optional<api_error> err = parse_json_body(req.body(), body);
  if (!err) err = S->fe->parse(body, ep, pr);
  if (err) {
    S->log("400 " + std::string(req.target()) + ": " + err->message);
    co_await S->send(stream, ver, keep, err->status, err->body().dump());
    co_return keep;
  }
  auto q = std::make_shared<event_queue>(stream.get_executor(), S->guard);
  auto lr = std::make_shared<live_request>();
  auto key = S->submit(pr.req, q, lr);
  if (!key) {
    const api_error e = rejection_error(key.message());
    S->log(std::to_string(e.status) + " " + std::string(req.target()) + ": " + e.message);
    co_await S->send(stream, ver, keep, e.status, e.body().dump());
    co_return keep;
  }
  const bool chat = ep == endpoint::chat;
  const std::string id = (chat ? "chatcmpl-" : "cmpl-") + ms_now_id(*key);
  const int64_t created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const char* object = chat ? (pr.stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  stream_decoder dec(S->fe->tokenizer);
  stop_matcher stop(pr.stop_texts);
  bool stop_cut = false;
  size_t n_at_stop = 0;
  std::string text;
  std::vector<int32_t> ids;
  double last_t = -1;
  std::shared_ptr<request_result> result;

  auto chunk_json = [&](const std::string& delta, const std::vector<int32_t>& delta_ids, const char* finish) {
    json choice = {{"index", 0}, {"finish_reason", finish ? json(finish) : json(nullptr)}};
    if (chat) {
      json d = json::object();
      if (!delta.empty() || !finish) d["content"] = delta;
      choice["delta"] = d;
    } else {
      choice["text"] = delta;
      choice["logprobs"] = nullptr;
    }
    choice["token_ids"] = delta_ids;
    return json{{"id", id}, {"object", object}, {"created", created}, {"model", pr.model}, {"choices", json::array({choice})}};
  };

  bool alive = true;
  std::optional<bhttp::response<bhttp::empty_body>> head;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> sr;
  auto write_chunk = [&](const std::string& s) -> awaitable<void> {
    co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(s)), use_awaitable);
  };
  try {
    if (pr.stream) {
      head.emplace(bhttp::status::ok, ver);
      head->set(bhttp::field::server, "kairos");
      head->set(bhttp::field::content_type, "text/event-stream");
      head->set(bhttp::field::cache_control, "no-cache");
      head->chunked(true);
      head->keep_alive(keep);
      sr.emplace(*head);
      co_await bhttp::async_write_header(stream, *sr, use_awaitable);
      S->mx.count_http(200);
      if (chat) {
        json first = chunk_json("", {}, nullptr);
        first["choices"][0]["delta"] = {{"role", "assistant"}, {"content", ""}};
        co_await write_chunk("data: " + first.dump() + "\n\n");
      }
    }
    while (!result) {
      co_await q->wait();
      std::string delta;
      std::vector<int32_t> delta_ids;
      auto mark_stop = [&] {  // a stop string: end here, free the rest
        stop_cut = true;
        n_at_stop = ids.size();
        lr->cancel();
      };
      // Token by token through the stop matcher, as the WebSocket path does:
      // a wait can return many tokens (a busy host), and the usage and the
      // returned ids must end at the token that completed the stop string,
      // not at the last one taken with it.
      for (auto& e : q->take()) {
        if (e.kind == event::token) {
          if (stop_cut) continue;
          delta += stop.feed(dec.push(e.tok), false);
          delta_ids.push_back(e.tok);
          ids.push_back(e.tok);
          if (last_t >= 0) S->mx.observe_token_gap(e.t - last_t);
          last_t = e.t;
          if (stop.hit()) mark_stop();
        } else if (e.kind == event::done) {
          result = e.result;
        }
      }
      if (result) {
        delta += stop.feed(dec.flush(), true);  // empty after a stop
        if (stop.hit() && !stop_cut) mark_stop();  // completed by the decoder's last bytes
      }
      text += delta;
      if (pr.stream && (!delta_ids.empty() || !delta.empty()))
        co_await write_chunk("data: " + chunk_json(delta, delta_ids, nullptr).dump() + "\n\n");
    }
  } catch (const boost::system::system_error& ex) {
    // The client went away: cancel the request (its KV is freed) and drop the connection.
    S->log("client disconnected from " + id + " (" + ex.code().message() + "); cancelling it");
    lr->cancel();
    alive = false;
  }
  if (!alive) co_return false;
  const json usage = usage_json(pr.prompt_tokens, stop_cut ? n_at_stop : result->tokens.size());
  const char* finish = stop_cut ? "stop" : finish_reason(*result);
  if (result->status == request_status::failed && !pr.stream && !stop_cut) {
    api_error e;
    e.status = 500;
    e.type = "server_error";
    e.code = "request_failed";
    e.message = "the request failed: " + result->error;
    co_await S->send(stream, ver, keep, 500, e.body().dump());
    co_return keep;
  }
  if (pr.stream) {
    json last = chunk_json("", {}, finish);
    last["usage"] = usage;
    last["kairos"] = timings_json(*result);
    if (result->status == request_status::failed) last["error"] = {{"message", result->error}, {"type", "server_error"}};
    try {
      co_await write_chunk("data: " + last.dump() + "\n\n");
      co_await write_chunk("data: [DONE]\n\n");
      co_await asio::async_write(stream, bhttp::make_chunk_last(), use_awaitable);
    } catch (const boost::system::system_error&) {
      co_return false;
    }
    co_return keep;
  }
  std::vector<int32_t> out_ids = result->tokens;
  if (stop_cut && out_ids.size() > n_at_stop) out_ids.resize(n_at_stop);
  json choice = {{"index", 0}, {"finish_reason", finish}, {"token_ids", out_ids}};
  if (chat) choice["message"] = {{"role", "assistant"}, {"content", text}};
  else {
    choice["text"] = text;
    choice["logprobs"] = nullptr;
  }
  json out = {{"id", id}, {"object", object}, {"created", created}, {"model", pr.model}, {"choices", json::array({choice})},
              {"usage", usage}, {"kairos", timings_json(*result)}};
  co_await S->send(stream, ver, keep, 200, out.dump());
  co_return keep;
}

// -- WebSocket /v1/stream --

struct ws_request {
  json client_id;
  std::shared_ptr<live_request> lr;
  stream_decoder dec;
  int32_t prompt_tokens = 0;
  size_t n_tokens = 0;
  double last_t = -1;
  stop_matcher stop{};
  bool stop_cut = false;
  size_t n_at_stop = 0;
};

struct ws_conn {
  std::shared_ptr<event_queue> q;
  std::map<uint64_t, ws_request> reqs;  // strand only
  std::map<std::string, uint64_t> by_id;  // client id (dumped) -> key
  bool closed = false;   // the client is gone: write nothing more
  // The server ends the connection: the writer sends what is queued, then
  // this close frame. `close_guard` closes the socket if that stalls.
  std::optional<websocket::close_reason> closing;
  std::shared_ptr<asio::steady_timer> close_guard;
  int invalid_in_a_row = 0;
};

std::string error_frame(const json& id, const std::string& code, const std::string& message, const std::string& param = "") {
  json f = {{"type", "error"}, {"id", id}, {"code", code}, {"message", message}};
  if (!param.empty()) f["param"] = param;
  return f.dump();
}

template <class WS>
awaitable<void> ws_writer(impl_ptr S, std::shared_ptr<WS> ws, std::shared_ptr<ws_conn> c) {
  try {
    for (;;) {
      co_await c->q->wait();
      auto evs = c->q->take();
      if (evs.empty() && c->closing && !c->closed) {
        c->closed = true;
        co_await ws->async_close(*c->closing, use_awaitable);
        break;
      }
      if (evs.empty() && c->closed) break;
      for (auto& e : evs) {
        std::string out;
        if (e.kind == event::frame) {
          out = std::move(e.text);
        } else {
          auto it = c->reqs.find(e.key);
          if (it == c->reqs.end()) continue;
          ws_request& r = it->second;
          if (e.kind == event::token) {
            if (r.stop_cut) continue;
            // Coalescing is left to the client; one frame per token keeps timestamps exact.
            std::string d = r.stop.feed(r.dec.push(e.tok), false);
            ++r.n_tokens;
            if (r.stop.hit()) {
              r.stop_cut = true;
              r.n_at_stop = r.n_tokens;
              r.lr->cancel();
            }
            if (r.last_t >= 0) S->mx.observe_token_gap(e.t - r.last_t);
            r.last_t = e.t;
            out = json{{"type", "token"}, {"id", r.client_id}, {"text", d}, {"token_ids", {e.tok}}, {"t", e.t}}.dump();
          } else {
            const auto& res = *e.result;
            std::string rest = r.stop.feed(r.dec.flush(), true);
            if (r.lr->overflowed.load()) {
              std::string f = error_frame(r.client_id, "slow_client",
                                          "the client read too slowly; the request was cancelled after " +
                                              std::to_string(S->opt.max_pending_events) + " pending events");
              co_await ws->async_write(asio::buffer(f), use_awaitable);
            }
            json f = {{"type", "done"},
                      {"id", r.client_id},
                      {"status", r.stop_cut ? "finished" : to_string(res.status)},
                      {"finish_reason", r.stop_cut ? "stop" : finish_reason(res)},
                      {"text", rest},
                      {"usage", usage_json(r.prompt_tokens, r.stop_cut ? r.n_at_stop : res.tokens.size())},
                      {"timings", timings_json(res)},
                      {"t", res.times.end_s}};
            if (res.status == request_status::failed && !r.stop_cut) f["error"] = res.error;
            out = f.dump();
            c->by_id.erase(r.client_id.dump());
            c->reqs.erase(it);
          }
        }
        if (!c->closed) co_await ws->async_write(asio::buffer(out), use_awaitable);
      }
      if (c->closed) break;
    }
  } catch (const boost::system::system_error&) {
  }
  if (c->close_guard) c->close_guard->cancel();
  // Whatever is still running belongs to a client that is gone.
  c->closed = true;
  for (auto& [k, r] : c->reqs) r.lr->cancel();
  boost::system::error_code ec;
  beast::get_lowest_layer(*ws).socket().close(ec);
}

// Handles one client message; returns false when it was invalid (the
// client's fault: it got an error frame), true otherwise.
bool ws_handle_message(impl_ptr S, ws_conn& c, const std::string& msg) {
  json m;
  if (auto e = parse_json_body(msg, m)) {
    c.q->push(event{event::frame, 0, 0, 0, nullptr, error_frame(nullptr, e->code, e->message)});
    return false;
  }
  json id = m.contains("id") ? m["id"] : json(nullptr);
  if (!id.is_string() && !id.is_number_integer()) {
    c.q->push(event{event::frame, 0, 0, 0, nullptr,
                    error_frame(id, "invalid_type", "'id' is required and must be a string or an integer", "id")});
    return false;
  }
  std::string type = "request";
  if (auto t = m.find("type"); t != m.end()) {
    if (!t->is_string()) {
      c.q->push(event{event::frame, 0, 0, 0, nullptr, error_frame(id, "invalid_type", "'type' must be a string", "type")});
      return false;
    }
    type = t->get<std::string>();
  }
  const std::string idk = id.dump();
  if (type == "cancel") {
    auto it = c.by_id.find(idk);
    if (it == c.by_id.end()) {
      c.q->push(event{event::frame, 0, 0, 0, nullptr, error_frame(id, "unknown_id", "no request with this id is running")});
      return false;
    }
    c.reqs.at(it->second).lr->cancel();  // its done frame says "cancelled"
    return true;
  }
  if (type != "request") {
    c.q->push(event{event::frame, 0, 0, 0, nullptr,
                    error_frame(id, "invalid_value", "'type' must be \"request\" or \"cancel\", got \"" + type + "\"", "type")});
    return false;
  }
  if (c.by_id.count(idk)) {
    c.q->push(event{event::frame, 0, 0, 0, nullptr, error_frame(id, "duplicate_id", "a request with this id is still running")});
    return false;
  }
  if (int(c.reqs.size()) >= S->opt.max_requests_per_connection) {
    c.q->push(event{event::frame, 0, 0, 0, nullptr,
                    error_frame(id, "too_many_requests",
                                "this connection already runs " + std::to_string(c.reqs.size()) + " requests (the limit)")});
    return false;
  }
  parsed_request pr;
  if (auto e = S->fe->parse(m, endpoint::ws, pr)) {
    c.q->push(event{event::frame, 0, 0, 0, nullptr, error_frame(id, e->code, e->message, e->param)});
    return false;
  }
  if (S->stopping) {
    c.q->push(event{event::frame, 0, 0, 0, nullptr, error_frame(id, "shutting_down", "the server is shutting down")});
    return true;
  }
  auto lr = std::make_shared<live_request>();
  // Events are read on this strand only after we return, so registering after submit is safe.
  auto k = S->submit(pr.req, c.q, lr);
  if (!k) {
    const api_error e = rejection_error(k.message());
    c.q->push(event{event::frame, 0, 0, 0, nullptr, error_frame(id, e.code, e.message)});
    return e.status != 400;  // overloaded or shutting down is not the client's fault
  }
  auto [it, fresh] = c.reqs.emplace(*k, ws_request{id, lr, stream_decoder(S->fe->tokenizer), pr.prompt_tokens});
  (void)fresh;
  it->second.stop = stop_matcher(pr.stop_texts);
  c.by_id[idk] = *k;
  return true;
}

template <class Stream>
awaitable<void> ws_session(impl_ptr S, Stream stream, string_request req) {
  using ws_t = websocket::stream<Stream>;
  auto ws = std::make_shared<ws_t>(std::move(stream));
  ws->set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws->read_message_max(S->opt.max_ws_message_bytes);
  // A browser that offered subprotocols fails the connection unless one is
  // echoed; echo "kairos", never the bearer entry (it holds the key).
  const bool echo = offers_subprotocol(std::string(req[bhttp::field::sec_websocket_protocol]), "kairos");
  ws->set_option(websocket::stream_base::decorator([echo](websocket::response_type& r) {
    r.set(bhttp::field::server, "kairos");
    if (echo) r.set(bhttp::field::sec_websocket_protocol, "kairos");
  }));
  try {
    co_await ws->async_accept(req, use_awaitable);
  } catch (const boost::system::system_error&) {
    co_return;
  }
  ws->text(true);
  auto c = std::make_shared<ws_conn>();
  c->q = std::make_shared<event_queue>(ws->get_executor(), S->guard);
  asio::co_spawn(ws->get_executor(), ws_writer(S, ws, c), asio::detached);
  beast::flat_buffer buf;
  auto close_with = [&](websocket::close_code code, const std::string& err_code, const std::string& message) {
    S->log("websocket closed by the server (" + err_code + "): " + message);
    c->q->push(event{event::frame, 0, 0, 0, nullptr, error_frame(nullptr, err_code, message)});
    c->closing = websocket::close_reason(code, err_code);
  };
  for (;;) {
    try {
      buf.clear();
      co_await ws->async_read(buf, use_awaitable);
    } catch (const boost::system::system_error& ex) {
      if (ex.code() == websocket::error::message_too_big) S->log("websocket message over the limit; closing (1009)");
      break;
    }
    if (ws_handle_message(S, *c, beast::buffers_to_string(buf.data()))) {
      c->invalid_in_a_row = 0;
    } else if (++c->invalid_in_a_row > S->opt.max_ws_invalid_messages) {
      close_with(websocket::close_code::policy_error, "too_many_errors",
                 std::to_string(c->invalid_in_a_row) + " invalid messages in a row (the limit is " +
                     std::to_string(S->opt.max_ws_invalid_messages) + "); closing the connection");
      break;
    }
    // Frames pile up only while the client does not read them: stop taking its messages.
    if (c->q->size() > S->opt.max_pending_events) {
      close_with(websocket::close_code::policy_error, "slow_client",
                 "the client does not read its frames (" + std::to_string(c->q->size()) +
                     " pending); closing the connection");
      break;
    }
  }
  // Whether the client went away or the server closes: cancel its requests (KV freed).
  if (!c->closing) c->closed = true;
  for (auto& [k, r] : c->reqs) r.lr->cancel();
  {
    std::lock_guard lk(c->q->mu);
    c->q->closed = true;
  }
  c->q->wake();
  if (c->closing) {
    // The writer sends the queued frames and the close frame; a client that
    // reads nothing would hold it forever, so the socket closes after 5 s.
    c->close_guard = std::make_shared<asio::steady_timer>(ws->get_executor(), std::chrono::seconds(5));
    boost::system::error_code ec;
    co_await c->close_guard->async_wait(asio::redirect_error(use_awaitable, ec));
    if (!ec) beast::get_lowest_layer(*ws).socket().close(ec);
  }
}

void close_stream(beast::tcp_stream& stream) {
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

awaitable<void> close_stream(tls_stream& stream) {
  boost::system::error_code ec;
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  co_await stream.async_shutdown(asio::redirect_error(use_awaitable, ec));
  beast::get_lowest_layer(stream).socket().close(ec);
}

// One connection's HTTP requests, in order; an upgrade hands the stream to
// the WebSocket session.
template <class Stream>
awaitable<void> http_loop(impl_ptr S, Stream stream) {
  beast::flat_buffer buf;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(S->opt.max_body_bytes);
    parser.header_limit(16 * 1024);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(120));
    boost::system::error_code rec;
    co_await bhttp::async_read(stream, buf, parser, asio::redirect_error(use_awaitable, rec));
    if (rec) {
      int status = 0;
      api_error e;
      if (rec == bhttp::error::body_limit) {
        status = e.status = 413;
        e.code = "body_too_large";
        e.message = "the request body is over the limit of " + std::to_string(S->opt.max_body_bytes) + " bytes";
      } else if (rec == bhttp::error::header_limit) {
        status = e.status = 431;
        e.code = "headers_too_large";
        e.message = "the request headers are over the limit of 16 KiB";
      }
      if (status) {
        S->log(std::to_string(status) + ": " + e.message);
        bhttp::response<bhttp::string_body> res{bhttp::status(status), 11};
        res.set(bhttp::field::content_type, "application/json");
        res.keep_alive(false);
        res.body() = e.body().dump();
        res.prepare_payload();
        S->mx.count_http(status);
        boost::system::error_code wec;
        co_await bhttp::async_write(stream, res, asio::redirect_error(use_awaitable, wec));
      }
      break;
    }
    beast::get_lowest_layer(stream).expires_never();
    string_request req = parser.release();
    const bool keep = req.keep_alive();
    const unsigned ver = req.version();
    std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));
    const auto method = req.method();
    try {
      std::string why;
      // The dashboard page holds no data: it is served without the key and asks for it.
      const bool dashboard = (path == "/" || path == "/index.html") && method == bhttp::verb::get;
      const bool open = path == "/health" || dashboard;
      if (!open && !S->authorized(req, why)) {
        S->log("401 " + path + ": " + why);
        api_error e;
        e.status = 401;
        e.type = "authentication_error";
        e.code = "invalid_api_key";
        e.message = why;
        co_await S->send(stream, ver, keep, 401, e.body().dump());
        if (!keep) break;
        continue;
      }
      if (websocket::is_upgrade(req)) {
        if (path != "/v1/stream") {
          const std::string eb = error_body(404, "WebSocket upgrades go to /v1/stream", "invalid_request_error", "not_found");
          co_await S->send(stream, ver, false, 404, eb);
          break;
        }
        co_await ws_session(S, std::move(stream), std::move(req));
        co_return;
      }
      bool k = keep;
      if (S->stopping && path != "/health" && path != "/metrics") {
        const std::string eb = error_body(503, "the server is shutting down", "server_error", "shutting_down");
        co_await S->send(stream, ver, false, 503, eb);
        break;
      }
      if (dashboard) {
        co_await S->send(stream, ver, keep, 200, std::string(dashboard_page()), std::string("text/html; charset=utf-8"));
      } else if (path == "/health" && method == bhttp::verb::get) {
        std::string hb = S->stopping ? "{\"status\":\"stopping\"}" : "{\"status\":\"ok\"}";
        co_await S->send(stream, ver, keep, 200, hb);
      } else if (path == "/v1/models" && method == bhttp::verb::get) {
        const int64_t created = std::chrono::duration_cast<std::chrono::seconds>(S->started.time_since_epoch()).count();
        json m = {{"object", "list"},
                  {"data", json::array({{{"id", S->fe->model_name}, {"object", "model"}, {"created", created}, {"owned_by", "kairos"}}})}};
        co_await S->send(stream, ver, keep, 200, m.dump());
      } else if (path == "/v1/stats" && method == bhttp::verb::get) {
        json st = S->series.to_json(S->rt.stats(), S->mx.totals());
        st["model"] = S->fe->model_name;
        st["uptime_s"] = std::round(S->uptime_s() * 1e3) / 1e3;
        co_await S->send(stream, ver, keep, 200, st.dump());
      } else if (path == "/metrics" && method == bhttp::verb::get) {
        co_await S->send(stream, ver, keep, 200, S->mx.render(S->rt.stats()), std::string("text/plain; version=0.0.4"));
      } else if (path == "/v1/admin/trace" && method == bhttp::verb::post) {
        // Records an actor trace for a window, written to `path` on this host (docs/tracing.md).
        json body;
        int st = 200;
        std::string out;
        if (auto err = parse_json_body(req.body(), body)) {
          st = err->status;
          out = err->body().dump();
        } else if (!body.is_object() || !body.contains("seconds") || !body["seconds"].is_number() || !body.contains("path") ||
                   !body["path"].is_string()) {
          st = 400;
          out = error_body(400, "expected {\"seconds\": N, \"path\": \"FILE\"}", "invalid_request_error", "invalid_value");
        } else if (auto why = trace_path_problem(body["path"].get<std::string>()); !why.empty()) {
          st = 400;
          out = error_body(400, "path: " + why, "invalid_request_error", "invalid_value");
        } else if (auto s = S->rt.trace_window(body["seconds"].get<double>(), body["path"].get<std::string>()); !s) {
          st = s.message().find("already recording") != std::string::npos ? 409 : 400;
          out = error_body(st, s.message(), "invalid_request_error", st == 409 ? "conflict" : "invalid_value");
        } else {
          out = json{{"status", "recording"}, {"seconds", body["seconds"]}, {"path", body["path"]}}.dump();
        }
        co_await S->send(stream, ver, keep, st, out);
      } else if (path == "/v1/completions" || path == "/v1/chat/completions") {
        if (method != bhttp::verb::post) {
          const std::string eb = error_body(405, "use POST", "invalid_request_error", "method_not_allowed");
          co_await S->send(stream, ver, keep, 405, eb);
        } else {
          k = co_await handle_completion(S, stream, req, path == "/v1/completions" ? endpoint::completions : endpoint::chat);
        }
      } else {
        const std::string eb = error_body(404, "no such endpoint: " + path, "invalid_request_error", "not_found");
        co_await S->send(stream, ver, keep, 404, eb);
      }
      if (!k) break;
    } catch (const boost::system::system_error&) {
      co_return;
    }
  }
  if constexpr (std::is_same_v<Stream, tls_stream>) co_await close_stream(stream);
  else close_stream(stream);
}

struct conn_count {
  server::impl* s;
  ~conn_count() { --s->connections; }
};

awaitable<void> http_session(impl_ptr S, tcp::socket sock) {
  conn_count cc{S.get()};
  beast::tcp_stream stream(std::move(sock));
  co_await http_loop(S, std::move(stream));
}

awaitable<void> https_session(impl_ptr S, tcp::socket sock) {
  conn_count cc{S.get()};
  tls_stream stream(beast::tcp_stream(std::move(sock)), *S->ssl);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
  boost::system::error_code ec;
  co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    // Scanners and plain-HTTP clients end here; nothing was served.
    S->log("TLS handshake failed: " + ec.message());
    co_return;
  }
  co_await http_loop(S, std::move(stream));
}

// A connection past max_connections: a 503 that says why, then close. The
// request is not read (it may be anything); reading until the client closes
// keeps the kernel from resetting the connection before the answer arrives.
awaitable<void> refuse(impl_ptr S, tcp::socket sock) {
  struct refusing_count {
    server::impl* s;
    ~refusing_count() { --s->refusing; }
  } rc{S.get()};
  const std::string body = error_body(503,
                                      "too many connections: the server has " + std::to_string(S->opt.max_connections) +
                                          " open (the limit); retry later",
                                      "server_error", "too_many_connections");
  bhttp::response<bhttp::string_body> res{bhttp::status::service_unavailable, 11};
  res.set(bhttp::field::server, "kairos");
  res.set(bhttp::field::content_type, "application/json");
  res.set(bhttp::field::retry_after, "1");
  res.keep_alive(false);
  res.body() = body;
  res.prepare_payload();
  S->mx.count_http(503);
  boost::system::error_code ec;
  auto drain = [&](auto& stream) -> awaitable<void> {
    co_await bhttp::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    char scratch[4096];
    for (int i = 0; i < 64 && !ec; ++i)
      co_await stream.async_read_some(asio::buffer(scratch), asio::redirect_error(use_awaitable, ec));
  };
  if (S->ssl) {
    tls_stream stream(beast::tcp_stream(std::move(sock)), *S->ssl);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(use_awaitable, ec));
    if (!ec) co_await drain(stream);
  } else {
    beast::tcp_stream stream(std::move(sock));
    stream.expires_after(std::chrono::seconds(5));
    co_await bhttp::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    char scratch[4096];
    for (int i = 0; i < 64 && !ec; ++i)
      co_await stream.async_read_some(asio::buffer(scratch), asio::redirect_error(use_awaitable, ec));
  }
}

awaitable<void> listen(impl_ptr S) {
  for (;;) {
    tcp::socket sock(asio::make_strand(*S->ioc));
    boost::system::error_code ec;
    co_await S->acceptor->async_accept(sock, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (!S->acceptor->is_open() || S->stopping) co_return;
      if (ec == asio::error::no_descriptors) {
        // Out of file descriptors: accepting again at once would spin.
        S->log("accept: " + ec.message() + "; pausing 100 ms (raise RLIMIT_NOFILE or lower max_connections)");
        asio::steady_timer t(S->acceptor->get_executor(), std::chrono::milliseconds(100));
        co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
      }
      continue;
    }
    // Token frames are small writes: without TCP_NODELAY, Nagle holds each one
    // for the ACK of the last, up to 40 ms on loopback (measured by kairos bench).
    sock.set_option(tcp::no_delay(true), ec);
    auto ex = sock.get_executor();
    if (S->connections.load() >= S->opt.max_connections) {
      const uint64_t n = S->refused_total.fetch_add(1);
      if (n % 100 == 0)
        S->log("connection refused (503): " + std::to_string(S->opt.max_connections) + " connections open (the limit); " +
               std::to_string(n + 1) + " refused so far");
      if (S->refusing.fetch_add(1) < 64) {
        asio::co_spawn(ex, refuse(S, std::move(sock)), asio::detached);
      } else {  // a flood: no answer, just close
        --S->refusing;
        sock.close(ec);
      }
      continue;
    }
    ++S->connections;
    if (S->ssl) asio::co_spawn(ex, https_session(S, std::move(sock)), asio::detached);
    else asio::co_spawn(ex, http_session(S, std::move(sock)), asio::detached);
  }
}

awaitable<void> sampler(impl_ptr S) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  const auto every = std::chrono::milliseconds(std::max<int64_t>(10, int64_t(S->opt.stats_interval_s * 1e3)));
  for (;;) {
    S->take_sample();
    t.expires_after(every);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
    if (ec || S->stopping) co_return;
  }
}

// The TLS context from PEM files; each failure names the file and the reason.
result<std::unique_ptr<asio::ssl::context>> make_tls_context(const server_options& opt) {
  if (opt.tls_cert.empty() != opt.tls_key.empty())
    return make_error(opt.tls_cert.empty() ? "--tls-key needs --tls-cert too" : "--tls-cert needs --tls-key too");
  for (const auto& [flag, path] : {std::pair{"--tls-cert", &opt.tls_cert}, std::pair{"--tls-key", &opt.tls_key}}) {
    std::error_code fec;
    if (!std::filesystem::is_regular_file(*path, fec))
      return make_error(std::string(flag) + " " + *path + ": no such file");
  }
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                   asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  // The key first: loading a certificate that does not match it drops the key
  // quietly, and the check below then names the mismatch (the other order
  // reports it as a bad key file).
  boost::system::error_code ec;
  ctx->use_private_key_file(opt.tls_key, asio::ssl::context::pem, ec);
  if (ec) return make_error("--tls-key " + opt.tls_key + ": not a PEM private key (" + ec.message() + ")");
  ctx->use_certificate_chain_file(opt.tls_cert, ec);
  if (ec) return make_error("--tls-cert " + opt.tls_cert + ": not a PEM certificate (" + ec.message() + ")");
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    return make_error("--tls-key " + opt.tls_key + " does not match the certificate in --tls-cert " + opt.tls_cert);
  return ctx;
}

}  // namespace

server::server(std::shared_ptr<impl> p) : p_(std::move(p)) {}
server::~server() { stop(); }
uint16_t server::port() const { return p_->bound_port; }
bool server::tls() const { return p_->ssl.has_value(); }

result<std::unique_ptr<server>> server::start(Runtime& rt, const server_options& opt) {
  auto S = std::make_shared<impl>(rt, opt);
  auto fe = make_frontend(rt.config());
  if (!fe) return make_error(fe.message());
  S->fe = fe.value();
  S->fe->max_prompt_tokens = opt.max_prompt_tokens;
  if (!opt.tls_cert.empty() || !opt.tls_key.empty()) {
    auto ctx = make_tls_context(opt);
    if (!ctx) return make_error(ctx.message());
    S->ssl.emplace(std::move(*ctx.value()));
  }
  // Every connection is a descriptor; keep some for the runtime, model files and logs.
  if (const int64_t nofile = open_files_limit(); nofile > 0 && nofile < int64_t(S->opt.max_connections) + 64) {
    const int64_t fit = std::max<int64_t>(nofile - 64, 1);
    S->log("RLIMIT_NOFILE is " + std::to_string(nofile) + ": serving at most " + std::to_string(fit) +
           " connections instead of " + std::to_string(S->opt.max_connections) + " (raise it with ulimit -n)");
    S->opt.max_connections = int(fit);
  }
  try {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(opt.host, ec);
    if (ec) return make_error("--host " + opt.host + ": not an IP address");
    tcp::endpoint ep(addr, opt.port);
    S->acceptor->open(ep.protocol());
    S->acceptor->set_option(asio::socket_base::reuse_address(true));
    S->acceptor->bind(ep);
    S->acceptor->listen(asio::socket_base::max_listen_connections);
    S->bound_port = S->acceptor->local_endpoint().port();
  } catch (const boost::system::system_error& ex) {
    return make_error("cannot listen on " + opt.host + ":" + std::to_string(opt.port) + ": " + ex.code().message());
  }
  asio::co_spawn(*S->ioc, listen(S), asio::detached);
  asio::co_spawn(*S->ioc, sampler(S), asio::detached);
  const int n = std::max(1, opt.threads);
  for (int i = 0; i < n; ++i) S->threads.emplace_back([S] { S->ioc->run(); });
  return std::unique_ptr<server>(new server(S));
}

void server::stop() {
  auto& S = p_;
  if (!S || S->stopped.exchange(true)) return;
  S->stopping = true;
  asio::post(*S->ioc, [S = S] {
    boost::system::error_code ec;
    S->acceptor->close(ec);
  });
  auto live_count = [&] {
    std::lock_guard lk(S->live_mu);
    return S->live.size();
  };
  using clk = std::chrono::steady_clock;
  const auto until = clk::now() + std::chrono::milliseconds(int64_t(S->opt.shutdown_grace_s * 1e3));
  while (live_count() > 0 && clk::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (live_count() > 0) {
    S->log("shutdown: cancelling " + std::to_string(live_count()) + " requests still in flight");
    std::vector<std::shared_ptr<live_request>> rest;
    {
      std::lock_guard lk(S->live_mu);
      for (auto& [k, lr] : S->live) rest.push_back(lr);
    }
    for (auto& lr : rest) lr->cancel();
    const auto until2 = clk::now() + std::chrono::seconds(2);
    while (live_count() > 0 && clk::now() < until2) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the last frames go out
  S->ioc->stop();
  for (auto& t : S->threads)
    if (t.joinable()) t.join();
  S->threads.clear();
  {
    std::lock_guard lk(S->guard->mu);
    S->guard->alive = false;
  }
  // Destroying the io_context destroys the sessions' coroutines and closes their sockets.
  // A request whose callbacks still hold a queue (past both bounds) keeps it alive: leak it.
  if (live_count() == 0) {
    S->acceptor.reset();
    S->ioc.reset();
  }
  else {
    new std::optional<tcp::acceptor>(std::move(S->acceptor));  // leaked with its io_context
    new std::shared_ptr<asio::io_context>(std::move(S->ioc));
  }
}

}  // namespace kairos::http
