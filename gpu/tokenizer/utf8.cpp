#include "gpu/tokenizer/utf8.hpp"

#include <cstdint>

namespace kairos::utf8 {
namespace {

// What a lead byte promises: the sequence length and the allowed range of the
// second byte (Unicode Table 3-7); later bytes are always 80..BF.
struct lead_info {
  std::size_t length;  // 0: not a lead byte
  std::uint8_t second_lo;
  std::uint8_t second_hi;
};

lead_info lead(std::uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};  // no surrogates
  if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};  // nothing above U+10FFFF
  return {0, 0, 0};
}

// How many bytes starting at pos agree with the lead byte's promise (at most
// its length, and at least 1 when the lead byte itself is valid).
std::size_t matching_prefix(std::string_view text, std::size_t pos, const lead_info& info) {
  std::size_t k = 1;
  for (; k < info.length && pos + k < text.size(); ++k) {
    auto b = static_cast<std::uint8_t>(text[pos + k]);
    std::uint8_t lo = k == 1 ? info.second_lo : 0x80;
    std::uint8_t hi = k == 1 ? info.second_hi : 0xBF;
    if (b < lo || b > hi) break;
  }
  return k;
}

}  // namespace

std::size_t sequence_length(std::string_view text, std::size_t pos) {
  if (pos >= text.size()) return 0;
  lead_info info = lead(static_cast<std::uint8_t>(text[pos]));
  if (info.length == 0) return 0;
  return matching_prefix(text, pos, info) == info.length ? info.length : 0;
}

bool is_valid(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<std::uint8_t>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    std::size_t n = sequence_length(text, pos);
    if (n == 0) return false;
    pos += n;
  }
  return true;
}

std::string replace_invalid(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    lead_info info = lead(static_cast<std::uint8_t>(text[pos]));
    if (info.length == 0) {
      out += replacement_character;
      ++pos;
      continue;
    }
    std::size_t k = matching_prefix(text, pos, info);
    if (k == info.length) {
      out.append(text.substr(pos, k));
    } else {
      out += replacement_character;  // one U+FFFD per maximal invalid subpart
    }
    pos += k;
  }
  return out;
}

std::size_t incomplete_tail_length(std::string_view text) {
  std::size_t n = text.size();
  for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
    std::size_t pos = n - back;
    auto b = static_cast<std::uint8_t>(text[pos]);
    if (b >= 0x80 && b <= 0xBF) continue;  // continuation byte: look further back
    lead_info info = lead(b);
    if (info.length <= back) return 0;  // complete, or not a lead byte
    return matching_prefix(text, pos, info) == back ? back : 0;
  }
  return 0;
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

char32_t decode_at(std::string_view text, std::size_t& pos) {
  auto b0 = static_cast<std::uint8_t>(text[pos]);
  if (b0 < 0x80) {
    ++pos;
    return b0;
  }
  std::size_t n = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : 2;
  char32_t cp = b0 & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<std::uint8_t>(text[pos + k]) & 0x3F);
  pos += n;
  return cp;
}

}  // namespace kairos::utf8
