// /v1/chat/completions applies the model's chat template: the prompt the
// runtime gets is exactly the tokens of the rendered template. First on the
// API layer (no sockets) with the real Qwen3 tokenizer and template, whose
// renders Jinja2 produced (tests/gpu/tokenizer/chat_template_vectors.json);
// then end to end over HTTP with a random-weight model directory whose
// tokenizer_config.json carries a ChatML template, as `kairos mkmodel` writes.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "actors/runtime.hpp"
#include "gpu/model/model_config.hpp"
#include "gpu/model/random_weights.hpp"
#include "gpu/tokenizer/synthetic_tokenizer.hpp"
#include "http/api.hpp"
#include "http/server.hpp"
#include "tests/http/client.hpp"

using namespace kairos;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct temp_dir {
  fs::path path;
  explicit temp_dir(const std::string& tag) {
    path = fs::temp_directory_path() / (tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

// Jinja2's render of a named vector case.
std::string jinja2_render(const std::string& name) {
  static const json v = json::parse(read_text(KAIROS_SOURCE_DIR "/tests/gpu/tokenizer/chat_template_vectors.json"));
  for (const auto& c : v["cases"])
    if (c["name"] == name) return c["expected"].get<std::string>();
  FAIL("no vector named " << name);
  return "";
}

// A model directory with Qwen3's tokenizer.json and tokenizer_config.json.
struct qwen3_dir : temp_dir {
  qwen3_dir() : temp_dir("kairos_chat_qwen3") {
    const fs::path src = fs::path(KAIROS_SHARED_DIR) / "tokenizers/qwen3";
    fs::create_symlink(src / "tokenizer.json", path / "tokenizer.json");
    fs::copy_file(src / "tokenizer_config.json", path / "tokenizer_config.json");
  }
};

std::shared_ptr<http::frontend> frontend_for(const fs::path& dir) {
  runtime_config cfg;
  cfg.model_path = dir.string();
  auto fe = http::make_frontend(cfg);
  REQUIRE_MESSAGE(fe.ok(), (fe.ok() ? "" : fe.message()));
  return fe.value();
}

}  // namespace

TEST_CASE("chat requests are tokenized from the model's template (Qwen3, API layer)") {
  qwen3_dir dir;
  auto fe = frontend_for(dir.path);
  REQUIRE(fe->chat.tmpl.has_value());

  auto check = [&](const json& body, const std::string& vector_name) {
    CAPTURE(vector_name);
    http::parsed_request out;
    auto e = fe->parse(body, http::endpoint::chat, out);
    REQUIRE_MESSAGE(!e, (e ? e->message : ""));
    const auto expected = fe->tokenizer.encode(jinja2_render(vector_name));
    CHECK(out.req.prompt == expected);
    CHECK(out.prompt_tokens == int32_t(expected.size()));
  };
  const json system_user = json::parse(R"([{"role": "system", "content": "You are a helpful assistant."},
                                           {"role": "user", "content": "What is the capital of France?"}])");
  check({{"messages", system_user}}, "qwen3 system+user");
  check({{"messages", system_user}, {"chat_template_kwargs", {{"enable_thinking", false}}}}, "qwen3 enable_thinking=false");
  check({{"messages", json::array({system_user[1]})}, {"add_generation_prompt", false}}, "qwen3 user, no generation prompt");
  // The "<|im_start|>" markers are single special tokens, as with vLLM.
  http::parsed_request out;
  REQUIRE_FALSE(fe->parse({{"messages", system_user}}, http::endpoint::chat, out));
  CHECK(out.req.prompt.front() == *fe->tokenizer.token_id("<|im_start|>"));

  // Tools reach the template. (The request JSON's keys arrive sorted, so
  // compare with this server's own render rather than Jinja2's.)
  const json tools = json::parse(R"([{"type": "function", "function": {"name": "now", "parameters": {}}}])");
  REQUIRE_FALSE(fe->parse({{"messages", system_user}, {"tools", tools}}, http::endpoint::chat, out));
  const std::string text = fe->tokenizer.decode(out.req.prompt);
  CHECK(text.find("# Tools") != std::string::npos);
  CHECK(text.find(R"({"function": {"name": "now", "parameters": {}}, "type": "function"})") != std::string::npos);

  // An assistant turn with tool calls and no content is accepted.
  const json calls = json::parse(R"([{"role": "user", "content": "time?"},
      {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "now", "arguments": "{}"}}]},
      {"role": "tool", "content": "12:00"}])");
  REQUIRE_FALSE(fe->parse({{"messages", calls}, {"tools", tools}}, http::endpoint::chat, out));
  CHECK(fe->tokenizer.decode(out.req.prompt).find("<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>") !=
        std::string::npos);

  // Bad tools / kwargs name the field.
  auto e = fe->parse({{"messages", system_user}, {"tools", "x"}}, http::endpoint::chat, out);
  REQUIRE(e);
  CHECK(e->param == "tools");
  e = fe->parse({{"messages", system_user}, {"chat_template_kwargs", 3}}, http::endpoint::chat, out);
  REQUIRE(e);
  CHECK(e->param == "chat_template_kwargs");
}

