#pragma once
// Renders a parsed chat template: walks the statements of jinja_ast.hpp with
// Jinja2's scoping (a for loop and a macro call open a scope; if does not;
// namespace() objects carry values out of loops) and Python's operator
// semantics.
#include <string>

#include "gpu/tokenizer/jinja_ast.hpp"
#include "gpu/tokenizer/jinja_value.hpp"

namespace kairos::jinja {

// `variables`: the names the template sees (messages, add_generation_prompt,
// ...), over the global functions of jinja_builtins. Throws template_error
// with the position of the failing expression or statement.
std::string render(const body& program, const dict& variables);

}  // namespace kairos::jinja
