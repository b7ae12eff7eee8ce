#pragma once
// The error a chat template raises while it is parsed or rendered. It is
// thrown inside the jinja_* files only; chat_template catches it and returns
// a result, so no exception leaves the tokenizer library.
#include <cstddef>
#include <stdexcept>
#include <string>

namespace kairos::jinja {

inline constexpr std::size_t no_position = std::size_t(-1);

struct template_error : std::runtime_error {
  // `pos`: byte offset in the template source (no_position when unknown;
  // the renderer then uses the enclosing statement's). `raised`: the
  // template called raise_exception(), so the message is the template's own.
  template_error(std::string message, std::size_t pos = no_position, bool raised = false)
      : std::runtime_error(std::move(message)), pos(pos), raised(raised) {}
  std::size_t pos;
  bool raised;
};

}  // namespace kairos::jinja
