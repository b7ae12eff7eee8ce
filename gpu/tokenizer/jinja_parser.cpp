// The Jinja2 parser: tokens from jinja_lexer to the tree in jinja_ast.hpp.
#include "gpu/tokenizer/jinja_parser.hpp"

#include <algorithm>
#include <initializer_list>

#include "gpu/tokenizer/jinja_builtins.hpp"
#include "gpu/tokenizer/jinja_error.hpp"

namespace kairos::jinja {

namespace {

std::string describe(const token& t) {
  switch (t.kind) {
    case token_kind::text: return "template text";
    case token_kind::expr_open: return "'{{'";
    case token_kind::expr_close: return "'}}'";
    case token_kind::stmt_open: return "'{%'";
    case token_kind::stmt_close: return "'%}'";
    case token_kind::string: return "a string";
    case token_kind::end: return "the end of the template";
    default: return "'" + t.text + "'";
  }
}

// Names that end an inline test argument (`x is divisibleby 3` takes one).
bool stops_test_arg(const token& t) {
  static const char* const words[] = {"else", "or", "and", "if", "in", "is", "not"};
  return t.kind == token_kind::name && std::find(std::begin(words), std::end(words), t.text) != std::end(words);
}

class parser {
 public:
  explicit parser(const lexed_template& lt) : t_(lt.tokens) {}

  body run() {
    std::string closer;
    body b = parse_body({}, closer, 0, "");
    return b;
  }

 private:
  [[noreturn]] void fail(const std::string& msg, std::size_t pos) { throw template_error(msg, pos); }

  const token& cur() const { return t_[p_]; }
  const token& peek(std::size_t n = 1) const { return t_[std::min(p_ + n, t_.size() - 1)]; }
  bool is_op(const char* op) const { return cur().kind == token_kind::op && cur().text == op; }
  bool is_name(const char* n) const { return cur().kind == token_kind::name && cur().text == n; }
  const token& advance() { return t_[p_ < t_.size() - 1 ? p_++ : p_]; }
  void expect_op(const char* op, const char* context) {
    if (!is_op(op)) fail(std::string("expected '") + op + "' " + context + ", got " + describe(cur()), cur().pos);
    advance();
  }
  std::string expect_name(const char* context) {
    if (cur().kind != token_kind::name) fail(std::string("expected a name ") + context + ", got " + describe(cur()), cur().pos);
    return advance().text;
  }
  void expect_stmt_close(const std::string& tag) {
    if (cur().kind != token_kind::stmt_close)
      fail("expected '%}' to end the '" + tag + "' tag, got " + describe(cur()), cur().pos);
    advance();
  }

  // -- statements --

  // Parses until one of `closers` opens a tag (its name is left in `closer`
  // with the token after it current) or the template ends. `open_pos`/
  // `open_tag` name the block being closed, for the "never closed" error.
  body parse_body(std::initializer_list<const char*> closers, std::string& closer, std::size_t open_pos,
                  const std::string& open_tag) {
    body out;
    while (true) {
      const token& t = cur();
      switch (t.kind) {
        case token_kind::end:
          if (closers.size() == 0) return out;
          fail("'" + open_tag + "' is never closed (expected '" + *closers.begin() + "' before the end of the template)",
               open_pos);
        case token_kind::text: {
          auto n = make_node(node::kind::text, t.pos);
          n->text = t.text;
          out.push_back(std::move(n));
          advance();
          break;
        }
        case token_kind::expr_open: {
          advance();
          auto n = make_node(node::kind::output, t.pos);
          if (cur().kind == token_kind::expr_close) fail("empty '{{ }}'", t.pos);
          n->exprs.push_back(parse_tuple(true));
          if (cur().kind != token_kind::expr_close) fail("expected '}}', got " + describe(cur()), cur().pos);
          advance();
          out.push_back(std::move(n));
          break;
        }
        case token_kind::stmt_open: {
          const std::size_t at = t.pos;
          advance();
          const std::string name = expect_name("after '{%'");
          for (const char* c : closers)
            if (name == c) {
              closer = name;
              return out;
            }
          out.push_back(statement(name, at, open_tag));
          break;
        }
        default: fail("unexpected " + describe(t), t.pos);
      }
    }
  }

