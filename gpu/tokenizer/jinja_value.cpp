// Python semantics for template values: truthiness, str()/repr(), json.dumps
// and ==. Byte-exact agreement with CPython matters here, because the
// rendered prompt is tokenized and a different float or quote style changes
// the tokens the model sees.
#include "gpu/tokenizer/jinja_value.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "gpu/tokenizer/jinja_error.hpp"
#include "gpu/tokenizer/utf8.hpp"

namespace kairos::jinja {

value value::undefined(std::string name) {
  value v;
  v.s = std::move(name);
  return v;
}
value value::none() {
  value v;
  v.k = kind::none;
  return v;
}
value value::boolean(bool x) {
  value v;
  v.k = kind::boolean;
  v.b = x;
  return v;
}
value value::integer(std::int64_t x) {
  value v;
  v.k = kind::integer;
  v.i = x;
  return v;
}
value value::floating(double x) {
  value v;
  v.k = kind::floating;
  v.d = x;
  return v;
}
value value::string(std::string x) {
  value v;
  v.k = kind::string;
  v.s = std::move(x);
  return v;
}
value value::new_list(jinja::list items) {
  value v;
  v.k = kind::list;
  v.l = std::make_shared<jinja::list>(std::move(items));
  return v;
}
value value::new_tuple(jinja::list items) {
  value v = new_list(std::move(items));
  v.tuple = true;
  return v;
}
value value::new_dict(jinja::dict items) {
  value v;
  v.k = kind::dict;
  v.m = std::make_shared<jinja::dict>(std::move(items));
  return v;
}
value value::new_namespace(jinja::dict items) {
  value v = new_dict(std::move(items));
  v.k = kind::ns;
  return v;
}
value value::callable(jinja::function fn) {
  value v;
  v.k = kind::function;
  v.f = std::make_shared<const jinja::function>(std::move(fn));
  return v;
}

value value::from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return none();
    case nlohmann::ordered_json::value_t::boolean: return boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return integer(j.get<std::int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto u = j.get<std::uint64_t>();
      return u <= std::uint64_t(INT64_MAX) ? integer(std::int64_t(u)) : floating(double(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return floating(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      jinja::list items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e));
      return new_list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      jinja::dict items;
      items.reserve(j.size());
      for (const auto& [k, e] : j.items()) items.emplace_back(k, from_json(e));
      return new_dict(std::move(items));
    }
    default: return none();  // binary / discarded: not produced by a JSON parser
  }
}

bool value::truthy() const {
  switch (k) {
    case kind::undefined:
    case kind::none: return false;
    case kind::boolean: return b;
    case kind::integer: return i != 0;
    case kind::floating: return d != 0;
    case kind::string: return !s.empty();
    case kind::list: return !l->empty();
    case kind::dict: return !m->empty();
    case kind::ns:
    case kind::function: return true;
  }
  return false;
}

double value::as_double() const {
  switch (k) {
    case kind::boolean: return b ? 1 : 0;
    case kind::integer: return double(i);
    case kind::floating: return d;
    default: return 0;
  }
}

value* value::find(std::string_view key) const {
  if ((k != kind::dict && k != kind::ns) || !m) return nullptr;
  for (auto& [name, v] : *m)
    if (name == key) return &v;
  return nullptr;
}

void value::set(const std::string& key, value v) const {
  if (value* slot = find(key)) *slot = std::move(v);
  else m->emplace_back(key, std::move(v));
}

const char* type_name(const value& v) {
  switch (v.k) {
    case value::kind::undefined: return "Undefined";
    case value::kind::none: return "NoneType";
    case value::kind::boolean: return "bool";
    case value::kind::integer: return "int";
    case value::kind::floating: return "float";
    case value::kind::string: return "str";
    case value::kind::list: return "list";
    case value::kind::dict: return "dict";
    case value::kind::ns: return "Namespace";
    case value::kind::function: return "function";
  }
  return "?";
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // The shortest round-trip digits, then CPython's layout rule ('r' format):
  // positional when -4 <= exponent < 16, else d.ddde+XX.
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const auto e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp = std::stoi(sci.substr(e + 1));
  if (exp >= -4 && exp < 16) {
    std::string out;
    if (exp < 0) {
      out = "0." + std::string(size_t(-exp - 1), '0') + digits;
    } else if (size_t(exp) + 1 >= digits.size()) {
      out = digits + std::string(size_t(exp) + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, size_t(exp) + 1) + "." + digits.substr(size_t(exp) + 1);
    }
    return sign + out;
  }
  std::string mant = digits.substr(0, 1);
  if (digits.size() > 1) mant += "." + digits.substr(1);
  char ebuf[16];
  std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  return sign + mant + ebuf;
}

namespace {

std::string str_repr(const std::string& s) {
  // CPython picks single quotes unless the text has ' and no ".
  const char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == static_cast<unsigned char>(q)) out += std::string("\\") + q;
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else out += char(c);
  }
  out += q;
  return out;
}

