// The chat template renderer against real Jinja2: every case in
// chat_template_vectors.json (written by make_chat_template_vectors.py with
// jinja2 3.1, in transformers' environment) must render byte for byte the
// same. Then the errors a bad template or a raising template gives, and the
// tokenizer_config.json loader.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gpu/tokenizer/chat_config.hpp"
#include "gpu/tokenizer/chat_template.hpp"
#include "gpu/tokenizer/jinja_value.hpp"

using namespace kairos;
using ojson = nlohmann::ordered_json;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const ojson& vectors() {
  static const ojson v = ojson::parse(read_text(KAIROS_SOURCE_DIR "/tests/gpu/tokenizer/chat_template_vectors.json"));
  return v;
}

std::string template_of(const ojson& c) {
  if (c.contains("template")) return c["template"].get<std::string>();
  const auto cfg = ojson::parse(read_text(std::string(KAIROS_SHARED_DIR) + "/" + c["template_file"].get<std::string>()));
  return cfg["chat_template"].get<std::string>();
}

// Renders `src` with `ctx` (a JSON object text); "ERROR: ..." on failure.
std::string render(const std::string& src, const std::string& ctx = "{}") {
  auto t = chat_template::parse(src);
  if (!t) return "ERROR: " + t.message();
  auto r = t->render(ojson::parse(ctx));
  return r ? r.value() : "ERROR: " + r.message();
}

}  // namespace

TEST_CASE("every vector renders exactly as Jinja2 did") {
  const auto& cases = vectors()["cases"];
  REQUIRE(cases.size() >= 50);
  int qwen3 = 0;
  for (const auto& c : cases) {
    const std::string name = c["name"].get<std::string>();
    CAPTURE(name);
    chat_template_options o;
    if (c.contains("options")) {
      o.trim_blocks = c["options"].value("trim_blocks", true);
      o.lstrip_blocks = c["options"].value("lstrip_blocks", true);
    }
    auto t = chat_template::parse(template_of(c), o);
    REQUIRE_MESSAGE(t.ok(), (t.ok() ? "" : t.message()));
    std::string out;
    template_render_error err;
    const bool ok = t->render(c["context"], out, err);
    if (c.contains("expected")) {
      REQUIRE_MESSAGE(ok, err.message);
      CHECK(out == c["expected"].get<std::string>());
    } else {
      REQUIRE_FALSE(ok);
      CHECK(err.raised);
      CHECK(err.message == c["error"].get<std::string>());
    }
    if (c.contains("template_file")) ++qwen3;
  }
  CHECK(qwen3 >= 8);
}

TEST_CASE("the Qwen3 tokenizer_config.json loads with its template and EOS") {
  auto c = chat_config::from_json_text(read_text(std::string(KAIROS_SHARED_DIR) + "/tokenizers/qwen3/tokenizer_config.json"),
                                       "qwen3");
  REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.message()));
  CHECK(c->tmpl.has_value());
  CHECK(c->template_error.empty());
  CHECK(c->eos_token == "<|im_end|>");
  CHECK(c->bos_token.empty());  // null in the file
  std::string out;
  template_render_error err;
  const ojson msgs = ojson::parse(R"([{"role": "user", "content": "hi"}])");
  REQUIRE(c->apply(msgs, true, nullptr, ojson::object(), out, err));
  CHECK(out == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  // chat_template_kwargs reach the template.
  REQUIRE(c->apply(msgs, true, nullptr, ojson::parse(R"({"enable_thinking": false})"), out, err));
  CHECK(out == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST_CASE("tokenizer_config.json: token objects, named templates, bad input") {
  auto c = chat_config::from_json_text(
      R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
          "chat_template": [{"name": "default", "template": "D{{ bos_token }}"},
                            {"name": "tool_use", "template": "T{{ tools | length }}"}]})",
      "cfg");
  REQUIRE(c.ok());
  CHECK(c->bos_token == "<s>");
  CHECK(c->eos_token == "</s>");
  std::string out;
  template_render_error err;
  REQUIRE(c->apply(ojson::array(), true, nullptr, ojson::object(), out, err));
  CHECK(out == "D<s>");
  REQUIRE(c->apply(ojson::array(), true, ojson::parse("[1, 2]"), ojson::object(), out, err));
  CHECK(out == "T2");

  auto none = chat_config::from_json_text(R"({"eos_token": "x"})", "cfg");
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_template());
  CHECK_FALSE(none->apply(ojson::array(), true, nullptr, ojson::object(), out, err));

  // A template that does not parse: the config loads, applying it fails
  // with the reason and the place.
  auto broken = chat_config::from_json_text(R"({"chat_template": "{% for m in messages %}x"})", "tc.json");
  REQUIRE(broken.ok());
  CHECK(broken->has_template());
  CHECK_FALSE(broken->apply(ojson::array(), true, nullptr, ojson::object(), out, err));
  CHECK(err.message.find("tc.json") != std::string::npos);
  CHECK(err.message.find("'for' is never closed") != std::string::npos);

  CHECK_FALSE(chat_config::from_json_text("{not json", "tc.json").ok());
  CHECK_FALSE(chat_config::from_json_text(R"({"chat_template": 5})", "tc.json").ok());
}

