#pragma once
// The values a chat template computes with, modelled on the Python objects
// Jinja2 sees when transformers renders a template: None, bool, int, float,
// str, list, dict (insertion-ordered, string keys), a namespace() object, a
// callable, and Jinja's Undefined (renders as "", is falsy, and is an error
// only when used as an object).
//
// Lists, dicts and namespaces are shared by reference, as in Python, so that
// `{% set ns.x = 1 %}` inside a loop updates the namespace the loop sees.
// Text is UTF-8; string length, indexing and slicing count code points, as
// Python's str does.
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kairos::jinja {

struct value;
using list = std::vector<value>;
using dict = std::vector<std::pair<std::string, value>>;  // insertion order, like a Python dict

// Arguments of a call: positional, then name=value.
struct call_args {
  std::vector<value> positional;
  std::vector<std::pair<std::string, value>> named;
};

// A callable's body. Errors are reported by throwing (see template_error in
// jinja_eval.hpp); the renderer turns them into a result at its boundary.
using function = std::function<value(call_args&)>;

struct value {
  enum class kind : std::uint8_t { undefined, none, boolean, integer, floating, string, list, dict, ns, function };

  kind k = kind::undefined;
  bool b = false;
  std::int64_t i = 0;
  double d = 0;
  std::string s;  // the text of a string; the name of an undefined (for error messages)
  std::shared_ptr<jinja::list> l;
  std::shared_ptr<jinja::dict> m;  // a dict or a namespace's attributes
  std::shared_ptr<const jinja::function> f;
  bool tuple = false;  // a list that came from a tuple (prints as "(a, b)", as Python does)

  static value undefined(std::string name = {});
  static value none();
  static value boolean(bool v);
  static value integer(std::int64_t v);
  static value floating(double v);
  static value string(std::string v);
  static value new_list(jinja::list items = {});
  static value new_tuple(jinja::list items);
  static value new_dict(jinja::dict items = {});
  static value new_namespace(jinja::dict items = {});
  static value callable(jinja::function fn);

  // JSON in, with object key order kept (ordered_json), as Python's json.loads does.
  static value from_json(const nlohmann::ordered_json& j);

  bool is_undefined() const { return k == kind::undefined; }
  bool is_none() const { return k == kind::none; }
  bool is_string() const { return k == kind::string; }
  bool is_number() const { return k == kind::integer || k == kind::floating || k == kind::boolean; }
  bool is_list() const { return k == kind::list; }
  bool is_dict() const { return k == kind::dict; }

  bool truthy() const;
  double as_double() const;  // for numbers (bool counts as 0/1, as in Python)

  // The entry for `key` in a dict or namespace, or nullptr.
  value* find(std::string_view key) const;
  void set(const std::string& key, value v) const;  // dicts and namespaces (shared, so const)
};

// Python's type name for messages ("str", "list", "NoneType", ...).
const char* type_name(const value& v);

// Python's str(v): what {{ v }} prints ("" for undefined, "None", "True",
// "1.5", "['a', 1]", "{'k': 'v'}").
std::string to_str(const value& v);

// Python's repr(v), e.g. "'it\\'s'".
std::string to_repr(const value& v);

// Python's repr() of a float: the shortest text that reads back the same
// double, with ".0" on integral values and an exponent outside [1e-4, 1e16).
std::string float_repr(double d);

// json.dumps(v, ensure_ascii=..., indent=..., separators=..., sort_keys=...):
// what transformers' `tojson` filter returns. indent < 0 means None.
struct json_dump_options {
  bool ensure_ascii = false;
  int indent = -1;
  std::string item_separator;  // empty: json.dumps' default (", " or "," with indent)
  std::string key_separator = ": ";
  bool sort_keys = false;
};
std::string to_json(const value& v, const json_dump_options& opts = {});

// Python ==: deep, with int/float/bool compared as numbers.
bool equals(const value& a, const value& b);

// Code points of a UTF-8 string: byte offset of each, plus the end.
std::vector<std::size_t> code_point_offsets(std::string_view s);

}  // namespace kairos::jinja
