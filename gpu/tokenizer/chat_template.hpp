#pragma once
// A model's chat template: the Jinja2 program in tokenizer_config.json that
// turns a list of chat messages into the prompt text, rendered the way
// transformers' apply_chat_template renders it (trim_blocks, lstrip_blocks,
// loop controls, json.dumps-style tojson, raise_exception) so that the
// prompt and its tokens match what vLLM would produce.
//
// Supported: {{ }}, {% if/elif/else %}, {% for %} (loop.*, else, inline if,
// tuple targets), {% set %} (namespace attributes and blocks), {% macro %},
// {% break/continue %}, {% generation %}, comments and whitespace control;
// Python-like expressions with the filters, tests and str/dict methods
// listed in jinja_builtins.cpp. Not supported: template inheritance and
// includes, call blocks, recursive loops, the Python string % operator.
//
// Thread-safe to render from several threads (the parsed program is
// immutable and shared between copies).
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "gpu/base/result.hpp"

namespace kairos {

namespace jinja {
struct node;
}

struct chat_template_options {
  bool trim_blocks = true;  // transformers' apply_chat_template environment
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;  // Jinja's default
};

// A render failure: the message, and whether the template itself raised it
// with raise_exception() (then `message` is the template's text alone,
// meant for the client; otherwise it names the line and column).
struct template_render_error {
  std::string message;
  bool raised = false;
};

class chat_template {
 public:
  // Errors name the line and column: "line 3, column 5: unknown filter 'x'".
  static result<chat_template> parse(std::string_view source, const chat_template_options& opts = {});

  // Renders with `context` (a JSON object: messages, add_generation_prompt,
  // bos_token, ...). ordered_json keeps the key order of objects, which
  // tojson shows, as a Python dict does.
  result<std::string> render(const nlohmann::ordered_json& context) const;
  // The same, telling a template's raise_exception() apart.
  bool render(const nlohmann::ordered_json& context, std::string& out, template_render_error& err) const;

  const std::string& source() const;

 private:
  struct program;
  explicit chat_template(std::shared_ptr<const program> p) : p_(std::move(p)) {}
  std::shared_ptr<const program> p_;
};

}  // namespace kairos