  node_ptr make_node(node::kind k, std::size_t pos) {
    auto n = std::make_unique<node>();
    n->k = k;
    n->pos = pos;
    return n;
  }

  node_ptr statement(const std::string& name, std::size_t at, const std::string& open_tag) {
    if (name == "if") return parse_if(at);
    if (name == "for") return parse_for(at);
    if (name == "set") return parse_set(at);
    if (name == "macro") return parse_macro(at);
    if (name == "break" || name == "continue") {
      expect_stmt_close(name);
      return make_node(name == "break" ? node::kind::break_ : node::kind::continue_, at);
    }
    if (name == "generation") {  // transformers' AssistantTracker tag: renders its body
      expect_stmt_close(name);
      auto n = make_node(node::kind::block, at);
      std::string closer;
      n->bodies.push_back(parse_body({"endgeneration"}, closer, at, "generation"));
      expect_stmt_close(closer);
      return n;
    }
    static const char* const inner[] = {"elif", "else", "endif", "endfor", "endset", "endmacro", "endgeneration"};
    if (std::find(std::begin(inner), std::end(inner), name) != std::end(inner))
      fail("unexpected '" + name + "'" + (open_tag.empty() ? " (no block is open)" : " inside '" + open_tag + "'"), at);
    fail("unknown tag '" + name + "'", at);
  }

  node_ptr parse_if(std::size_t at) {
    auto n = make_node(node::kind::if_, at);
    n->exprs.push_back(parse_expression(true));
    expect_stmt_close("if");
    while (true) {
      std::string closer;
      n->bodies.push_back(parse_body({"elif", "else", "endif"}, closer, at, "if"));
      if (closer == "elif") {
        n->exprs.push_back(parse_expression(true));
        expect_stmt_close("elif");
      } else if (closer == "else") {
        expect_stmt_close("else");
        n->bodies.push_back(parse_body({"endif"}, closer, at, "if"));
        expect_stmt_close("endif");
        return n;
      } else {
        expect_stmt_close("endif");
        return n;
      }
    }
  }

  node_ptr parse_for(std::size_t at) {
    auto n = make_node(node::kind::for_, at);
    n->names.push_back(expect_name("after 'for'"));
    while (is_op(",")) {
      advance();
      n->names.push_back(expect_name("in the 'for' target"));
    }
    if (!is_name("in")) fail("expected 'in' in the 'for' tag, got " + describe(cur()), cur().pos);
    advance();
    n->exprs.push_back(parse_tuple(false));
    if (is_name("if")) {
      advance();
      n->exprs.push_back(parse_expression(true));
    }
    if (is_name("recursive")) fail("recursive loops are not supported", cur().pos);
    expect_stmt_close("for");
    std::string closer;
    n->bodies.push_back(parse_body({"else", "endfor"}, closer, at, "for"));
    if (closer == "else") {
      expect_stmt_close("else");
      n->bodies.push_back(parse_body({"endfor"}, closer, at, "for"));
    }
    expect_stmt_close("endfor");
    return n;
  }

  node_ptr parse_set(std::size_t at) {
    const std::string first = expect_name("after 'set'");
    if (is_op(".")) {
      advance();
      auto n = make_node(node::kind::set_attr, at);
      n->names.push_back(first);
      n->text = expect_name("after '.' in 'set'");
      expect_op("=", "in 'set'");
      n->exprs.push_back(parse_tuple(true));
      expect_stmt_close("set");
      return n;
    }
    if (cur().kind == token_kind::stmt_close) {  // {% set x %}...{% endset %}
      advance();
      auto n = make_node(node::kind::set_block, at);
      n->names.push_back(first);
      std::string closer;
      n->bodies.push_back(parse_body({"endset"}, closer, at, "set"));
      expect_stmt_close("endset");
      return n;
    }
    auto n = make_node(node::kind::set, at);
    n->names.push_back(first);
    while (is_op(",")) {
      advance();
      n->names.push_back(expect_name("in the 'set' target"));
    }
    expect_op("=", "in 'set'");
    n->exprs.push_back(parse_tuple(true));
    expect_stmt_close("set");
    return n;
  }

