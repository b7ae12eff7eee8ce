// Reading tokenizer_config.json's chat settings and applying the template.
#include "gpu/tokenizer/chat_config.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kairos {

namespace {

// A special-token entry: a string, or an object with "content" (the
// AddedToken form older tokenizer_config.json files use).
std::string token_text(const nlohmann::json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  return "";
}

bool read_file(const std::filesystem::path& p, std::string& out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return static_cast<bool>(in) || in.eof();
}

// Parses one template into `slot`, or records why it does not parse.
void take_template(chat_config& c, const std::string& text, const std::string& source, std::optional<chat_template>& slot) {
  auto t = chat_template::parse(text);
  if (t) slot = std::move(t.value());
  else if (c.template_error.empty()) c.template_error = source + ": " + t.message();
}

}  // namespace

result<chat_config> chat_config::from_json_text(const std::string& text, const std::string& source) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) return make_error(source + ": not valid JSON");
  if (!doc.is_object()) return make_error(source + ": the top level is not a JSON object");
  chat_config c;
  c.bos_token = token_text(doc, "bos_token");
  c.eos_token = token_text(doc, "eos_token");
  auto it = doc.find("chat_template");
  if (it == doc.end() || it->is_null()) return c;
  if (it->is_string()) {
    take_template(c, it->get<std::string>(), source, c.tmpl);
    return c;
  }
  // [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
  if (!it->is_array()) return make_error(source + ": \"chat_template\" must be a string or a list of {name, template}");
  for (const auto& entry : *it) {
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() || !entry.contains("template") ||
        !entry["template"].is_string())
      return make_error(source + ": a \"chat_template\" entry must be {\"name\": string, \"template\": string}");
    const std::string name = entry["name"].get<std::string>();
    if (name == "default") take_template(c, entry["template"].get<std::string>(), source + " (default)", c.tmpl);
    else if (name == "tool_use")
      take_template(c, entry["template"].get<std::string>(), source + " (tool_use)", c.tool_use_tmpl);
  }
  if (!c.tmpl && c.tool_use_tmpl && c.template_error.empty()) {
    c.tmpl = c.tool_use_tmpl;  // only a tool_use template: use it for everything
  }
  return c;
}

result<chat_config> chat_config::load_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  chat_config c;
  const fs::path cfg = fs::path(dir) / "tokenizer_config.json";
  std::error_code ec;
  if (fs::is_regular_file(cfg, ec)) {
    std::string text;
    if (!read_file(cfg, text)) return make_error(cfg.string() + ": cannot read");
    auto r = from_json_text(text, cfg.string());
    if (!r) return r.err();
    c = std::move(r.value());
  }
  // transformers >= 4.43 may save the template as its own file; it wins.
  const fs::path jinja_file = fs::path(dir) / "chat_template.jinja";
  if (fs::is_regular_file(jinja_file, ec)) {
    std::string text;
    if (!read_file(jinja_file, text)) return make_error(jinja_file.string() + ": cannot read");
    c.tmpl.reset();
    c.template_error.clear();
    take_template(c, text, jinja_file.string(), c.tmpl);
  }
  return c;
}

bool chat_config::apply(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                        const nlohmann::ordered_json& tools, const nlohmann::ordered_json& extra, std::string& out,
                        template_render_error& err) const {
  if (!template_error.empty()) {
    err = {"the model's chat template cannot be used: " + template_error, false};
    return false;
  }
  if (!tmpl) {
    err = {"the model has no chat template", false};
    return false;
  }
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  if (extra.is_object())  // caller's variables override the special tokens
    for (const auto& [k, v] : extra.items()) ctx[k] = v;
  // As transformers' apply_chat_template: the special tokens that are set,
  // then the caller's variables, then messages / tools / documents /
  // add_generation_prompt (tools and documents are None when not given).
  if (!bos_token.empty() && !ctx.contains("bos_token")) ctx["bos_token"] = bos_token;
  if (!eos_token.empty() && !ctx.contains("eos_token")) ctx["eos_token"] = eos_token;
  ctx["messages"] = messages;
  ctx["tools"] = tools;
  ctx["documents"] = nullptr;
  ctx["add_generation_prompt"] = add_generation_prompt;
  const chat_template& t = (!tools.is_null() && tool_use_tmpl) ? *tool_use_tmpl : *tmpl;
  return t.render(ctx, out, err);
}

}  // namespace kairos