TEST_CASE("a model directory: chat_template.jinja wins over tokenizer_config.json") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("kairos_chat_cfg_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer_config.json") << R"({"eos_token": "<e>", "chat_template": "from config"})";
  auto a = chat_config::load_dir(dir.string());
  REQUIRE(a.ok());
  std::string out;
  template_render_error err;
  REQUIRE(a->apply(ojson::array(), false, nullptr, ojson::object(), out, err));
  CHECK(out == "from config");
  std::ofstream(dir / "chat_template.jinja") << "from file {{ eos_token }}\n";
  auto b = chat_config::load_dir(dir.string());
  REQUIRE(b.ok());
  REQUIRE(b->apply(ojson::array(), false, nullptr, ojson::object(), out, err));
  CHECK(out == "from file <e>");  // and the trailing newline is dropped, as Jinja does
  fs::remove_all(dir);
  auto empty = chat_config::load_dir(dir.string());  // no files: no template, no error
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->has_template());
}

TEST_CASE("syntax errors name what and where") {
  struct bad {
    const char* src;
    const char* what;
  };
  const bad cases[] = {
      {"ab\n  {{ x ", "line 2, column 3: unterminated tag: '{{' is never closed by '}}'"},
      {"{% if x %}", "line 1, column 1: 'if' is never closed (expected 'elif' before the end"},
      {"x{% for a in b %}{% endif %}", "line 1, column 18: unexpected 'endif' inside 'for'"},
      {"{% endfor %}", "unexpected 'endfor' (no block is open)"},
      {"\n\n{{ x | nosuchfilter }}", "line 3, column 8: unknown filter 'nosuchfilter'"},
      {"{{ x is nosuchtest }}", "line 1, column 9: unknown test 'nosuchtest'"},
      {"{% frobnicate %}", "line 1, column 1: unknown tag 'frobnicate'"},
      {"{# never closed", "unterminated comment"},
      {"{{ 'abc }}", "line 1, column 4: unterminated string literal"},
      {"{{ }}", "empty '{{ }}'"},
      {"{{ a + }}", "line 1, column 8: expected an expression, got '}}'"},
      {"{{ a $ b }}", "unexpected character '$'"},
      {"{% set x = 1 }}", "'}}' closes a '{%' tag"},
      {"{{ f(a=1, 2) }}", "a positional argument follows a keyword argument"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.src);
    auto t = chat_template::parse(c.src);
    REQUIRE_FALSE(t.ok());
    CHECK_MESSAGE(t.message().find(c.what) != std::string::npos, t.message());
    CHECK(t.message().rfind("chat template syntax error", 0) == 0);
  }
}

