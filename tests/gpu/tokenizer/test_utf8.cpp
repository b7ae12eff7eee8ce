// UTF-8 validation and repair used by the tokenizer's decoders.
#include <doctest/doctest.h>

#include <string>

#include "gpu/tokenizer/utf8.hpp"

namespace utf8 = kairos::utf8;

TEST_CASE("validation follows the Unicode well-formedness table") {
  CHECK(utf8::is_valid(""));
  CHECK(utf8::is_valid("ascii"));
  CHECK(utf8::is_valid("\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80"));  // é 中 😀
  CHECK_FALSE(utf8::is_valid("\xC0\xAF"));                        // overlong '/'
  CHECK_FALSE(utf8::is_valid("\xE0\x80\xAF"));                    // overlong
  CHECK_FALSE(utf8::is_valid("\xED\xA0\x80"));                    // surrogate U+D800
  CHECK_FALSE(utf8::is_valid("\xF4\x90\x80\x80"));                // above U+10FFFF
  CHECK_FALSE(utf8::is_valid("\xE4\xB8"));                        // truncated
  CHECK_FALSE(utf8::is_valid("\x80"));                            // lone continuation
}

TEST_CASE("repair replaces each maximal invalid subpart with one U+FFFD") {
  const std::string r(utf8::replacement_character);
  CHECK(utf8::replace_invalid("ok") == "ok");
  CHECK(utf8::replace_invalid("a\xFF" "b") == "a" + r + "b");
  CHECK(utf8::replace_invalid("\xE4\xB8" "x") == r + "x");          // truncated 3-byte: one U+FFFD
  CHECK(utf8::replace_invalid("\xF0\x9F\x98") == r);                // truncated 4-byte at the end
  CHECK(utf8::replace_invalid("\xED\xA0\x80") == r + r + r);        // surrogate: ED is not followed validly
  CHECK(utf8::replace_invalid("\x80\x80") == r + r);
  CHECK(utf8::is_valid(utf8::replace_invalid("\xC3\x28\xA0\xA1\xE2\x28\xA1\xF0\x28\x8C\xBC")));
}

TEST_CASE("an incomplete trailing character is measured, a broken one is not") {
  CHECK(utf8::incomplete_tail_length("") == 0);
  CHECK(utf8::incomplete_tail_length("abc") == 0);
  CHECK(utf8::incomplete_tail_length("a\xE4") == 1);
  CHECK(utf8::incomplete_tail_length("a\xE4\xB8") == 2);
  CHECK(utf8::incomplete_tail_length("a\xE4\xB8\xAD") == 0);  // complete
  CHECK(utf8::incomplete_tail_length("\xF0\x9F\x98") == 3);
  CHECK(utf8::incomplete_tail_length("\xF0\x9F\x98\x80") == 0);
  CHECK(utf8::incomplete_tail_length("\xE0\x80") == 0);  // can never complete (overlong)
  CHECK(utf8::incomplete_tail_length("\xFF") == 0);
  CHECK(utf8::incomplete_tail_length("\x80\x80\x80") == 0);
}

TEST_CASE("append and decode_at are inverse") {
  for (char32_t cp : {U'\0', U'A', U'\u00E9', U'\u4E2D', U'\U0001F600', U'\U0010FFFF'}) {
    std::string s;
    utf8::append(s, cp);
    CHECK(utf8::is_valid(s));
    std::size_t pos = 0;
    CHECK(utf8::decode_at(s, pos) == cp);
    CHECK(pos == s.size());
  }
}