void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (std::size_t p = 0; p < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[p]);
    if (c >= 0x80 && ensure_ascii) {
      const std::size_t n = utf8::sequence_length(s, p);
      char32_t cp = 0xFFFD;
      if (n > 0) cp = utf8::decode_at(s, p);
      else ++p;
      char buf[16];
      if (cp >= 0x10000) {
        const char32_t v = cp - 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", unsigned(0xD800 + (v >> 10)), unsigned(0xDC00 + (v & 0x3FF)));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(cp));
      }
      out += buf;
      continue;
    }
    ++p;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || (c == 0x7f && ensure_ascii)) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  out += '"';
}

void json_dump(std::string& out, const value& v, const json_dump_options& o, int level) {
  const std::string item_sep = !o.item_separator.empty() ? o.item_separator : (o.indent >= 0 ? "," : ", ");
  auto newline = [&](int lvl) {
    if (o.indent < 0) return;
    out += '\n';
    out.append(std::size_t(o.indent) * std::size_t(lvl), ' ');
  };
  switch (v.k) {
    case value::kind::none: out += "null"; return;
    case value::kind::boolean: out += v.b ? "true" : "false"; return;
    case value::kind::integer: out += std::to_string(v.i); return;
    case value::kind::floating:
      if (std::isnan(v.d)) out += "NaN";
      else if (std::isinf(v.d)) out += v.d > 0 ? "Infinity" : "-Infinity";
      else out += float_repr(v.d);
      return;
    case value::kind::string: json_string(out, v.s, o.ensure_ascii); return;
    case value::kind::list: {
      if (v.l->empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (std::size_t n = 0; n < v.l->size(); ++n) {
        if (n) out += item_sep;
        newline(level + 1);
        json_dump(out, (*v.l)[n], o, level + 1);
      }
      newline(level);
      out += ']';
      return;
    }
    case value::kind::dict: {
      if (v.m->empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<std::string, value>*> entries;
      for (const auto& e : *v.m) entries.push_back(&e);
      if (o.sort_keys)
        std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
      out += '{';
      for (std::size_t n = 0; n < entries.size(); ++n) {
        if (n) out += item_sep;
        newline(level + 1);
        json_string(out, entries[n]->first, o.ensure_ascii);
        out += o.key_separator;
        json_dump(out, entries[n]->second, o, level + 1);
      }
      newline(level);
      out += '}';
      return;
    }
    default:
      throw template_error(std::string("Object of type ") + type_name(v) + " is not JSON serializable");
  }
}

}  // namespace

std::string to_repr(const value& v) {
  switch (v.k) {
    case value::kind::string: return str_repr(v.s);
    case value::kind::list: {
      std::string out = v.tuple ? "(" : "[";
      for (std::size_t n = 0; n < v.l->size(); ++n) out += (n ? ", " : "") + to_repr((*v.l)[n]);
      if (v.tuple && v.l->size() == 1) out += ",";
      return out + (v.tuple ? ")" : "]");
    }
    case value::kind::dict: {
      std::string out = "{";
      for (std::size_t n = 0; n < v.m->size(); ++n)
        out += (n ? ", " : "") + str_repr((*v.m)[n].first) + ": " + to_repr((*v.m)[n].second);
      return out + "}";
    }
    default: return to_str(v);
  }
}

std::string to_str(const value& v) {
  switch (v.k) {
    case value::kind::undefined: return "";
    case value::kind::none: return "None";
    case value::kind::boolean: return v.b ? "True" : "False";
    case value::kind::integer: return std::to_string(v.i);
    case value::kind::floating: return float_repr(v.d);
    case value::kind::string: return v.s;
    case value::kind::ns: return "<Namespace>";
    case value::kind::function: return "<function>";
    default: return to_repr(v);
  }
}

std::string to_json(const value& v, const json_dump_options& opts) {
  std::string out;
  json_dump(out, v, opts, 0);
  return out;
}

bool equals(const value& a, const value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.k != value::kind::floating && b.k != value::kind::floating)
      return (a.k == value::kind::boolean ? a.b : a.i) == (b.k == value::kind::boolean ? b.b : b.i);
    return a.as_double() == b.as_double();
  }
  if (a.k != b.k) return false;
  switch (a.k) {
    case value::kind::undefined:
    case value::kind::none: return true;
    case value::kind::string: return a.s == b.s;
    case value::kind::list:
      if (a.l->size() != b.l->size()) return false;
      for (std::size_t n = 0; n < a.l->size(); ++n)
        if (!equals((*a.l)[n], (*b.l)[n])) return false;
      return true;
    case value::kind::dict:
      if (a.m->size() != b.m->size()) return false;
      for (const auto& [k, x] : *a.m) {
        const value* y = b.find(k);
        if (!y || !equals(x, *y)) return false;
      }
      return true;
    default: return a.m == b.m && a.f == b.f;  // identity, as Python's default ==
  }
}

std::vector<std::size_t> code_point_offsets(std::string_view s) {
  std::vector<std::size_t> out;
  out.reserve(s.size() + 1);
  for (std::size_t p = 0; p < s.size();) {
    out.push_back(p);
    const std::size_t n = utf8::sequence_length(s, p);
    p += n ? n : 1;  // an invalid byte counts as one character
  }
  out.push_back(s.size());
  return out;
}

}  // namespace kairos::jinja