  node_ptr parse_macro(std::size_t at) {
    auto n = make_node(node::kind::macro, at);
    n->text = expect_name("after 'macro'");
    expect_op("(", "after the macro name");
    while (!is_op(")")) {
      n->names.push_back(expect_name("as a macro parameter"));
      if (is_op("=")) {
        advance();
        n->exprs.push_back(parse_expression(true));
      } else {
        n->exprs.push_back(nullptr);
      }
      if (!is_op(",")) break;
      advance();
    }
    expect_op(")", "to end the macro parameters");
    expect_stmt_close("macro");
    std::string closer;
    n->bodies.push_back(parse_body({"endmacro"}, closer, at, "macro"));
    if (cur().kind == token_kind::name) advance();  // {% endmacro name %}
    expect_stmt_close("endmacro");
    return n;
  }

  // -- expressions --

  expr_ptr make(expr::kind k, std::size_t pos) {
    auto e = std::make_unique<expr>();
    e->k = k;
    e->pos = pos;
    return e;
  }

  // An expression, or several separated by commas (a tuple, kept as a list).
  expr_ptr parse_tuple(bool with_condexpr) {
    const std::size_t at = cur().pos;
    expr_ptr first = parse_expression(with_condexpr);
    if (!is_op(",")) return first;
    auto t = make(expr::kind::list, at);
    t->tuple = true;
    t->args.push_back(std::move(first));
    while (is_op(",")) {
      advance();
      if (cur().kind == token_kind::expr_close || cur().kind == token_kind::stmt_close || is_name("if") || is_op(")"))
        break;
      t->args.push_back(parse_expression(with_condexpr));
    }
    return t;
  }

  expr_ptr parse_expression(bool with_condexpr) {
    expr_ptr e = parse_or();
    if (!with_condexpr) return e;
    while (is_name("if")) {
      const std::size_t at = cur().pos;
      advance();
      auto c = make(expr::kind::cond, at);
      c->args.push_back(std::move(e));
      c->args.push_back(parse_or());
      if (is_name("else")) {
        advance();
        c->args.push_back(parse_expression(true));
      } else {
        c->args.push_back(nullptr);
      }
      e = std::move(c);
    }
    return e;
  }

  expr_ptr binary(const std::string& op, expr_ptr l, expr_ptr r, std::size_t pos) {
    auto b = make(expr::kind::binary, pos);
    b->name = op;
    b->args.push_back(std::move(l));
    b->args.push_back(std::move(r));
    return b;
  }

  expr_ptr parse_or() {
    expr_ptr l = parse_and();
    while (is_name("or")) {
      const std::size_t at = advance().pos;
      l = binary("or", std::move(l), parse_and(), at);
    }
    return l;
  }

  expr_ptr parse_and() {
    expr_ptr l = parse_not();
    while (is_name("and")) {
      const std::size_t at = advance().pos;
      l = binary("and", std::move(l), parse_not(), at);
    }
    return l;
  }

  expr_ptr parse_not() {
    if (is_name("not")) {
      const std::size_t at = advance().pos;
      auto u = make(expr::kind::unary, at);
      u->name = "not";
      u->args.push_back(parse_not());
      return u;
    }
    return parse_compare();
  }

