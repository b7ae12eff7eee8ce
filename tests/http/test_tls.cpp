// TLS: the server with a self-signed certificate made by the openssl CLI,
// driven by curl over HTTPS (plain and SSE) and by a Beast WSS client that
// verifies the certificate. Bad certificate/key files fail start() with a
// message naming the file. Skipped (77) without openssl or curl.
#include <doctest/doctest.h>

#include "tests/support/serve_process.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "actors/runtime.hpp"
#include "http/server.hpp"
#include "tests/http/client.hpp"

using namespace kairos;
using namespace kairos::test;
using nlohmann::json;
namespace fs = std::filesystem;
namespace ssl = boost::asio::ssl;

using kairos::test::run_shell;

namespace {
struct tls_files {
  fs::path dir, cert, key, other_key;
  tls_files() {
    if (std::system("openssl version >/dev/null 2>&1") != 0 || std::system("curl --version >/dev/null 2>&1") != 0) {
      std::fprintf(stderr, "skipped: needs the openssl and curl commands\n");
      std::exit(77);
    }
    char tmpl[] = "/tmp/kairos-tls-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    cert = dir / "cert.pem";
    key = dir / "key.pem";
    other_key = dir / "other.pem";
    const std::string gen = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
                            "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " + key.string() +
                            " -out " + cert.string() + " 2>/dev/null";
    REQUIRE(std::system(gen.c_str()) == 0);
    REQUIRE(std::system(("openssl genrsa -out " + other_key.string() + " 2048 2>/dev/null").c_str()) == 0);
  }
  ~tls_files() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

std::unique_ptr<Runtime> make_runtime() {
  auto cfg = load_runtime_config(std::string(KAIROS_SOURCE_DIR) + "/configs/default.yaml");
  REQUIRE(cfg.ok());
  auto r = Runtime::create(cfg.value());
  REQUIRE(r.ok());
  return std::move(r.value());
}

http::server_options tls_options(const tls_files& t) {
  http::server_options o;
  o.port = 0;
  o.tls_cert = t.cert.string();
  o.tls_key = t.key.string();
  o.log = [](const std::string&) {};
  return o;
}

}  // namespace

TEST_CASE("HTTPS with curl, WSS with a verifying client; plain HTTP to the TLS port does no harm") {
  tls_files t;
  auto rt = make_runtime();
  auto s = http::server::start(*rt, tls_options(t));
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.message()));
  auto& srv = *s.value();
  CHECK(srv.tls());
  const std::string base = "https://127.0.0.1:" + std::to_string(srv.port());

  CHECK(run_shell("curl -sk " + base + "/health").find("\"ok\"") != std::string::npos);
  // --cacert: the certificate really is the one served, for 127.0.0.1.
  CHECK(run_shell("curl -s --cacert " + t.cert.string() + " " + base + "/health").find("\"ok\"") != std::string::npos);
  const std::string body = R"('{"prompt": "Hello", "max_tokens": 6, "ignore_eos": true)";
  CHECK(run_shell("curl -sk -d " + body + "}' " + base + "/v1/completions").find("\"completion_tokens\":6") != std::string::npos);
  const std::string sse = run_shell("curl -skN -d " + body + R"(, "stream": true}' )" + base + "/v1/completions");
  REQUIRE(sse.size() > 14);
  CHECK(sse.substr(sse.size() - 14) == "data: [DONE]\n\n");
  CHECK(run_shell("curl -sk " + base + "/").find("<title>Kairos dashboard</title>") != std::string::npos);

  // Plain HTTP to the TLS port: the handshake fails, the server keeps serving.
  CHECK(get(srv.port(), "/health").status != 200);

  // WSS, verifying the certificate against the file and the host name.
  asio::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(t.cert.string());
  ctx.set_verify_mode(ssl::verify_peer);
  websocket::stream<beast::ssl_stream<tcp::socket>> ws(ioc, ctx);
  beast::get_lowest_layer(ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), srv.port()));
  ws.next_layer().set_verify_callback(ssl::host_name_verification("127.0.0.1"));
  ws.next_layer().handshake(ssl::stream_base::client);
  ws.handshake("127.0.0.1", "/v1/stream");
  ws.text(true);
  ws.write(asio::buffer(json{{"id", "t"}, {"prompt", "Hi"}, {"max_tokens", 5}, {"ignore_eos", true}}.dump()));
  int tokens = 0;
  json done;
  while (done.is_null()) {
    beast::flat_buffer b;
    ws.read(b);
    json m = json::parse(beast::buffers_to_string(b.data()));
    if (m["type"] == "token") ++tokens;
    if (m["type"] == "done") done = m;
  }
  CHECK(tokens == 5);
  CHECK(done["status"] == "finished");
  ws.close(websocket::close_code::normal);

  CHECK(run_shell("curl -sk " + base + "/health").find("\"ok\"") != std::string::npos);
  srv.stop();
  rt->shutdown();
}

TEST_CASE("bad certificate or key files fail start() with a message naming the file") {
  tls_files t;
  auto rt = make_runtime();
  auto start_with = [&](const std::string& cert, const std::string& key) {
    auto o = tls_options(t);
    o.tls_cert = cert;
    o.tls_key = key;
    auto s = http::server::start(*rt, o);
    REQUIRE_FALSE(s.ok());
    return s.message();
  };
  const std::string missing = (t.dir / "nope.pem").string();
  std::string m = start_with(missing, t.key.string());
  CHECK(m.find("--tls-cert " + missing + ": no such file") != std::string::npos);
  m = start_with(t.cert.string(), missing);
  CHECK(m.find("--tls-key " + missing) != std::string::npos);
  const fs::path junk = t.dir / "junk.pem";
  std::ofstream(junk) << "not a certificate\n";
  m = start_with(junk.string(), t.key.string());
  CHECK(m.find("--tls-cert " + junk.string() + ": not a PEM certificate") != std::string::npos);
  m = start_with(t.cert.string(), junk.string());
  CHECK(m.find("--tls-key " + junk.string() + ": not a PEM private key") != std::string::npos);
  m = start_with(t.cert.string(), t.other_key.string());
  CHECK(m.find("does not match the certificate") != std::string::npos);
  m = start_with(t.cert.string(), "");
  CHECK(m.find("--tls-cert needs --tls-key") != std::string::npos);
  rt->shutdown();
}