TEST_CASE("render errors name what and where; raise_exception gives the template's text") {
  CHECK(render("{{ raise_exception('Conversation roles must alternate') }}") ==
        "ERROR: Conversation roles must alternate");
  auto t = chat_template::parse("{% if messages | length == 0 %}{{ raise_exception('no messages') }}{% endif %}ok");
  REQUIRE(t.ok());
  std::string out;
  template_render_error err;
  CHECK_FALSE(t->render(ojson::parse(R"({"messages": []})"), out, err));
  CHECK(err.raised);
  CHECK(err.message == "no messages");
  CHECK(t->render(ojson::parse(R"({"messages": [1]})"), out, err));
  CHECK(out == "ok");

  const std::string e1 = render("a\n{{ messages[0].content.upper() }}", R"({})");
  CHECK(e1.find("line 2, column") != std::string::npos);
  CHECK(e1.find("'messages' is undefined") != std::string::npos);
  CHECK(render("{{ 'a' + 1 }}").find("unsupported operand type(s) for +: 'str' and 'int'") != std::string::npos);
  CHECK(render("{{ 1 / 0 }}").find("division by zero") != std::string::npos);
  CHECK(render("{{ 'x'.nomethod() }}").find("'str' object has no method 'nomethod'") != std::string::npos);
  CHECK(render("{% set x = 1 %}{% set x.a = 2 %}").find("only namespace() objects take attributes") != std::string::npos);
  CHECK(render("{% for x in 5 %}{% endfor %}").find("'int' object is not iterable") != std::string::npos);
  CHECK(render("{{ undefined_fn() }}").find("'undefined_fn' is undefined") != std::string::npos);
  // Not a template error: only the template's own raise is marked raised.
  auto u = chat_template::parse("{{ 1 // 0 }}");
  REQUIRE(u.ok());
  CHECK_FALSE(u->render(ojson::object(), out, err));
  CHECK_FALSE(err.raised);
}

TEST_CASE("constructs Jinja2's test vectors cannot show") {
  // {% generation %} (transformers' assistant-mask tag) renders its body.
  CHECK(render("{% for m in ['a', 'b'] %}{% generation %}{{ m }}{% endgeneration %}{% endfor %}") == "ab");
  // Line endings normalise to \n, as Jinja's lexer does.
  CHECK(render("a\r\nb\rc\r\n") == "a\nb\nc");
  // A "}}" inside a dict literal does not end the tag.
  CHECK(render("{{ {'a': {'b': 1}}['a']['b'] }}") == "1");
  // Shared references: a namespace updated inside a macro.
  CHECK(render("{% set ns = namespace(n=0) %}{% macro bump() %}{% set ns.n = ns.n + 1 %}{% endmacro %}"
               "{{ bump() }}{{ bump() }}{{ ns.n }}") == "2");
  // Recursion is bounded, not a crash.
  CHECK(render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").find("recurses too deeply") != std::string::npos);
  // Rendering from several copies of one template shares the parsed program.
  auto t = chat_template::parse("{{ x }}");
  REQUIRE(t.ok());
  chat_template copy = t.value();
  CHECK(copy.render(ojson::parse(R"({"x": 5})")).value() == "5");
  CHECK(copy.source() == "{{ x }}");
}

TEST_CASE("Python float repr and json.dumps details") {
  using jinja::float_repr;
  CHECK(float_repr(0.1) == "0.1");
  CHECK(float_repr(1e16) == "1e+16");
  CHECK(float_repr(1e-5) == "1e-05");
  CHECK(float_repr(123456789.0) == "123456789.0");
  CHECK(float_repr(-2.5e-4) == "-0.00025");
  CHECK(float_repr(1.5e300) == "1.5e+300");
  CHECK(float_repr(-0.0) == "-0.0");
  CHECK(float_repr(9999999999999998.0) == "9999999999999998.0");
  const auto v = jinja::value::from_json(ojson::parse(R"({"z": "\u0001é😀", "a": [1e100]})"));
  CHECK(jinja::to_json(v) == "{\"z\": \"\\u0001é😀\", \"a\": [1e+100]}");
  jinja::json_dump_options ascii;
  ascii.ensure_ascii = true;
  CHECK(jinja::to_json(v, ascii) == "{\"z\": \"\\u0001\\u00e9\\ud83d\\ude00\", \"a\": [1e+100]}");
}
