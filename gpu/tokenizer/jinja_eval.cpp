// The template evaluator.
#include "gpu/tokenizer/jinja_eval.hpp"

#include <cmath>
#include <unordered_map>

#include "gpu/tokenizer/jinja_builtins.hpp"
#include "gpu/tokenizer/jinja_error.hpp"

namespace kairos::jinja {

namespace {

[[noreturn]] void fail(const std::string& msg) { throw template_error(msg); }

[[noreturn]] void undefined_error(const value& v, const std::string& what) {
  if (!v.s.empty()) fail("'" + v.s + "' is undefined");
  fail(what + " of an undefined value");
}

std::int64_t as_int(const value& v) { return v.k == value::kind::boolean ? v.b : v.i; }
bool is_int(const value& v) { return v.k == value::kind::integer || v.k == value::kind::boolean; }

[[noreturn]] void bad_operands(const std::string& op, const value& l, const value& r) {
  if (l.is_undefined()) undefined_error(l, "'" + op + "'");
  if (r.is_undefined()) undefined_error(r, "'" + op + "'");
  fail("unsupported operand type(s) for " + op + ": '" + type_name(l) + "' and '" + type_name(r) + "'");
}

// Python's a < b for the types templates compare.
bool less_than(const value& a, const value& b) {
  if (a.is_number() && b.is_number()) {
    if (is_int(a) && is_int(b)) return as_int(a) < as_int(b);
    return a.as_double() < b.as_double();
  }
  if (a.is_string() && b.is_string()) return a.s < b.s;  // UTF-8 byte order is code point order
  if (a.is_list() && b.is_list()) {
    for (std::size_t n = 0; n < a.l->size() && n < b.l->size(); ++n) {
      if (less_than((*a.l)[n], (*b.l)[n])) return true;
      if (less_than((*b.l)[n], (*a.l)[n])) return false;
    }
    return a.l->size() < b.l->size();
  }
  bad_operands("<", a, b);
}

bool contains(const value& container, const value& item) {
  switch (container.k) {
    case value::kind::string:
      if (!item.is_string()) fail(std::string("'in <string>' requires a string on the left, got ") + type_name(item));
      return container.s.find(item.s) != std::string::npos;
    case value::kind::list:
      for (const value& x : *container.l)
        if (equals(x, item)) return true;
      return false;
    case value::kind::dict: return item.is_string() && container.find(item.s) != nullptr;
    case value::kind::undefined: return false;  // Undefined iterates as empty
    default: fail(std::string("argument of type '") + type_name(container) + "' is not iterable");
  }
}

// Python slice index normalisation for a sequence of `len` items.
void slice_bounds(std::int64_t len, const value* start, const value* stop, std::int64_t step, std::int64_t& b,
                  std::int64_t& e) {
  auto clamp = [&](const value* v, std::int64_t dflt, std::int64_t lo, std::int64_t hi) {
    if (!v || v->is_none()) return dflt;
    if (!is_int(*v)) fail(std::string("slice indices must be integers, got ") + type_name(*v));
    std::int64_t x = as_int(*v);
    if (x < 0) x += len;
    return std::min(std::max(x, lo), hi);
  };
  if (step > 0) {
    b = clamp(start, 0, 0, len);
    e = clamp(stop, len, 0, len);
  } else {
    b = clamp(start, len - 1, -1, len - 1);
    e = clamp(stop, -1, -1, len - 1);
    if (stop && !stop->is_none() && as_int(*stop) < -len) e = -1;
  }
}

class renderer {
 public:
  explicit renderer(const dict& variables) {
    scopes_.emplace_back();
    for (auto& [k, v] : global_functions()) scopes_.back()[k] = v;
    for (const auto& [k, v] : variables) scopes_.back()[k] = v;
  }

  enum class flow { normal, break_, continue_ };

  flow exec(const body& b, std::string& out) {
    for (const auto& n : b) {
      const flow f = exec(*n, out);
      if (f != flow::normal) return f;
    }
    return flow::normal;
  }

  flow exec(const node& n, std::string& out) {
    try {
      return exec_node(n, out);
    } catch (template_error& e) {
      if (e.pos == no_position) e.pos = n.pos;
      throw;
    }
  }

