// Filters, tests, methods and globals for chat templates. Semantics follow
// Jinja 3.1 and CPython where templates can observe a difference; case
// mapping is ASCII-only (chat templates apply it to role names and keywords).
#include "gpu/tokenizer/jinja_builtins.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "gpu/tokenizer/jinja_error.hpp"

namespace kairos::jinja {

namespace {

[[noreturn]] void fail(const std::string& msg) { throw template_error(msg); }

// Argument `index` (positional) or `name` (keyword), or nullptr.
const value* arg(const call_args& a, std::size_t index, std::string_view name) {
  if (index < a.positional.size()) return &a.positional[index];
  for (const auto& [k, v] : a.named)
    if (k == name) return &v;
  return nullptr;
}

const std::string& need_string(const value& v, const char* what) {
  if (!v.is_string()) fail(std::string(what) + " needs a string, got " + type_name(v));
  return v.s;
}

std::int64_t need_int(const value& v, const char* what) {
  if (v.k == value::kind::integer) return v.i;
  if (v.k == value::kind::boolean) return v.b;
  fail(std::string(what) + " needs an integer, got " + type_name(v));
}

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string ascii_map(std::string s, int (*f)(int)) {
  for (char& c : s) c = char(f(static_cast<unsigned char>(c)));
  return s;
}

std::string capitalize(const std::string& s) {
  std::string out = ascii_map(s, ::tolower);
  if (!out.empty()) out[0] = char(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

// Python's str.title(): a letter after a non-letter starts a word.
std::string py_title(const std::string& s) {
  std::string out = s;
  bool prev_letter = false;
  for (char& c : out) {
    const bool letter = std::isalpha(static_cast<unsigned char>(c));
    c = char(letter && !prev_letter ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
    prev_letter = letter;
  }
  return out;
}

// Jinja's |title: words start after whitespace, '-', or an opening bracket.
std::string jinja_title(const std::string& s) {
  std::string out = s;
  bool start = true;
  for (char& c : out) {
    const bool sep = is_ws(c) || std::strchr("-({[<", c) != nullptr;
    c = char(start && !sep ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
    start = sep;
  }
  return out;
}


std::string replace_all(const std::string& s, const std::string& from, const std::string& to, std::int64_t count) {
  std::string out;
  std::size_t pos = 0;
  std::int64_t done = 0;
  if (from.empty()) {  // Python inserts `to` between characters
    const auto cps = code_point_offsets(s);
    for (std::size_t n = 0; n + 1 < cps.size(); ++n) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      out += s.substr(cps[n], cps[n + 1] - cps[n]);
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  while (count < 0 || done < count) {
    const std::size_t at = s.find(from, pos);
    if (at == std::string::npos) break;
    out += s.substr(pos, at - pos) + to;
    pos = at + from.size();
    ++done;
  }
  return out + s.substr(pos);
}

value split(const std::string& s, const value* sep, std::int64_t maxsplit) {
  list out;
  if (!sep || sep->is_none()) {  // runs of whitespace, no empty pieces
    std::size_t p = 0;
    while (true) {
      while (p < s.size() && is_ws(s[p])) ++p;
      if (p >= s.size()) break;
      if (maxsplit >= 0 && std::int64_t(out.size()) >= maxsplit) {
        std::size_t end = s.size();
        while (end > p && is_ws(s[end - 1])) --end;
        out.push_back(value::string(s.substr(p, end - p)));
        break;
      }
      std::size_t q = p;
      while (q < s.size() && !is_ws(s[q])) ++q;
      out.push_back(value::string(s.substr(p, q - p)));
      p = q;
    }
    return value::new_list(std::move(out));
  }
  const std::string& d = need_string(*sep, "split()");
  if (d.empty()) fail("split(): empty separator");
  std::size_t p = 0;
  while (maxsplit < 0 || std::int64_t(out.size()) < maxsplit) {
    const std::size_t at = s.find(d, p);
    if (at == std::string::npos) break;
    out.push_back(value::string(s.substr(p, at - p)));
    p = at + d.size();
  }
  out.push_back(value::string(s.substr(p)));
  return value::new_list(std::move(out));
}

// obj.attr for selectattr / map / join(attribute=): dict keys, dotted.
value attribute_of(const value& obj, const std::string& path) {
  value cur = obj;
  std::size_t p = 0;
  while (p <= path.size()) {
    const std::size_t dot = std::min(path.find('.', p), path.size());
    const std::string part = path.substr(p, dot - p);
    const value* v = cur.find(part);
    if (!v) return value::undefined(part);
    cur = *v;
    p = dot + 1;
  }
  return cur;
}

// The test named by args[first] (with the rest as its arguments), for
// select / reject / selectattr / rejectattr.
bool apply_test(const value& v, const call_args& a, std::size_t first) {
  if (a.positional.size() <= first) return v.truthy();
  const std::string& name = need_string(a.positional[first], "the test name");
  test_fn t = find_test(name);
  if (!t) fail("unknown test '" + name + "'");
  call_args rest;
  rest.positional.assign(a.positional.begin() + std::ptrdiff_t(first) + 1, a.positional.end());
  return t(v, rest);
}

// -- filters --

value f_length(const value& v, call_args&) {
  switch (v.k) {
    case value::kind::string: return value::integer(std::int64_t(code_point_offsets(v.s).size() - 1));
    case value::kind::list: return value::integer(std::int64_t(v.l->size()));
    case value::kind::dict:
    case value::kind::ns: return value::integer(std::int64_t(v.m->size()));
    case value::kind::undefined: return value::integer(0);
    default: fail(std::string("object of type '") + type_name(v) + "' has no len()");
  }
}

value f_tojson(const value& v, call_args& a) {
  json_dump_options o;
  if (const value* x = arg(a, 0, "ensure_ascii")) o.ensure_ascii = x->truthy();
  if (const value* x = arg(a, 1, "indent"); x && !x->is_none()) o.indent = int(need_int(*x, "tojson(indent=)"));
  if (const value* x = arg(a, 2, "separators"); x && !x->is_none()) {
    if (!x->is_list() || x->l->size() != 2) fail("tojson(separators=) needs a pair of strings");
    o.item_separator = need_string((*x->l)[0], "tojson(separators=)");
    o.key_separator = need_string((*x->l)[1], "tojson(separators=)");
  }
  if (const value* x = arg(a, 3, "sort_keys")) o.sort_keys = x->truthy();
  return value::string(to_json(v, o));
}

value f_trim(const value& v, call_args& a) { return value::string(strip(to_str(v), arg(a, 0, "chars"), strip_side::both)); }
value f_upper(const value& v, call_args&) { return value::string(ascii_map(to_str(v), ::toupper)); }
value f_lower(const value& v, call_args&) { return value::string(ascii_map(to_str(v), ::tolower)); }
value f_capitalize(const value& v, call_args&) { return value::string(capitalize(to_str(v))); }
value f_title(const value& v, call_args&) { return value::string(jinja_title(to_str(v))); }
value f_string(const value& v, call_args&) { return value::string(to_str(v)); }
value f_identity(const value& v, call_args&) { return v; }

value f_default(const value& v, call_args& a) {
  const value* b = arg(a, 1, "boolean");
  const bool use_default = v.is_undefined() || (b && b->truthy() && !v.truthy());
  if (!use_default) return v;
  const value* d = arg(a, 0, "default_value");
  return d ? *d : value::string("");
}

value f_first(const value& v, call_args&) {
  list items = iterate(v, "first");
  return items.empty() ? value::undefined("first") : items.front();
}

value f_last(const value& v, call_args&) {
  list items = iterate(v, "last");
  return items.empty() ? value::undefined("last") : items.back();
}

value f_join(const value& v, call_args& a) {
  const value* sep = arg(a, 0, "d");
  const value* attr = arg(a, 1, "attribute");
  std::string out;
  bool first = true;
  for (const value& x : iterate(v, "join")) {
    if (!first && sep) out += to_str(*sep);
    first = false;
    out += to_str(attr ? attribute_of(x, to_str(*attr)) : x);
  }
  return value::string(std::move(out));
}

value f_items(const value& v, call_args&) {
  if (v.is_undefined()) return value::new_list();
  if (!v.is_dict()) fail(std::string("items: expected a dict, got ") + type_name(v));
  list out;
  for (const auto& [k, x] : *v.m) out.push_back(value::new_tuple({value::string(k), x}));
  return value::new_list(std::move(out));
}

value f_list(const value& v, call_args&) { return value::new_list(iterate(v, "list")); }

value f_reverse(const value& v, call_args&) {
  list items = iterate(v, "reverse");
  std::reverse(items.begin(), items.end());
  if (!v.is_string()) return value::new_list(std::move(items));
  std::string out;
  for (const value& c : items) out += c.s;
  return value::string(std::move(out));
}

value f_int(const value& v, call_args& a) {
  const value* d = arg(a, 0, "default");
  if (v.k == value::kind::integer || v.k == value::kind::boolean) return value::integer(need_int(v, "int"));
  if (v.k == value::kind::floating) return value::integer(std::int64_t(v.d));
  if (v.is_string()) {
    try {
      std::size_t used = 0;
      const std::string t = strip(v.s, nullptr, strip_side::both);
      const std::int64_t r = std::stoll(t, &used);
      if (used == t.size()) return value::integer(r);
    } catch (const std::exception&) {
    }
  }
  return d ? *d : value::integer(0);
}

value f_float(const value& v, call_args& a) {
  const value* d = arg(a, 0, "default");
  if (v.is_number()) return value::floating(v.as_double());
  if (v.is_string()) {
    try {
      std::size_t used = 0;
      const std::string t = strip(v.s, nullptr, strip_side::both);
      const double r = std::stod(t, &used);
      if (used == t.size()) return value::floating(r);
    } catch (const std::exception&) {
    }
  }
  return d ? *d : value::floating(0);
}

value f_abs(const value& v, call_args&) {
  if (v.k == value::kind::floating) return value::floating(std::fabs(v.d));
  const std::int64_t i = need_int(v, "abs");
  return value::integer(i < 0 ? -i : i);
}

value f_replace(const value& v, call_args& a) {
  const value* from = arg(a, 0, "old");
  const value* to = arg(a, 1, "new");
  const value* count = arg(a, 2, "count");
  if (!from || !to) fail("replace needs the old and the new text");
  return value::string(replace_all(to_str(v), to_str(*from), to_str(*to), count && !count->is_none() ? need_int(*count, "replace") : -1));
}

value f_map(const value& v, call_args& a) {
  list out;
  if (const value* attr = arg(a, 99, "attribute")) {
    const value* dflt = arg(a, 99, "default");
    for (const value& x : iterate(v, "map")) {
      value r = attribute_of(x, to_str(*attr));
      out.push_back(r.is_undefined() && dflt ? *dflt : r);
    }
    return value::new_list(std::move(out));
  }
  if (a.positional.empty()) fail("map needs a filter name or attribute=");
  const std::string& name = need_string(a.positional[0], "map");
  filter_fn f = find_filter(name);
  if (!f) fail("unknown filter '" + name + "'");
  call_args rest;
  rest.positional.assign(a.positional.begin() + 1, a.positional.end());
  rest.named = a.named;
  for (const value& x : iterate(v, "map")) out.push_back(f(x, rest));
  return value::new_list(std::move(out));
}

template <bool Keep, bool ByAttr>
value f_select(const value& v, call_args& a) {
  list out;
  for (const value& x : iterate(v, "select")) {
    value subject = x;
    if constexpr (ByAttr) {
      if (a.positional.empty()) fail("selectattr / rejectattr need an attribute name");
      subject = attribute_of(x, to_str(a.positional[0]));
    }
    if (apply_test(subject, a, ByAttr ? 1 : 0) == Keep) out.push_back(x);
  }
  return value::new_list(std::move(out));
}

// -- tests --

const value& test_arg(const call_args& a, const char* test) {
  if (a.positional.empty()) fail(std::string("the '") + test + "' test needs an argument");
  return a.positional[0];
}

bool less(const value& x, const value& y) {
  if (x.is_number() && y.is_number()) return x.as_double() < y.as_double();
  if (x.is_string() && y.is_string()) return x.s < y.s;
  fail(std::string("'<' not supported between '") + type_name(x) + "' and '" + type_name(y) + "'");
}

bool t_defined(const value& v, call_args&) { return !v.is_undefined(); }
bool t_undefined(const value& v, call_args&) { return v.is_undefined(); }
bool t_none(const value& v, call_args&) { return v.is_none(); }
bool t_boolean(const value& v, call_args&) { return v.k == value::kind::boolean; }
bool t_true(const value& v, call_args&) { return v.k == value::kind::boolean && v.b; }
bool t_false(const value& v, call_args&) { return v.k == value::kind::boolean && !v.b; }
bool t_integer(const value& v, call_args&) { return v.k == value::kind::integer; }
bool t_float(const value& v, call_args&) { return v.k == value::kind::floating; }
bool t_number(const value& v, call_args&) { return v.is_number(); }
bool t_string(const value& v, call_args&) { return v.is_string(); }
bool t_mapping(const value& v, call_args&) { return v.is_dict(); }
bool t_iterable(const value& v, call_args&) { return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined(); }
bool t_sequence(const value& v, call_args&) { return v.is_string() || v.is_list() || v.is_dict(); }
bool t_callable(const value& v, call_args&) { return v.k == value::kind::function; }
bool t_odd(const value& v, call_args&) { return need_int(v, "odd") % 2 != 0; }
bool t_even(const value& v, call_args&) { return need_int(v, "even") % 2 == 0; }
bool t_divisibleby(const value& v, call_args& a) {
  const std::int64_t d = need_int(test_arg(a, "divisibleby"), "divisibleby");
  if (d == 0) fail("divisibleby 0");
  return need_int(v, "divisibleby") % d == 0;
}
bool t_eq(const value& v, call_args& a) { return equals(v, test_arg(a, "eq")); }
bool t_ne(const value& v, call_args& a) { return !equals(v, test_arg(a, "ne")); }
bool t_lt(const value& v, call_args& a) { return less(v, test_arg(a, "lt")); }
bool t_le(const value& v, call_args& a) { return !less(test_arg(a, "le"), v); }
bool t_gt(const value& v, call_args& a) { return less(test_arg(a, "gt"), v); }
bool t_ge(const value& v, call_args& a) { return !less(v, test_arg(a, "ge")); }
bool t_in(const value& v, call_args& a) {
  const value& c = test_arg(a, "in");
  if (c.is_string()) return c.s.find(need_string(v, "'in' on a string")) != std::string::npos;
  if (c.is_dict()) return v.is_string() && c.find(v.s) != nullptr;
  for (const value& x : iterate(c, "in"))
    if (equals(x, v)) return true;
  return false;
}
bool t_lower(const value& v, call_args&) { return v.is_string() && ascii_map(v.s, ::tolower) == v.s; }
bool t_upper(const value& v, call_args&) { return v.is_string() && ascii_map(v.s, ::toupper) == v.s; }
bool t_sameas(const value& v, call_args& a) {
  const value& o = test_arg(a, "sameas");
  if (v.k != o.k) return false;
  switch (v.k) {
    case value::kind::none:
    case value::kind::undefined: return true;
    case value::kind::boolean: return v.b == o.b;
    case value::kind::list: return v.l == o.l;
    case value::kind::dict:
    case value::kind::ns: return v.m == o.m;
    default: return equals(v, o);
  }
}

struct named_filter {
  const char* name;
  filter_fn fn;
};
const named_filter filters[] = {
    {"length", f_length},        {"count", f_length},     {"tojson", f_tojson},
    {"trim", f_trim},            {"upper", f_upper},      {"lower", f_lower},
    {"capitalize", f_capitalize}, {"title", f_title},      {"default", f_default},
    {"d", f_default},            {"first", f_first},      {"last", f_last},
    {"join", f_join},            {"items", f_items},      {"string", f_string},
    {"list", f_list},            {"reverse", f_reverse},  {"int", f_int},
    {"float", f_float},          {"abs", f_abs},          {"replace", f_replace},
    {"map", f_map},              {"select", f_select<true, false>}, {"reject", f_select<false, false>},
    {"selectattr", f_select<true, true>}, {"rejectattr", f_select<false, true>}, {"safe", f_identity},
};

struct named_test {
  const char* name;
  test_fn fn;
};
const named_test tests[] = {
    {"defined", t_defined}, {"undefined", t_undefined}, {"none", t_none},       {"boolean", t_boolean},
    {"true", t_true},       {"false", t_false},         {"integer", t_integer}, {"float", t_float},
    {"number", t_number},   {"string", t_string},       {"mapping", t_mapping}, {"iterable", t_iterable},
    {"sequence", t_sequence}, {"callable", t_callable}, {"odd", t_odd},         {"even", t_even},
    {"divisibleby", t_divisibleby}, {"eq", t_eq},      {"equalto", t_eq},      {"==", t_eq},
    {"ne", t_ne},           {"!=", t_ne},               {"lt", t_lt},           {"lessthan", t_lt},
    {"le", t_le},           {"gt", t_gt},               {"greaterthan", t_gt},  {"ge", t_ge},
    {"in", t_in},           {"lower", t_lower},         {"upper", t_upper},     {"sameas", t_sameas},
};

// -- methods --

value string_method(const std::string& s, std::string_view name, call_args& a) {
  auto affix = [&](bool start) {
    const value* p = arg(a, 0, "prefix");
    if (!p) fail(std::string(start ? "startswith" : "endswith") + "() needs an argument");
    auto one = [&](const value& x) {
      const std::string& t = need_string(x, start ? "startswith()" : "endswith()");
      return t.size() <= s.size() && (start ? s.compare(0, t.size(), t) == 0 : s.compare(s.size() - t.size(), t.size(), t) == 0);
    };
    if (p->is_list()) return value::boolean(std::any_of(p->l->begin(), p->l->end(), one));
    return value::boolean(one(*p));
  };
  if (name == "startswith") return affix(true);
  if (name == "endswith") return affix(false);
  if (name == "strip") return value::string(strip(s, arg(a, 0, "chars"), strip_side::both));
  if (name == "lstrip") return value::string(strip(s, arg(a, 0, "chars"), strip_side::left));
  if (name == "rstrip") return value::string(strip(s, arg(a, 0, "chars"), strip_side::right));
  if (name == "split") {
    const value* m = arg(a, 1, "maxsplit");
    return split(s, arg(a, 0, "sep"), m ? need_int(*m, "split(maxsplit=)") : -1);
  }
  if (name == "upper") return value::string(ascii_map(s, ::toupper));
  if (name == "lower") return value::string(ascii_map(s, ::tolower));
  if (name == "title") return value::string(py_title(s));
  if (name == "capitalize") return value::string(capitalize(s));
  if (name == "replace") {
    const value* from = arg(a, 0, "old");
    const value* to = arg(a, 1, "new");
    const value* count = arg(a, 2, "count");
    if (!from || !to) fail("replace() needs the old and the new text");
    return value::string(replace_all(s, need_string(*from, "replace()"), need_string(*to, "replace()"),
                                     count ? need_int(*count, "replace()") : -1));
  }
  if (name == "find" || name == "count") {
    const value* sub = arg(a, 0, "sub");
    if (!sub) fail(std::string(name) + "() needs an argument");
    const std::string& t = need_string(*sub, "find()");
    if (name == "find") {
      const std::size_t at = s.find(t);
      return value::integer(at == std::string::npos ? -1 : std::int64_t(code_point_offsets(s.substr(0, at)).size() - 1));
    }
    std::int64_t n = 0;
    if (t.empty()) return value::integer(std::int64_t(code_point_offsets(s).size()));
    for (std::size_t at = s.find(t); at != std::string::npos; at = s.find(t, at + t.size())) ++n;
    return value::integer(n);
  }
  if (name == "join") {
    const value* items = arg(a, 0, "iterable");
    if (!items) fail("join() needs an argument");
    std::string out;
    bool first = true;
    for (const value& x : iterate(*items, "join()")) {
      if (!first) out += s;
      first = false;
      out += need_string(x, "join()");
    }
    return value::string(std::move(out));
  }
  fail("str has no method '" + std::string(name) + "'");
}

value dict_method(const value& d, std::string_view name, call_args& a) {
  if (name == "items") {
    call_args none;
    return f_items(d, none);
  }
  if (name == "keys" || name == "values") {
    list out;
    for (const auto& [k, x] : *d.m) out.push_back(name == "keys" ? value::string(k) : x);
    return value::new_list(std::move(out));
  }
  if (name == "get") {
    const value* key = arg(a, 0, "key");
    if (!key) fail("get() needs a key");
    const value* hit = key->is_string() ? d.find(key->s) : nullptr;
    if (hit) return *hit;
    const value* dflt = arg(a, 1, "default");
    return dflt ? *dflt : value::none();
  }
  fail("dict has no method '" + std::string(name) + "'");
}

bool is_string_method(std::string_view n) {
  static const char* const names[] = {"startswith", "endswith", "strip", "lstrip", "rstrip", "split", "upper",
                                      "lower",      "title",    "capitalize", "replace", "find", "count", "join"};
  return std::find(std::begin(names), std::end(names), n) != std::end(names);
}

bool is_dict_method(std::string_view n) { return n == "items" || n == "keys" || n == "values" || n == "get"; }

}  // namespace

list iterate(const value& v, const char* what) {
  switch (v.k) {
    case value::kind::list: return *v.l;
    case value::kind::dict: {
      list out;
      for (const auto& [k, x] : *v.m) out.push_back(value::string(k));
      return out;
    }
    case value::kind::string: {
      list out;
      const auto cps = code_point_offsets(v.s);
      for (std::size_t n = 0; n + 1 < cps.size(); ++n) out.push_back(value::string(v.s.substr(cps[n], cps[n + 1] - cps[n])));
      return out;
    }
    case value::kind::undefined: return {};
    default: fail((what ? std::string(what) + ": '" : std::string("'")) + type_name(v) + "' object is not iterable");
  }
}

std::string strip(std::string_view s, const value* chars, strip_side side) {
  auto drop = [&](char c) {
    if (!chars || chars->is_none() || chars->is_undefined()) return is_ws(c);
    return need_string(*chars, "strip()").find(c) != std::string::npos;
  };
  std::size_t b = 0, e = s.size();
  if (side != strip_side::right)
    while (b < e && drop(s[b])) ++b;
  if (side != strip_side::left)
    while (e > b && drop(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

filter_fn find_filter(std::string_view name) {
  for (const auto& f : filters)
    if (name == f.name) return f.fn;
  return nullptr;
}

test_fn find_test(std::string_view name) {
  for (const auto& t : tests)
    if (name == t.name) return t.fn;
  return nullptr;
}

value find_method(const value& obj, std::string_view name) {
  const std::string n(name);
  if (obj.is_string() && is_string_method(name)) {
    const std::string s = obj.s;
    return value::callable([s, n](call_args& a) { return string_method(s, n, a); });
  }
  if (obj.is_dict() && is_dict_method(name)) {
    return value::callable([obj, n](call_args& a) { return dict_method(obj, n, a); });
  }
  return value::undefined(n);
}

dict global_functions() {
  dict g;
  g.emplace_back("raise_exception", value::callable([](call_args& a) -> value {
                   const value* m = arg(a, 0, "message");
                   throw template_error(m ? to_str(*m) : std::string("raise_exception() called"), no_position, true);
                 }));
  g.emplace_back("namespace", value::callable([](call_args& a) {
                   value ns = value::new_namespace();
                   for (const value& p : a.positional) {
                     if (!p.is_dict()) fail("namespace() takes a dict or keyword arguments");
                     for (const auto& [k, v] : *p.m) ns.set(k, v);
                   }
                   for (const auto& [k, v] : a.named) ns.set(k, v);
                   return ns;
                 }));
  g.emplace_back("dict", value::callable([](call_args& a) {
                   value d = value::new_dict();
                   for (const auto& [k, v] : a.named) d.set(k, v);
                   return d;
                 }));
  g.emplace_back("range", value::callable([](call_args& a) {
                   std::int64_t start = 0, stop = 0, step = 1;
                   if (a.positional.size() == 1) {
                     stop = need_int(a.positional[0], "range()");
                   } else if (a.positional.size() == 2 || a.positional.size() == 3) {
                     start = need_int(a.positional[0], "range()");
                     stop = need_int(a.positional[1], "range()");
                     if (a.positional.size() == 3) step = need_int(a.positional[2], "range()");
                   } else {
                     fail("range() takes 1 to 3 integers");
                   }
                   if (step == 0) fail("range() step must not be zero");
                   list out;
                   for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
                     if (out.size() >= 1'000'000) fail("range() is too long");
                     out.push_back(value::integer(i));
                   }
                   return value::new_list(std::move(out));
                 }));
  return g;
}

}  // namespace kairos::jinja
