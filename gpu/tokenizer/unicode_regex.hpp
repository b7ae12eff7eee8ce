#pragma once
// A compiled PCRE2 pattern in UTF + UCP mode (so \s, \w and \d are Unicode
// aware and \p{L}, \p{N} work), JIT-compiled when PCRE2 supports it. Shared,
// immutable and thread-safe: each search makes its own match data.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "gpu/base/result.hpp"

namespace kairos {

class unicode_regex {
 public:
  // `literal`: match `pattern` as plain text (Hugging Face's {"String": ...}).
  static result<unicode_regex> compile(const std::string& pattern, bool literal = false);

  // Calls on_match(begin, end) for each successive non-overlapping match in
  // `text`, which must be valid UTF-8. An empty match advances one character.
  // Returns an error only if PCRE2 reports one (e.g. its JIT stack ran out).
  status for_each_match(std::string_view text, const std::function<void(std::size_t, std::size_t)>& on_match) const;

  const std::string& pattern() const { return pattern_; }

 private:
  std::shared_ptr<void> code_;  // pcre2_code_8, freed by its deleter
  std::string pattern_;
};

}  // namespace kairos