 private:
  // -- statements --

  flow exec_node(const node& n, std::string& out) {
    switch (n.k) {
      case node::kind::text: out += n.text; return flow::normal;
      case node::kind::output: out += to_str(eval(*n.exprs[0])); return flow::normal;
      case node::kind::if_:
        for (std::size_t c = 0; c < n.exprs.size(); ++c)
          if (eval(*n.exprs[c]).truthy()) return exec(n.bodies[c], out);
        if (n.bodies.size() > n.exprs.size()) return exec(n.bodies.back(), out);
        return flow::normal;
      case node::kind::for_: exec_for(n, out); return flow::normal;
      case node::kind::set: assign(n.names, eval(*n.exprs[0])); return flow::normal;
      case node::kind::set_attr: {
        value ns = lookup(n.names[0]);
        if (ns.k != value::kind::ns)
          fail("cannot set attribute '" + n.text + "' on '" + n.names[0] + "' (a " + type_name(ns) +
               "); only namespace() objects take attributes");
        ns.set(n.text, eval(*n.exprs[0]));
        return flow::normal;
      }
      case node::kind::set_block: {
        std::string captured;
        exec(n.bodies[0], captured);
        scopes_.back()[n.names[0]] = value::string(std::move(captured));
        return flow::normal;
      }
      case node::kind::macro: {
        const node* def = &n;
        scopes_.back()[n.text] = value::callable([this, def](call_args& a) { return call_macro(*def, a); });
        return flow::normal;
      }
      case node::kind::break_: return flow::break_;
      case node::kind::continue_: return flow::continue_;
      case node::kind::block: return exec(n.bodies[0], out);
    }
    return flow::normal;
  }

  void assign(const std::vector<std::string>& names, const value& v) {
    if (names.size() == 1) {
      scopes_.back()[names[0]] = v;
      return;
    }
    if (!v.is_list() || v.l->size() != names.size())
      fail("cannot unpack " + std::string(type_name(v)) + " into " + std::to_string(names.size()) + " names");
    for (std::size_t n = 0; n < names.size(); ++n) scopes_.back()[names[n]] = (*v.l)[n];
  }

