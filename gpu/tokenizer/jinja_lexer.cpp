// The Jinja2 lexer: text/tag splitting with Jinja 3.1's whitespace rules.
#include "gpu/tokenizer/jinja_lexer.hpp"

#include <cctype>

#include "gpu/tokenizer/jinja_error.hpp"
#include "gpu/tokenizer/utf8.hpp"

namespace kairos::jinja {

std::pair<int, int> line_column(std::string_view source, std::size_t pos) {
  int line = 1, col = 1;
  for (std::size_t p = 0; p < pos && p < source.size(); ++p) {
    if (source[p] == '\n') {
      ++line;
      col = 1;
    } else if ((static_cast<unsigned char>(source[p]) & 0xC0) != 0x80) {
      ++col;  // count characters, not UTF-8 continuation bytes
    }
  }
  return {line, col};
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

std::string normalise_source(std::string_view in, bool keep_trailing_newline) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t p = 0; p < in.size(); ++p) {
    if (in[p] == '\r') {
      out += '\n';
      if (p + 1 < in.size() && in[p + 1] == '\n') ++p;
    } else {
      out += in[p];
    }
  }
  if (!keep_trailing_newline && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

namespace {

class lexer {
 public:
  lexer(std::string src, const lexer_options& o) : src_(std::move(src)), o_(o) {}

  lexed_template run() {
    std::size_t pos = 0;
    bool line_starting = true;  // the last consumed tag ended a line (Jinja's lstrip_blocks condition)
    while (pos < src_.size()) {
      const std::size_t at = next_tag(pos);
      std::string text = src_.substr(pos, at - pos);
      if (at == src_.size()) {
        emit_text(std::move(text), pos);
        break;
      }
      const char kind = src_[at + 1];  // '{', '%' or '#'
      const char sign = at + 2 < src_.size() ? src_[at + 2] : '\0';
      if (sign == '-') {
        std::size_t keep = text.size();
        while (keep > 0 && is_space(text[keep - 1])) --keep;
        text.resize(keep);
      } else if (sign != '+' && o_.lstrip_blocks && kind != '{') {
        const std::size_t nl = text.rfind('\n');
        const std::size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
        if (l_pos > 0 || line_starting) {
          bool blank = true;
          for (std::size_t p = l_pos; p < text.size(); ++p) blank = blank && is_space(text[p]);
          if (blank) text.resize(l_pos);
        }
      }
      emit_text(std::move(text), pos);
      const std::size_t body = at + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
      std::size_t end;
      if (kind == '#') end = comment(at, body);
      else end = tag(at, body, kind == '{');
      line_starting = end > 0 && src_[end - 1] == '\n';
      pos = end;
    }
    out_.tokens.push_back({token_kind::end, "", src_.size()});
    out_.source = std::move(src_);
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(const std::string& msg, std::size_t pos) { throw template_error(msg, pos); }

  std::size_t next_tag(std::size_t from) const {
    for (std::size_t p = src_.find('{', from); p != std::string::npos; p = src_.find('{', p + 1))
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) return p;
    return src_.size();
  }

  void emit_text(std::string text, std::size_t pos) {
    if (!text.empty()) out_.tokens.push_back({token_kind::text, std::move(text), pos});
  }

  // After a closing "%}" / "#}": trim_blocks eats one newline, "-" eats all
  // whitespace, "+" eats nothing.
  std::size_t after_close(std::size_t p, char sign, bool block_or_comment) {
    if (sign == '-') {
      while (p < src_.size() && is_space(src_[p])) ++p;
    } else if (sign != '+' && block_or_comment && o_.trim_blocks && p < src_.size() && src_[p] == '\n') {
      ++p;
    }
    return p;
  }

  std::size_t comment(std::size_t open, std::size_t body) {
    const std::size_t close = src_.find("#}", body);
    if (close == std::string::npos) fail("unterminated comment: '{#' is never closed by '#}'", open);
    const char sign = close > body && (src_[close - 1] == '-' || src_[close - 1] == '+') ? src_[close - 1] : '\0';
    return after_close(close + 2, sign, true);
  }

  std::size_t tag(std::size_t open, std::size_t p, bool expr) {
    out_.tokens.push_back({expr ? token_kind::expr_open : token_kind::stmt_open, expr ? "{{" : "{%", open});
    const char closer = expr ? '}' : '%';
    int depth = 0;  // open ( [ {: a "}}" inside a dict literal does not close the tag
    while (true) {
      while (p < src_.size() && is_space(src_[p])) ++p;
      if (p >= src_.size())
        fail(std::string("unterminated tag: '") + (expr ? "{{" : "{%") + "' is never closed by '" + (expr ? "}}" : "%}") +
                 "'",
             open);
      const char c = src_[p];
      if (depth == 0) {
        char sign = '\0';
        std::size_t q = p;
        if ((c == '-' || c == '+') && q + 1 < src_.size()) {
          sign = c;
          ++q;
        }
        if (q + 1 < src_.size() && src_[q] == closer && src_[q + 1] == '}') {
          out_.tokens.push_back({expr ? token_kind::expr_close : token_kind::stmt_close, expr ? "}}" : "%}", p});
          return after_close(q + 2, sign, !expr);
        }
        if (!expr && c == '}' && p + 1 < src_.size() && src_[p + 1] == '}')
          fail("'}}' closes a '{%' tag; expected '%}'", p);
        if (expr && c == '%' && p + 1 < src_.size() && src_[p + 1] == '}')
          fail("'%}' closes a '{{' tag; expected '}}'", p);
      }
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        std::size_t q = p;
        while (q < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[q])) || src_[q] == '_')) ++q;
        out_.tokens.push_back({token_kind::name, src_.substr(p, q - p), p});
        p = q;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        p = number(p);
      } else if (c == '\'' || c == '"') {
        p = string(p);
      } else {
        static const char* const ops[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<",
                                          ">",  "=",  "(",  ")",  "[",  "]",  "{", "}", ",", ".", ":", "|"};
        std::string op;
        for (const char* o : ops)
          if (src_.compare(p, std::char_traits<char>::length(o), o) == 0) {
            op = o;
            break;
          }
        if (op.empty()) {
          std::string shown(1, c);
          if (static_cast<unsigned char>(c) >= 0x80) {
            const std::size_t n = utf8::sequence_length(src_, p);
            shown = src_.substr(p, n ? n : 1);
          }
          fail("unexpected character '" + shown + "' in a tag", p);
        }
        if (op == "(" || op == "[" || op == "{") ++depth;
        if ((op == ")" || op == "]" || op == "}") && depth > 0) --depth;
        out_.tokens.push_back({token_kind::op, op, p});
        p += op.size();
      }
    }
  }

  std::size_t number(std::size_t p) {
    const std::size_t start = p;
    auto digits = [&] {
      while (p < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[p])) || src_[p] == '_')) ++p;
    };
    digits();
    bool is_float = false;
    if (p + 1 < src_.size() && src_[p] == '.' && std::isdigit(static_cast<unsigned char>(src_[p + 1]))) {
      is_float = true;
      ++p;
      digits();
    }
    if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
      std::size_t q = p + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && std::isdigit(static_cast<unsigned char>(src_[q]))) {
        is_float = true;
        p = q;
        digits();
      }
    }
    std::string text;
    for (std::size_t q = start; q < p; ++q)
      if (src_[q] != '_') text += src_[q];
    token t{is_float ? token_kind::floating : token_kind::integer, text, start};
    try {
      if (is_float) t.d = std::stod(text);
      else t.i = std::stoll(text);
    } catch (const std::exception&) {
      fail("number '" + text + "' is out of range", start);
    }
    out_.tokens.push_back(std::move(t));
    return p;
  }

  // A Python string literal: backslash escapes as Python reads them; an
  // unknown escape keeps its backslash.
  std::size_t string(std::size_t p) {
    const std::size_t start = p;
    const char q = src_[p++];
    std::string out;
    while (true) {
      if (p >= src_.size()) fail("unterminated string literal", start);
      const char c = src_[p];
      if (c == q) {
        ++p;
        break;
      }
      if (c != '\\' || p + 1 >= src_.size()) {
        out += c;
        ++p;
        continue;
      }
      const char e = src_[p + 1];
      p += 2;
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '0': out += '\0'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case '\n': break;  // a backslash-newline continues the line
        case 'x':
        case 'u':
        case 'U': {
          const std::size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (p + n > src_.size()) fail("truncated \\" + std::string(1, e) + " escape in a string literal", p - 2);
          char32_t cp = 0;
          for (std::size_t k = 0; k < n; ++k) {
            const char h = src_[p + k];
            if (!std::isxdigit(static_cast<unsigned char>(h)))
              fail("bad \\" + std::string(1, e) + " escape in a string literal", p - 2);
            cp = cp * 16 + char32_t(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
          }
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) fail("escape is not a Unicode scalar value", p - 2);
          utf8::append(out, cp);
          p += n;
          break;
        }
        default:
          out += '\\';
          out += e;
      }
    }
    out_.tokens.push_back({token_kind::string, std::move(out), start});
    return p;
  }

  std::string src_;
  lexer_options o_;
  lexed_template out_;
};

}  // namespace

lexed_template lex(std::string_view source, const lexer_options& opts) {
  return lexer(normalise_source(source, opts.keep_trailing_newline), opts).run();
}

}  // namespace kairos::jinja