  expr_ptr parse_compare() {
    const std::size_t at = cur().pos;
    expr_ptr first = parse_math1();
    expr_ptr c;
    while (true) {
      std::string op;
      if (cur().kind == token_kind::op &&
          (is_op("==") || is_op("!=") || is_op("<") || is_op(">") || is_op("<=") || is_op(">="))) {
        op = advance().text;
      } else if (is_name("in")) {
        advance();
        op = "in";
      } else if (is_name("not") && peek().kind == token_kind::name && peek().text == "in") {
        advance();
        advance();
        op = "not in";
      } else {
        break;
      }
      if (!c) {
        c = make(expr::kind::compare, at);
        c->args.push_back(std::move(first));
      }
      c->ops.push_back(op);
      c->args.push_back(parse_math1());
    }
    return c ? std::move(c) : std::move(first);
  }

  expr_ptr parse_math1() {
    expr_ptr l = parse_concat();
    while (is_op("+") || is_op("-")) {
      const token& t = advance();
      l = binary(t.text, std::move(l), parse_concat(), t.pos);
    }
    return l;
  }

  expr_ptr parse_concat() {
    expr_ptr l = parse_math2();
    while (is_op("~")) {
      const std::size_t at = advance().pos;
      l = binary("~", std::move(l), parse_math2(), at);
    }
    return l;
  }

  expr_ptr parse_math2() {
    expr_ptr l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const token& t = advance();
      l = binary(t.text, std::move(l), parse_pow(), t.pos);
    }
    return l;
  }

  expr_ptr parse_pow() {
    expr_ptr l = parse_unary(true);
    while (is_op("**")) {
      const std::size_t at = advance().pos;
      l = binary("**", std::move(l), parse_unary(true), at);
    }
    return l;
  }

  expr_ptr parse_unary(bool with_filter) {
    expr_ptr e;
    if (is_op("-") || is_op("+")) {
      const token& t = advance();
      e = make(expr::kind::unary, t.pos);
      e->name = t.text;
      e->args.push_back(parse_unary(false));
    } else {
      e = parse_postfix(parse_primary());
    }
    return with_filter ? parse_filters(std::move(e)) : std::move(e);
  }

  expr_ptr parse_primary() {
    const token& t = cur();
    switch (t.kind) {
      case token_kind::name: {
        advance();
        auto e = make(expr::kind::literal, t.pos);
        if (t.text == "true" || t.text == "True") e->lit = value::boolean(true);
        else if (t.text == "false" || t.text == "False") e->lit = value::boolean(false);
        else if (t.text == "none" || t.text == "None") e->lit = value::none();
        else {
          e->k = expr::kind::name;
          e->name = t.text;
        }
        return e;
      }
      case token_kind::string: {
        std::string s;
        while (cur().kind == token_kind::string) s += advance().text;  // adjacent literals join
        auto e = make(expr::kind::literal, t.pos);
        e->lit = value::string(std::move(s));
        return e;
      }
      case token_kind::integer:
      case token_kind::floating: {
        advance();
        auto e = make(expr::kind::literal, t.pos);
        e->lit = t.kind == token_kind::integer ? value::integer(t.i) : value::floating(t.d);
        return e;
      }
      case token_kind::op:
        if (t.text == "(") {
          advance();
          if (is_op(")")) {
            advance();
            auto empty = make(expr::kind::list, t.pos);
            empty->tuple = true;  // ()
            return empty;
          }
          expr_ptr inner = parse_tuple(true);
          expect_op(")", "to close '('");
          return inner;
        }
        if (t.text == "[") {
          advance();
          auto e = make(expr::kind::list, t.pos);
          while (!is_op("]")) {
            e->args.push_back(parse_expression(true));
            if (!is_op(",")) break;
            advance();
          }
          expect_op("]", "to close the list");
          return e;
        }
        if (t.text == "{") {
          advance();
          auto e = make(expr::kind::dict, t.pos);
          while (!is_op("}")) {
            e->args.push_back(parse_expression(true));
            expect_op(":", "after a dict key");
            e->args.push_back(parse_expression(true));
            if (!is_op(",")) break;
            advance();
          }
          expect_op("}", "to close the dict");
          return e;
        }
        break;
      default: break;
    }
    fail("expected an expression, got " + describe(t), t.pos);
  }

