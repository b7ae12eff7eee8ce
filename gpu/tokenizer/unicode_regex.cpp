#include "gpu/tokenizer/unicode_regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "gpu/tokenizer/utf8.hpp"

namespace kairos {
namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

result<unicode_regex> unicode_regex::compile(const std::string& pattern, bool literal) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  // PCRE2 rejects UCP together with LITERAL; a literal has no classes anyway.
  uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error_code,
                                   &error_offset, nullptr);
  if (!code) {
    return make_error("bad regex /" + pattern + "/ at offset " + std::to_string(error_offset) + ": " +
                      pcre2_message(error_code));
  }
  // JIT is an optimisation only: without it pcre2_match interprets the pattern.
  (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  unicode_regex re;
  re.code_ = std::shared_ptr<void>(code, [](void* p) { pcre2_code_free(static_cast<pcre2_code*>(p)); });
  re.pattern_ = pattern;
  return re;
}

status unicode_regex::for_each_match(std::string_view text,
                                     const std::function<void(std::size_t, std::size_t)>& on_match) const {
  auto* code = static_cast<const pcre2_code*>(code_.get());
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(code, nullptr), &pcre2_match_data_free);
  if (!match) return make_error("out of memory for regex match data");
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t offset = 0;
  while (offset < text.size()) {
    // The caller guarantees valid UTF-8, so PCRE2 need not re-check it on
    // every call (which would make the loop quadratic).
    int rc = pcre2_match(code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, match.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) return make_error("regex /" + pattern_ + "/ failed: " + pcre2_message(rc));
    PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.get());
    std::size_t begin = ovector[0], end = ovector[1];
    if (end == begin) {
      std::size_t step = utf8::sequence_length(text, begin);
      offset = begin + (step ? step : 1);
      continue;
    }
    on_match(begin, end);
    offset = end;
  }
  return {};
}

}  // namespace kairos
