#pragma once
// Splits a Jinja2 template into text and the tokens inside {{ }} and {% %}
// tags, applying Jinja's whitespace rules on the way: "-" in a tag strips the
// whitespace beside it, trim_blocks drops the newline after a block or
// comment, lstrip_blocks drops the indentation before one, and one trailing
// newline of the template is dropped (keep_trailing_newline=False). Comments
// {# #} are removed here. Line endings are normalised to "\n" first, as
// Jinja's lexer does.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kairos::jinja {

struct lexer_options {
  bool trim_blocks = true;    // transformers' apply_chat_template settings
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

enum class token_kind : std::uint8_t {
  text,        // literal template text (already whitespace-controlled)
  expr_open,   // {{
  expr_close,  // }}
  stmt_open,   // {%
  stmt_close,  // %}
  name,
  string,      // value: the unescaped text
  integer,
  floating,
  op,          // punctuation and operators: + - * / // % ** ~ == != < > <= >= = ( ) [ ] { } , . : |
  end,         // end of the template
};

struct token {
  token_kind kind;
  std::string text;  // text / name / string value / operator spelling
  std::size_t pos;   // byte offset in the normalised source
  std::int64_t i = 0;
  double d = 0;
};

struct lexed_template {
  std::string source;  // normalised; positions refer to it
  std::vector<token> tokens;
};

// The source as the lexer sees it: "\r\n" and "\r" become "\n", and one
// trailing newline goes unless it is kept. Positions refer to this text.
std::string normalise_source(std::string_view source, bool keep_trailing_newline);

// Throws template_error (with the position) on an unterminated tag, comment
// or string, or a character that is not part of Jinja's syntax.
lexed_template lex(std::string_view source, const lexer_options& opts);

// 1-based line and column of a byte offset, for messages.
std::pair<int, int> line_column(std::string_view source, std::size_t pos);

}  // namespace kairos::jinja