  void parse_call_args(expr& call) {
    expect_op("(", "to open the arguments");
    while (!is_op(")")) {
      if (cur().kind == token_kind::name && peek().kind == token_kind::op && peek().text == "=") {
        std::string key = advance().text;
        advance();
        call.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!call.kwargs.empty()) fail("a positional argument follows a keyword argument", cur().pos);
        call.args.push_back(parse_expression(true));
      }
      if (!is_op(",")) break;
      advance();
    }
    expect_op(")", "to close the arguments");
  }

  expr_ptr parse_postfix(expr_ptr e) {
    while (true) {
      if (is_op(".")) {
        const std::size_t at = advance().pos;
        if (cur().kind == token_kind::integer) {  // x.0 means x[0]
          auto s = make(expr::kind::subscript, at);
          auto idx = make(expr::kind::literal, cur().pos);
          idx->lit = value::integer(advance().i);
          s->args.push_back(std::move(e));
          s->args.push_back(std::move(idx));
          e = std::move(s);
          continue;
        }
        auto a = make(expr::kind::attr, at);
        a->name = expect_name("after '.'");
        a->args.push_back(std::move(e));
        e = std::move(a);
      } else if (is_op("[")) {
        const std::size_t at = advance().pos;
        expr_ptr parts[3];
        bool is_slice = false;
        for (int n = 0; n < 3; ++n) {
          if (!is_op(":") && !is_op("]")) parts[n] = parse_expression(true);
          if (n < 2 && is_op(":")) {
            advance();
            is_slice = true;
          } else {
            break;
          }
        }
        expect_op("]", "to close the subscript");
        auto s = make(is_slice ? expr::kind::slice : expr::kind::subscript, at);
        s->args.push_back(std::move(e));
        if (!is_slice && !parts[0]) fail("empty subscript '[]'", at);
        s->args.push_back(std::move(parts[0]));
        if (is_slice) {
          s->args.push_back(std::move(parts[1]));
          s->args.push_back(std::move(parts[2]));
        }
        e = std::move(s);
      } else if (is_op("(")) {
        auto c = make(expr::kind::call, cur().pos);
        c->args.push_back(std::move(e));
        parse_call_args(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  expr_ptr parse_filters(expr_ptr e) {
    while (true) {
      if (is_op("|")) {
        advance();
        const token& t = cur();
        const std::string name = expect_name("after '|'");
        auto f = make(expr::kind::filter, t.pos);
        f->name = name;
        f->filter = find_filter(name);
        if (!f->filter) fail("unknown filter '" + name + "'", t.pos);
        f->args.push_back(std::move(e));
        if (is_op("(")) parse_call_args(*f);
        e = parse_postfix(std::move(f));
      } else if (is_name("is")) {
        advance();
        auto t = make(expr::kind::test, cur().pos);
        if (is_name("not")) {
          advance();
          t->negated = true;
        }
        const token& nt = cur();
        t->name = expect_name("after 'is'");
        t->test = find_test(t->name);
        if (!t->test) fail("unknown test '" + t->name + "'", nt.pos);
        t->args.push_back(std::move(e));
        if (is_op("(")) {
          parse_call_args(*t);
        } else if ((cur().kind == token_kind::name || cur().kind == token_kind::string ||
                    cur().kind == token_kind::integer || cur().kind == token_kind::floating || is_op("[") ||
                    is_op("{")) &&
                   !stops_test_arg(cur())) {
          t->args.push_back(parse_postfix(parse_primary()));
        }
        e = std::move(t);
      } else {
        return e;
      }
    }
  }

  const std::vector<token>& t_;
  std::size_t p_ = 0;
};

}  // namespace

body parse(const lexed_template& lexed) { return parser(lexed).run(); }

}  // namespace kairos::jinja
