// `kairos bench`'s OpenAI HTTP/SSE client against a fake server (plain POSIX
// sockets) that streams a known token timeline, or fails in known ways: the
// computed metrics must match the timeline, and every failure must be counted
// with its reason, never crash the bench.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <atomic>
#include <cmath>
#include <chrono>
#include <cstring>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "tools/bench/bench_client.hpp"

using namespace kairos::bench;
using namespace std::chrono;
using doctest::Approx;

namespace {

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

std::string chunked(const std::string& s) {
  char len[32];
  std::snprintf(len, sizeof len, "%zx\r\n", s.size());
  return len + s + "\r\n";
}

// What the fake server does is chosen by the request's max_tokens:
//   5: 200, SSE: first token 100 ms after the request, then one every 20 ms
//      (5 tokens), a usage chunk, [DONE]
//   6: 500 with an OpenAI error body
//   7: two tokens, then the connection drops in the middle of the chunked body
//   8: one token, then an error event
//   9: one token, then nothing (the client's timeout must end it)
class fake_openai_server {
 public:
  fake_openai_server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 64) == 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] {
      for (;;) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;  // closed
        workers_.emplace_back([this, c] { serve(c); });
      }
    });
  }
  ~fake_openai_server() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    acceptor_.join();
    for (auto& w : workers_) w.join();
  }
  uint16_t port() const { return port_; }
  std::atomic<int> requests{0};
  std::string last_body;

 private:
  void serve(int c) {
    std::string in;
    char buf[4096];
    size_t body_at = std::string::npos, length = 0;
    while (body_at == std::string::npos || in.size() < body_at + length) {
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) {
        ::close(c);
        return;
      }
      in.append(buf, size_t(n));
      if (body_at == std::string::npos && (body_at = in.find("\r\n\r\n")) != std::string::npos) {
        body_at += 4;
        const auto cl = in.find("Content-Length: ");
        length = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16));
      }
    }
    const auto t0 = steady_clock::now();
    ++requests;
    const std::string body = in.substr(body_at);
    const int mode = std::stoi(body.substr(body.find("\"max_tokens\":") + 13));
    if (mode == 5) last_body = body;
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
    auto token = [](int k) {
      return chunked("data: {\"choices\":[{\"index\":0,\"text\":\"t" + std::to_string(k) + "\",\"finish_reason\":null}]}\n\n");
    };
    if (mode == 5) {
      send_all(c, head);
      for (int k = 0; k < 5; ++k) {
        std::this_thread::sleep_until(t0 + milliseconds(100 + 20 * k));
        send_all(c, token(k));
      }
      send_all(c, chunked("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5}}\n\n") +
                      chunked("data: [DONE]\n\n") + "0\r\n\r\n");
    } else if (mode == 6) {
      const std::string err = R"({"error": {"message": "boom", "type": "server_error"}})";
      send_all(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: " +
                      std::to_string(err.size()) + "\r\n\r\n" + err);
    } else if (mode == 7) {
      send_all(c, head + token(0) + token(1));
      std::this_thread::sleep_for(milliseconds(20));
    } else if (mode == 8) {
      send_all(c, head + token(0) + chunked("data: {\"error\": {\"message\": \"engine died\"}}\n\n"));
      std::this_thread::sleep_for(milliseconds(50));
    } else if (mode == 9) {
      send_all(c, head + token(0));
      char x;
      ::recv(c, &x, 1, 0);  // until the client gives up
    }
    ::close(c);
  }
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> workers_;
};

client_options openai_to(uint16_t port) {
  client_options o;
  o.kind = backend::openai;
  o.url.host = "127.0.0.1";
  o.url.port = port;
  o.url.path = "/v1/completions";
  return o;
}

bench_request req(int64_t i, double at, int32_t max_tokens) {
  bench_request r;
  r.index = i;
  r.send_at_s = at;
  r.input_tokens = 12;
  r.max_tokens = max_tokens;
  r.slo = {0.5, 0.05};
  return r;
}

}  // namespace

