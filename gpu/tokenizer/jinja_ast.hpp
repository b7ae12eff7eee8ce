#pragma once
// The parsed form of a chat template: expressions and statements, each with
// the byte offset it came from so that render errors can name a line and
// column. Built by jinja_parser, walked by jinja_eval.
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gpu/tokenizer/jinja_value.hpp"

namespace kairos::jinja {

struct expr;
using expr_ptr = std::unique_ptr<expr>;

// A filter or test implementation (see jinja_builtins.hpp), bound at parse
// time so that an unknown name is a parse error, as in Jinja.
using filter_fn = value (*)(const value& input, call_args& args);
using test_fn = bool (*)(const value& input, call_args& args);

struct expr {
  enum class kind {
    literal,    // lit
    name,       // name
    list,       // args: the items (a tuple literal when `tuple`)
    dict,       // args: key, value, key, value, ...
    attr,       // args[0].name
    subscript,  // args[0][args[1]]
    slice,      // args[0][args[1]:args[2]:args[3]] (null where omitted)
    call,       // args[0](args[1..], kwargs)
    filter,     // args[0] | name(args[1..], kwargs)
    test,       // args[0] is [not] name(args[1..], kwargs); negated
    unary,      // op args[0]: "not", "-", "+"
    binary,     // args[0] op args[1]: "or" "and" "+" "-" "*" "/" "//" "%" "**" "~"
    compare,    // args[0] ops[0] args[1] ops[1] args[2] ...: "==" "!=" "<" ">" "<=" ">=" "in" "not in"
    cond,       // args[0] if args[1] else args[2] (args[2] may be null)
  };
  kind k;
  std::size_t pos;
  value lit;
  std::string name;  // variable / attribute / filter / test name, or the operator
  std::vector<expr_ptr> args;
  std::vector<std::pair<std::string, expr_ptr>> kwargs;
  std::vector<std::string> ops;
  filter_fn filter = nullptr;
  test_fn test = nullptr;
  bool negated = false;
  bool tuple = false;
};

struct node;
using node_ptr = std::unique_ptr<node>;
using body = std::vector<node_ptr>;

struct node {
  enum class kind {
    text,       // text
    output,     // {{ exprs[0] }}
    if_,        // exprs[i] guards bodies[i]; one more body is the else
    for_,       // for names in exprs[0] [if exprs[1]]: bodies[0], else bodies[1]
    set,        // names = exprs[0] (several names unpack)
    set_attr,   // names[0].text = exprs[0] (a namespace attribute)
    set_block,  // names[0] = the rendered bodies[0]
    macro,      // text(names...) with defaults exprs (null where none): bodies[0]
    break_,
    continue_,
    block,      // bodies[0] rendered in place ({% generation %})
  };
  kind k;
  std::size_t pos;
  std::string text;
  std::vector<std::string> names;
  std::vector<expr_ptr> exprs;
  std::vector<body> bodies;
};

}  // namespace kairos::jinja
