#pragma once
// What a model directory says about chat formatting: the chat template (from
// tokenizer_config.json's "chat_template", or a chat_template.jinja file
// beside it, as newer transformers save it) and the bos_token / eos_token
// strings the template may print. apply() renders a conversation with the
// variables transformers' apply_chat_template passes.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "gpu/base/result.hpp"
#include "gpu/tokenizer/chat_template.hpp"

namespace kairos {

struct chat_config {
  std::optional<chat_template> tmpl;           // none: the model has no template
  std::optional<chat_template> tool_use_tmpl;  // a named "tool_use" template, used when tools are given
  std::string template_error;                  // the template is present but does not parse
  std::string bos_token, eos_token;            // "" when absent or null

  bool has_template() const { return tmpl.has_value() || !template_error.empty(); }

  // Reads the chat settings of a tokenizer_config.json document; `source`
  // names it in messages. A template that does not parse is kept as
  // template_error (the model still loads; chat requests then fail).
  static result<chat_config> from_json_text(const std::string& text, const std::string& source);

  // The chat settings of a model directory: its tokenizer_config.json and
  // chat_template.jinja, either of which may be missing (an empty config).
  static result<chat_config> load_dir(const std::string& dir);

  // Renders `messages` with the variables transformers passes: bos_token and
  // eos_token (when set), add_generation_prompt, `tools` (None when null),
  // documents (None), and any `extra` variables (a JSON object, e.g. the
  // request's chat_template_kwargs such as enable_thinking).
  bool apply(const nlohmann::ordered_json& messages, bool add_generation_prompt, const nlohmann::ordered_json& tools,
             const nlohmann::ordered_json& extra, std::string& out, template_render_error& err) const;
};

}  // namespace kairos
