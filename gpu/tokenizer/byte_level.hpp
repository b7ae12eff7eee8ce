#pragma once
// GPT-2's byte-level alphabet: every byte value is shown as one printable
// Unicode character, so a vocabulary of strings can name arbitrary bytes.
// Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls,
// space, DEL, NBSP, soft hyphen, ...) map in byte order to U+0100 onwards,
// which is why a space shows up as "Ġ" (U+0120) in vocab.json files.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kairos::byte_level {

// The code point that stands for byte `b`.
char32_t char_for_byte(std::uint8_t b);

// The byte that code point `c` stands for, if it is part of the alphabet.
std::optional<std::uint8_t> byte_for_char(char32_t c);

// Each byte of `bytes` as its alphabet character, UTF-8 encoded.
std::string encode(std::string_view bytes);

// The bytes a byte-level token string stands for. Returns nullopt when the
// string has a character outside the alphabet (or is not valid UTF-8); the
// Hugging Face decoder then falls back to the token's own UTF-8 bytes.
std::optional<std::string> decode(std::string_view token);

}  // namespace kairos::byte_level