TEST_CASE("a known SSE timeline gives its TTFT, TPOT, ITL and E2EL") {
  fake_openai_server srv;
  std::vector<bench_request> reqs;
  for (int i = 0; i < 4; ++i) reqs.push_back(req(i, 0.05 * i, 5));
  int64_t progress_calls = 0;
  auto recs = run_bench(openai_to(srv.port()), reqs, [&](const progress&) { ++progress_calls; });
  CHECK(srv.requests == 4);
  CHECK(progress_calls > 0);
  REQUIRE(recs.size() == 4);
  for (const auto& r : recs) {
    INFO(r.error);
    CHECK(r.ok);
    CHECK(r.chunks.size() == 5);
    CHECK(r.usage_completion_tokens == 5);
    CHECK(r.usage_prompt_tokens == 12);
    // Sent at its time (the dispatcher's timer), within scheduling noise.
    CHECK(std::abs(r.send_s - 0.05 * double(r.index)) < 0.03);
  }
  // The request body: the prompt as 12 token ids, ignore_eos, streaming.
  CHECK(srv.last_body.find("\"ignore_eos\":true") != std::string::npos);
  CHECK(srv.last_body.find("\"stream\":true") != std::string::npos);
  const auto s = summarize_bench(recs, goodput_slo{});
  CHECK(s.n_completed == 4);
  CHECK(s.total_output_tokens == 20);
  // Timeline: TTFT 100 ms, then 4 gaps of 20 ms: TPOT 20 ms, E2EL 180 ms.
  // Loopback and a loaded machine add a little; sleeps never end early.
  CHECK(s.ttft.median_ms >= 99);
  CHECK(s.ttft.median_ms < 100 + 25);
  CHECK(s.tpot.median_ms == Approx(20).epsilon(0.25));
  CHECK(s.itl.n == 16);
  CHECK(s.itl.median_ms == Approx(20).epsilon(0.25));
  CHECK(s.e2el.median_ms >= 179);
  CHECK(s.e2el.median_ms < 180 + 25);
  // One request's recorded timeline equals its own metrics.
  const auto& r0 = recs[0];
  CHECK(r0.ttft() == Approx(r0.chunks[0].recv_s - r0.send_s));
  CHECK(r0.tpot() == Approx((r0.e2el() - r0.ttft()) / 4));
  // All four overlap (each lasts 180 ms, sent 50 ms apart).
  CHECK(s.peak_concurrency == 4);
}

TEST_CASE("errors, dropped connections and hangs are failed requests with their reasons") {
  fake_openai_server srv;
  std::vector<bench_request> reqs{req(0, 0, 5), req(1, 0, 6), req(2, 0, 7), req(3, 0, 8), req(4, 0, 9)};
  auto opt = openai_to(srv.port());
  opt.request_timeout_s = 0.5;
  auto recs = run_bench(opt, reqs);
  REQUIRE(recs.size() == 5);
  CHECK(recs[0].ok);
  CHECK_FALSE(recs[1].ok);
  CHECK(recs[1].error == "HTTP 500: boom");
  CHECK_FALSE(recs[2].ok);
  CHECK(recs[2].chunks.size() == 2);  // the tokens before the drop are kept
  CHECK(recs[2].error.find("stream broken") == 0);
  CHECK_FALSE(recs[3].ok);
  CHECK(recs[3].error == "error event: engine died");
  CHECK_FALSE(recs[4].ok);
  CHECK(recs[4].error == "timed out");
  CHECK(recs[4].e2el() >= 0.5);
  const auto s = summarize_bench(recs, goodput_slo{});
  CHECK(s.n_completed == 1);
  CHECK(s.n_failed == 4);
  CHECK(s.errors.size() == 4);
  CHECK(s.joint_attainment == Approx(0.2));  // failures miss every SLO
}

TEST_CASE("a server that is not there: every request fails with the reason") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const uint16_t port = ntohs(a.sin_port);
  ::close(fd);  // bound, never listened: connections are refused
  for (auto kind : {backend::openai, backend::ws}) {
    auto opt = openai_to(port);
    opt.kind = kind;
    auto recs = run_bench(opt, std::vector<bench_request>{req(0, 0, 5), req(1, 0.01, 5)});
    const auto s = summarize_bench(recs, goodput_slo{});
    CHECK(s.n_failed == 2);
    REQUIRE(s.errors.size() == 1);
    CHECK(s.errors.begin()->first.find("refused") != std::string::npos);
  }
}

TEST_CASE("--url parsing") {
  endpoint_url u;
  std::string err;
  REQUIRE(parse_url("http://127.0.0.1:8080", backend::ws, u, err));
  CHECK(u.host == "127.0.0.1");
  CHECK(u.port == 8080);
  CHECK(u.path == "/v1/stream");
  REQUIRE(parse_url("http://localhost:9000/v1/chat/completions", backend::openai, u, err));
  CHECK(u.path == "/v1/chat/completions");
  REQUIRE(parse_url("ws://h", backend::openai, u, err));
  CHECK(u.port == 80);
  CHECK(u.path == "/v1/completions");
  CHECK_FALSE(parse_url("127.0.0.1:8080", backend::ws, u, err));
  CHECK(err.find("http://") != std::string::npos);
  CHECK_FALSE(parse_url("http://h:99999", backend::ws, u, err));
  CHECK(err.find("port") != std::string::npos);
}
