#pragma once
// Recursive-descent parser for the Jinja2 subset chat templates use:
// if/elif/else, for (with else, an inline if filter, tuple targets), set
// (names, namespace attributes, blocks), macro, break/continue, and
// generation; expressions with Jinja's precedence (conditional, or, and,
// not, comparisons, + -, ~, * / // %, **, unary -, then postfix . [] ()
// and | filters / is tests).
#include <string_view>

#include "gpu/tokenizer/jinja_ast.hpp"
#include "gpu/tokenizer/jinja_lexer.hpp"

namespace kairos::jinja {

// Throws template_error with the offending position: a syntax error, a tag
// that is not closed, an unknown tag, filter or test.
body parse(const lexed_template& lexed);

}  // namespace kairos::jinja
