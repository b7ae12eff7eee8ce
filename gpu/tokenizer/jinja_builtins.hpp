#pragma once
// The filters, tests, methods and global functions a chat template can call:
// the subset of Jinja2's builtins (and of Python's str / dict methods) that
// Hugging Face chat templates use, plus transformers' own tojson and
// raise_exception. Each throws template_error on bad arguments.
#include <string_view>

#include "gpu/tokenizer/jinja_ast.hpp"
#include "gpu/tokenizer/jinja_value.hpp"

namespace kairos::jinja {

// nullptr when there is no such filter / test.
filter_fn find_filter(std::string_view name);
test_fn find_test(std::string_view name);

// obj.name as a bound method (str, dict and list methods), or undefined.
value find_method(const value& obj, std::string_view name);

// The functions every template sees: range, namespace, dict, raise_exception.
dict global_functions();

// The items of an iterable: list elements, dict keys, string characters; none
// for undefined. Anything else fails with "WHAT: 'T' object is not iterable"
// (no "WHAT: " when `what` is null).
list iterate(const value& v, const char* what);

// Python's str.strip family on the given characters (whitespace when empty
// `chars` is not given).
enum class strip_side { both, left, right };
std::string strip(std::string_view s, const value* chars, strip_side side);

}  // namespace kairos::jinja
