// chat_template: the lexer, parser and evaluator behind one interface that
// returns results (no exception leaves it).
#include "gpu/tokenizer/chat_template.hpp"

#include "gpu/tokenizer/jinja_ast.hpp"
#include "gpu/tokenizer/jinja_error.hpp"
#include "gpu/tokenizer/jinja_eval.hpp"
#include "gpu/tokenizer/jinja_lexer.hpp"
#include "gpu/tokenizer/jinja_parser.hpp"

namespace kairos {

struct chat_template::program {
  std::string source;  // normalised (see jinja_lexer.hpp); error positions refer to it
  jinja::body tree;
};

namespace {

std::string where(const std::string& source, std::size_t pos) {
  if (pos == jinja::no_position) return "";
  const auto [line, col] = jinja::line_column(source, pos);
  return "line " + std::to_string(line) + ", column " + std::to_string(col) + ": ";
}

}  // namespace

result<chat_template> chat_template::parse(std::string_view source, const chat_template_options& opts) {
  jinja::lexed_template lexed;
  try {
    lexed = jinja::lex(source, {opts.trim_blocks, opts.lstrip_blocks, opts.keep_trailing_newline});
    auto p = std::make_shared<program>();
    p->tree = jinja::parse(lexed);
    p->source = std::move(lexed.source);
    return chat_template(std::move(p));
  } catch (const jinja::template_error& e) {
    const std::string src = jinja::normalise_source(source, opts.keep_trailing_newline);
    return make_error("chat template syntax error at " + where(src, e.pos) + e.what());
  } catch (const std::exception& e) {
    return make_error(std::string("chat template: ") + e.what());
  }
}

bool chat_template::render(const nlohmann::ordered_json& context, std::string& out, template_render_error& err) const {
  try {
    if (!context.is_object()) {
      err = {"chat template context must be a JSON object", false};
      return false;
    }
    jinja::dict vars;
    for (const auto& [k, v] : context.items()) vars.emplace_back(k, jinja::value::from_json(v));
    out = jinja::render(p_->tree, vars);
    return true;
  } catch (const jinja::template_error& e) {
    err.raised = e.raised;
    err.message = e.raised ? std::string(e.what()) : "chat template error at " + where(p_->source, e.pos) + e.what();
  } catch (const std::exception& e) {
    err = {std::string("chat template: ") + e.what(), false};
  }
  return false;
}

result<std::string> chat_template::render(const nlohmann::ordered_json& context) const {
  std::string out;
  template_render_error err;
  if (!render(context, out, err)) return make_error(err.message);
  return out;
}

const std::string& chat_template::source() const { return p_->source; }

}  // namespace kairos