TEST_CASE("a template error is a 400 with the template's message; no template falls back") {
  temp_dir dir("kairos_chat_raise");
  std::ofstream(dir.path / "tokenizer.json") << make_synthetic_tokenizer_json(600);
  std::ofstream(dir.path / "tokenizer_config.json") << json{
      {"eos_token", "<|endoftext|>"},
      {"chat_template",
       "{% for m in messages %}{% if m.role == 'system' and not loop.first %}"
       "{{ raise_exception('System message must be first') }}{% endif %}{{ m.role }}|{{ m.content }}\n{% endfor %}"}}
                                                                       .dump();
  auto fe = frontend_for(dir.path);
  http::parsed_request out;
  auto e = fe->parse(json::parse(R"({"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]})"),
                     http::endpoint::chat, out);
  REQUIRE(e);
  CHECK(e->status == 400);
  CHECK(e->code == "chat_template_error");
  CHECK(e->message == "System message must be first");
  CHECK_FALSE(fe->parse(json::parse(R"({"messages": [{"role": "user", "content": "a"}]})"), http::endpoint::chat, out));
  CHECK(fe->tokenizer.decode(out.req.prompt) == "user|a\n");

  // A template that does not parse: the server starts, chat requests get
  // 400 naming the file, line and column.
  std::ofstream(dir.path / "tokenizer_config.json") << R"({"chat_template": "{{ messages | nosuch }}"})";
  fe = frontend_for(dir.path);
  e = fe->parse(json::parse(R"({"messages": [{"role": "user", "content": "a"}]})"), http::endpoint::chat, out);
  REQUIRE(e);
  CHECK(e->status == 400);
  CHECK(e->message.find("tokenizer_config.json") != std::string::npos);
  CHECK(e->message.find("line 1, column 15: unknown filter 'nosuch'") != std::string::npos);

  // No template: the plain "role: content" format, as before.
  fs::remove(dir.path / "tokenizer_config.json");
  fe = frontend_for(dir.path);
  CHECK_FALSE(fe->chat.has_template());
  REQUIRE_FALSE(fe->parse(json::parse(R"({"messages": [{"role": "user", "content": "a"}]})"), http::endpoint::chat, out));
  CHECK(fe->tokenizer.decode(out.req.prompt) == "user: a\nassistant:");
}

TEST_CASE("over HTTP: usage.prompt_tokens is the token count of the rendered template") {
  temp_dir dir("kairos_chat_http");
  auto shape = named_shape("tiny");
  REQUIRE(shape.ok());
  REQUIRE(write_random_model(dir.path.string(), *shape, dtype::f32, 5).ok());
  // The ChatML template `kairos mkmodel` writes.
  const std::string chatml =
      "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
      "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
  std::ofstream(dir.path / "tokenizer.json") << make_synthetic_tokenizer_json(shape->vocab_size);
  std::ofstream(dir.path / "tokenizer_config.json")
      << json{{"bos_token", "<|endoftext|>"}, {"eos_token", "<|endoftext|>"}, {"chat_template", chatml}}.dump();

  auto cfg = load_runtime_config(std::string(KAIROS_SOURCE_DIR) + "/configs/default.yaml");
  REQUIRE(cfg.ok());
  cfg.value().model_path = dir.path.string();
  auto rt = Runtime::create(cfg.value());
  REQUIRE_MESSAGE(rt.ok(), (rt.ok() ? "" : rt.message()));
  http::server_options o;
  o.port = 0;
  o.log = [](const std::string&) {};
  auto srv = http::server::start(*rt.value(), o);
  REQUIRE_MESSAGE(srv.ok(), (srv.ok() ? "" : srv.message()));

  const std::string rendered = jinja2_render("mkmodel chatml");
  const auto tok = bpe_tokenizer::load((dir.path / "tokenizer.json").string());
  REQUIRE(tok.ok());
  const json body = {{"messages", json::parse(R"([{"role": "system", "content": "Be brief."},
      {"role": "user", "content": "What is 2+2?"},
      {"role": "assistant", "content": "<think>\nSimple arithmetic: 2+2=4.\n</think>\n\n4"}])")},
                     {"max_tokens", 2},
                     {"ignore_eos", true}};
  auto r = test::post(srv.value()->port(), "/v1/chat/completions", body.dump());
  CHECK(r.status == 200);
  CHECK(r.json()["usage"]["prompt_tokens"] == tok->encode(rendered).size());

  auto bad = test::post(srv.value()->port(), "/v1/chat/completions",
                        R"({"messages": [{"role": "user", "content": "x"}], "add_generation_prompt": "yes"})");
  CHECK(bad.status == 400);
  srv.value()->stop();
  rt.value()->shutdown();
}
