#pragma once
// UTF-8 helpers shared by the tokenizer: validation that follows the Unicode
// well-formedness table (no overlongs, no surrogates, nothing above U+10FFFF)
// and repair that replaces each maximal invalid subpart with U+FFFD, the same
// policy as WHATWG decoders and Python's errors="replace".
#include <cstddef>
#include <string>
#include <string_view>

namespace kairos::utf8 {

inline constexpr std::string_view replacement_character = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed sequence that starts at text[pos], or 0 when the
// bytes there are not a complete well-formed sequence.
std::size_t sequence_length(std::string_view text, std::size_t pos);

bool is_valid(std::string_view text);

// `text` with every maximal invalid subpart replaced by U+FFFD.
std::string replace_invalid(std::string_view text);

// Number of trailing bytes of `text` (0..3) that are the start of a well-formed
// sequence whose remaining bytes have not arrived yet.
std::size_t incomplete_tail_length(std::string_view text);

// Appends the UTF-8 encoding of `cp` (which must be a Unicode scalar value).
void append(std::string& out, char32_t cp);

// Decodes the well-formed sequence at text[pos] and advances pos past it.
// Precondition: sequence_length(text, pos) > 0.
char32_t decode_at(std::string_view text, std::size_t& pos);

}  // namespace kairos::utf8
