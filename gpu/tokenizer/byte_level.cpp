#include "gpu/tokenizer/byte_level.hpp"

#include <array>

#include "gpu/tokenizer/utf8.hpp"

namespace kairos::byte_level {
namespace {

bool stands_for_itself(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

struct alphabet {
  std::array<char32_t, 256> byte_to_char{};
  std::array<std::string, 256> byte_to_utf8;
  std::array<std::int16_t, 0x200> char_to_byte{};  // every alphabet character is below U+0200

  alphabet() {
    char_to_byte.fill(-1);
    char32_t next_free = 0x100;
    for (int b = 0; b < 256; ++b) {
      char32_t c = stands_for_itself(b) ? static_cast<char32_t>(b) : next_free++;
      byte_to_char[b] = c;
      char_to_byte[c] = static_cast<std::int16_t>(b);
      utf8::append(byte_to_utf8[b], c);
    }
  }
};

const alphabet& the_alphabet() {
  static const alphabet a;
  return a;
}

}  // namespace

char32_t char_for_byte(std::uint8_t b) { return the_alphabet().byte_to_char[b]; }

std::optional<std::uint8_t> byte_for_char(char32_t c) {
  if (c >= the_alphabet().char_to_byte.size()) return std::nullopt;
  std::int16_t b = the_alphabet().char_to_byte[c];
  if (b < 0) return std::nullopt;
  return static_cast<std::uint8_t>(b);
}

std::string encode(std::string_view bytes) {
  const alphabet& a = the_alphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) out += a.byte_to_utf8[static_cast<std::uint8_t>(ch)];
  return out;
}

std::optional<std::string> decode(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (std::size_t pos = 0; pos < token.size();) {
    if (utf8::sequence_length(token, pos) == 0) return std::nullopt;
    auto b = byte_for_char(utf8::decode_at(token, pos));
    if (!b) return std::nullopt;
    out += static_cast<char>(*b);
  }
  return out;
}

}  // namespace kairos::byte_level
