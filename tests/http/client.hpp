#pragma once
// Test clients for the serving front: a synchronous Beast HTTP client and a
// Beast WebSocket client, on loopback. Include from one test TU only (Beast is
// slow to compile).
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace kairos::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using headers_t = std::vector<std::pair<std::string, std::string>>;

struct http_reply {
  int status = 0;
  std::string body;
  std::string content_type;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

inline http_reply http_call(uint16_t port, bhttp::verb method, const std::string& target, const std::string& body = "",
                            const headers_t& headers = {}) {
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  bhttp::request<bhttp::string_body> req{method, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  req.set(bhttp::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  bhttp::write(sock, req);
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> p;
  p.body_limit(64 << 20);
  beast::error_code ec;
  bhttp::read(sock, buf, p, ec);
  http_reply r;
  // end_of_stream before a header: the server closed without answering.
  if ((ec && ec != bhttp::error::end_of_stream) || !p.is_header_done()) {
    r.status = -1;
    r.body = ec ? ec.message() : "connection closed without a response";
    return r;
  }
  r.status = int(p.get().result_int());
  r.body = p.get().body();
  r.content_type = std::string(p.get()[bhttp::field::content_type]);
  return r;
}

inline http_reply post(uint16_t port, const std::string& target, const std::string& body, const headers_t& h = {}) {
  return http_call(port, bhttp::verb::post, target, body, h);
}
inline http_reply get(uint16_t port, const std::string& target, const headers_t& h = {}) {
  return http_call(port, bhttp::verb::get, target, "", h);
}

// The `data:` payloads of an SSE body, in order.
inline std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    out.push_back(body.substr(pos + 6, end == std::string::npos ? std::string::npos : end - pos - 6));
    if (end == std::string::npos) break;
    pos = end + 2;
  }
  return out;
}

struct ws_client {
  asio::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};

  // Throws beast::system_error when the handshake is refused.
  void connect(uint16_t port, const std::string& bearer = "") {
    ws.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    if (!bearer.empty())
      ws.set_option(websocket::stream_base::decorator(
          [bearer](websocket::request_type& r) { r.set(bhttp::field::authorization, "Bearer " + bearer); }));
    ws.handshake("127.0.0.1", "/v1/stream");
    ws.text(true);
  }
  void send(const nlohmann::json& j) { ws.write(asio::buffer(j.dump())); }
  void send_raw(const std::string& s) { ws.write(asio::buffer(s)); }
  nlohmann::json read() {
    beast::flat_buffer b;
    ws.read(b);
    return nlohmann::json::parse(beast::buffers_to_string(b.data()));
  }
  void close() {
    beast::error_code ec;
    ws.close(websocket::close_code::normal, ec);
  }
};

}  // namespace kairos::test