  void exec_for(const node& n, std::string& out) {
    list items = iterate(eval(*n.exprs[0]), nullptr);
    scopes_.emplace_back();
    if (n.exprs.size() > 1) {  // {% for x in xs if cond %}: the loop sees only the kept items
      list kept;
      for (const value& item : items) {
        assign(n.names, item);
        if (eval(*n.exprs[1]).truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const std::int64_t len = std::int64_t(items.size());
    for (std::int64_t i = 0; i < len; ++i) {
      assign(n.names, items[std::size_t(i)]);
      value loop = value::new_dict();
      loop.set("index0", value::integer(i));
      loop.set("index", value::integer(i + 1));
      loop.set("revindex0", value::integer(len - i - 1));
      loop.set("revindex", value::integer(len - i));
      loop.set("first", value::boolean(i == 0));
      loop.set("last", value::boolean(i == len - 1));
      loop.set("length", value::integer(len));
      loop.set("depth", value::integer(1));
      loop.set("depth0", value::integer(0));
      loop.set("previtem", i > 0 ? items[std::size_t(i - 1)] : value::undefined("loop.previtem"));
      loop.set("nextitem", i + 1 < len ? items[std::size_t(i + 1)] : value::undefined("loop.nextitem"));
      loop.set("cycle", value::callable([i](call_args& a) {
                 if (a.positional.empty()) fail("loop.cycle() needs at least one value");
                 return a.positional[std::size_t(i) % a.positional.size()];
               }));
      scopes_.back()["loop"] = loop;
      if (exec(n.bodies[0], out) == flow::break_) break;
    }
    scopes_.pop_back();
    if (len == 0 && n.bodies.size() > 1) exec(n.bodies[1], out);
  }

  value call_macro(const node& def, call_args& a) {
    if (scopes_.size() > 200) fail("macro '" + def.text + "' recurses too deeply");
    if (a.positional.size() > def.names.size())
      fail("macro '" + def.text + "' takes " + std::to_string(def.names.size()) + " arguments, got " +
           std::to_string(a.positional.size()));
    std::unordered_map<std::string, value> scope;
    for (std::size_t p = 0; p < def.names.size(); ++p) {
      if (p < a.positional.size()) scope[def.names[p]] = a.positional[p];
      else if (def.exprs[p]) scope[def.names[p]] = eval(*def.exprs[p]);
      else scope[def.names[p]] = value::undefined(def.names[p]);
    }
    for (const auto& [k, v] : a.named) {
      if (std::find(def.names.begin(), def.names.end(), k) == def.names.end())
        fail("macro '" + def.text + "' has no parameter '" + k + "'");
      scope[k] = v;
    }
    scopes_.push_back(std::move(scope));
    std::string out;
    try {
      exec(def.bodies[0], out);
    } catch (...) {
      scopes_.pop_back();
      throw;
    }
    scopes_.pop_back();
    return value::string(std::move(out));
  }

  value lookup(const std::string& name) const {
    for (auto s = scopes_.rbegin(); s != scopes_.rend(); ++s)
      if (auto it = s->find(name); it != s->end()) return it->second;
    return value::undefined(name);
  }

  // -- expressions --

  value eval(const expr& e) {
    try {
      return eval_expr(e);
    } catch (template_error& err) {
      if (err.pos == no_position) err.pos = e.pos;
      throw;
    }
  }

  static value get_attr(const value& obj, const std::string& name) {
    switch (obj.k) {
      case value::kind::undefined: undefined_error(obj, "attribute '" + name + "'");
      case value::kind::dict: {
        value m = find_method(obj, name);  // Jinja tries getattr before the item
        if (!m.is_undefined()) return m;
        if (const value* v = obj.find(name)) return *v;
        return value::undefined(name);
      }
      case value::kind::ns:
        if (const value* v = obj.find(name)) return *v;
        return value::undefined(name);
      default: return find_method(obj, name);
    }
  }

  static value get_item(const value& obj, const value& key) {
    switch (obj.k) {
      case value::kind::undefined: undefined_error(obj, "item [" + to_repr(key) + "]");
      case value::kind::dict:
      case value::kind::ns: {
        if (!key.is_string()) return value::undefined();
        if (const value* v = obj.find(key.s)) return *v;
        return obj.k == value::kind::dict ? find_method(obj, key.s) : value::undefined(key.s);
      }
      case value::kind::list:
      case value::kind::string: {
        if (!is_int(key)) {
          if (key.is_string() && obj.is_string()) return find_method(obj, key.s);
          fail(std::string(type_name(obj)) + " indices must be integers, got " + type_name(key));
        }
        std::int64_t i = as_int(key);
        if (obj.is_list()) {
          const std::int64_t n = std::int64_t(obj.l->size());
          if (i < 0) i += n;
          return i >= 0 && i < n ? (*obj.l)[std::size_t(i)] : value::undefined();
        }
        const auto cps = code_point_offsets(obj.s);
        const std::int64_t n = std::int64_t(cps.size()) - 1;
        if (i < 0) i += n;
        if (i < 0 || i >= n) return value::undefined();
        return value::string(obj.s.substr(cps[std::size_t(i)], cps[std::size_t(i) + 1] - cps[std::size_t(i)]));
      }
      default: return value::undefined();
    }
  }

  value eval_slice(const expr& e) {
    const value obj = eval(*e.args[0]);
    value parts[3];
    for (int p = 0; p < 3; ++p)
      if (e.args[std::size_t(p) + 1]) parts[p] = eval(*e.args[std::size_t(p) + 1]);
    const value* start = e.args[1] ? &parts[0] : nullptr;
    const value* stop = e.args[2] ? &parts[1] : nullptr;
    std::int64_t step = 1;
    if (e.args[3] && !parts[2].is_none()) {
      if (!is_int(parts[2])) fail("slice step must be an integer");
      step = as_int(parts[2]);
      if (step == 0) fail("slice step cannot be zero");
    }
    if (obj.is_undefined()) undefined_error(obj, "slice");
    std::vector<std::size_t> cps;
    std::int64_t len;
    if (obj.is_list()) len = std::int64_t(obj.l->size());
    else if (obj.is_string()) {
      cps = code_point_offsets(obj.s);
      len = std::int64_t(cps.size()) - 1;
    } else fail(std::string("'") + type_name(obj) + "' object is not subscriptable");
    std::int64_t b, end;
    slice_bounds(len, start, stop, step, b, end);
    list items;
    std::string text;
    for (std::int64_t i = b; step > 0 ? i < end : i > end; i += step) {
      if (obj.is_list()) items.push_back((*obj.l)[std::size_t(i)]);
      else text += obj.s.substr(cps[std::size_t(i)], cps[std::size_t(i) + 1] - cps[std::size_t(i)]);
    }
    return obj.is_list() ? value::new_list(std::move(items)) : value::string(std::move(text));
  }

  call_args eval_args(const expr& e, std::size_t first) {
    call_args a;
    for (std::size_t p = first; p < e.args.size(); ++p) a.positional.push_back(eval(*e.args[p]));
    for (const auto& [k, x] : e.kwargs) a.named.emplace_back(k, eval(*x));
    return a;
  }

  value eval_expr(const expr& e) {
    switch (e.k) {
      case expr::kind::literal: return e.lit;
      case expr::kind::name: return lookup(e.name);
      case expr::kind::list: {
        list items;
        for (const auto& x : e.args) items.push_back(eval(*x));
        return e.tuple ? value::new_tuple(std::move(items)) : value::new_list(std::move(items));
      }
      case expr::kind::dict: {
        value d = value::new_dict();
        for (std::size_t p = 0; p + 1 < e.args.size(); p += 2) {
          const value k = eval(*e.args[p]);
          if (!k.is_string()) fail(std::string("dict keys must be strings here, got ") + type_name(k));
          d.set(k.s, eval(*e.args[p + 1]));
        }
        return d;
      }
      case expr::kind::attr: return get_attr(eval(*e.args[0]), e.name);
      case expr::kind::subscript: return get_item(eval(*e.args[0]), eval(*e.args[1]));
      case expr::kind::slice: return eval_slice(e);
      case expr::kind::call: {
        value callee;
        if (e.args[0]->k == expr::kind::attr) {
          const value obj = eval(*e.args[0]->args[0]);
          callee = get_attr(obj, e.args[0]->name);
          if (callee.k != value::kind::function)
            fail(std::string("'") + type_name(obj) + "' object has no method '" + e.args[0]->name + "'");
        } else {
          callee = eval(*e.args[0]);
          if (callee.is_undefined()) undefined_error(callee, "call");
          if (callee.k != value::kind::function) fail(std::string("'") + type_name(callee) + "' object is not callable");
        }
        call_args a = eval_args(e, 1);
        return (*callee.f)(a);
      }
      case expr::kind::filter: {
        const value input = eval(*e.args[0]);
        call_args a = eval_args(e, 1);
        return e.filter(input, a);
      }
      case expr::kind::test: {
        const value input = eval(*e.args[0]);
        call_args a = eval_args(e, 1);
        return value::boolean(e.test(input, a) != e.negated);
      }
      case expr::kind::unary: {
        const value v = eval(*e.args[0]);
        if (e.name == "not") return value::boolean(!v.truthy());
        if (v.k == value::kind::floating) return value::floating(e.name == "-" ? -v.d : v.d);
        if (is_int(v)) return value::integer(e.name == "-" ? -as_int(v) : as_int(v));
        if (v.is_undefined()) undefined_error(v, "unary '" + e.name + "'");
        fail("bad operand type for unary " + e.name + ": '" + type_name(v) + "'");
      }
      case expr::kind::binary: return eval_binary(e);
      case expr::kind::compare: {
        value left = eval(*e.args[0]);
        for (std::size_t p = 0; p < e.ops.size(); ++p) {
          value right = eval(*e.args[p + 1]);
          const std::string& op = e.ops[p];
          bool ok;
          if (op == "==") ok = equals(left, right);
          else if (op == "!=") ok = !equals(left, right);
          else if (op == "<") ok = less_than(left, right);
          else if (op == ">") ok = less_than(right, left);
          else if (op == "<=") ok = !less_than(right, left);
          else if (op == ">=") ok = !less_than(left, right);
          else if (op == "in") ok = contains(right, left);
          else ok = !contains(right, left);
          if (!ok) return value::boolean(false);
          left = std::move(right);
        }
        return value::boolean(true);
      }
      case expr::kind::cond:
        if (eval(*e.args[1]).truthy()) return eval(*e.args[0]);
        return e.args[2] ? eval(*e.args[2]) : value::undefined();
    }
    fail("unknown expression");
  }

  value eval_binary(const expr& e) {
    const std::string& op = e.name;
    value l = eval(*e.args[0]);
    if (op == "and") return l.truthy() ? eval(*e.args[1]) : l;
    if (op == "or") return l.truthy() ? l : eval(*e.args[1]);
    const value r = eval(*e.args[1]);
    if (op == "~") return value::string(to_str(l) + to_str(r));
    const bool nums = l.is_number() && r.is_number();
    const bool ints = is_int(l) && is_int(r);
    if (op == "+") {
      if (ints) return value::integer(as_int(l) + as_int(r));
      if (nums) return value::floating(l.as_double() + r.as_double());
      if (l.is_string() && r.is_string()) return value::string(l.s + r.s);
      if (l.is_list() && r.is_list()) {
        list items = *l.l;
        items.insert(items.end(), r.l->begin(), r.l->end());
        return value::new_list(std::move(items));
      }
      bad_operands(op, l, r);
    }
    if (op == "-") {
      if (ints) return value::integer(as_int(l) - as_int(r));
      if (nums) return value::floating(l.as_double() - r.as_double());
      bad_operands(op, l, r);
    }
    if (op == "*") {
      if (ints) return value::integer(as_int(l) * as_int(r));
      if (nums) return value::floating(l.as_double() * r.as_double());
      const value& seq = is_int(l) ? r : l;
      const value& times = is_int(l) ? l : r;
      if (is_int(times) && (seq.is_string() || seq.is_list())) {
        const std::int64_t n = as_int(times);
        if (n > 0 && (seq.is_string() ? seq.s.size() : seq.l->size()) * std::size_t(n) > (std::size_t(1) << 26))
          fail("repetition result is too large");
        if (seq.is_string()) {
          std::string out;
          for (std::int64_t k = 0; k < n; ++k) out += seq.s;
          return value::string(std::move(out));
        }
        list items;
        for (std::int64_t k = 0; k < n; ++k) items.insert(items.end(), seq.l->begin(), seq.l->end());
        return value::new_list(std::move(items));
      }
      bad_operands(op, l, r);
    }
    if (!nums) bad_operands(op, l, r);
    if (op == "/") {
      if (r.as_double() == 0) fail("division by zero");
      return value::floating(l.as_double() / r.as_double());
    }
    if (op == "//" || op == "%") {
      if (r.as_double() == 0) fail(op == "//" ? "integer division by zero" : "modulo by zero");
      if (ints) {
        const std::int64_t a = as_int(l), b = as_int(r);
        std::int64_t q = a / b, m = a % b;
        if (m != 0 && ((m < 0) != (b < 0))) {  // Python floors toward negative infinity
          --q;
          m += b;
        }
        return value::integer(op == "//" ? q : m);
      }
      const double a = l.as_double(), b = r.as_double();
      if (op == "//") return value::floating(std::floor(a / b));
      double m = std::fmod(a, b);
      if (m != 0 && ((m < 0) != (b < 0))) m += b;
      return value::floating(m);
    }
    if (op == "**") {
      if (ints && as_int(r) >= 0 && as_int(r) <= 64) {
        std::int64_t out = 1;
        for (std::int64_t k = 0; k < as_int(r); ++k) out *= as_int(l);
        return value::integer(out);
      }
      return value::floating(std::pow(l.as_double(), r.as_double()));
    }
    bad_operands(op, l, r);
  }

  std::vector<std::unordered_map<std::string, value>> scopes_;
};

}  // namespace

std::string render(const body& program, const dict& variables) {
  renderer r(variables);
  std::string out;
  r.exec(program, out);  // a stray break/continue outside a loop just stops, as Jinja's loopcontrols
  return out;
}

}  // namespace kairos::jinja
