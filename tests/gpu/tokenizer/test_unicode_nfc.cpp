// to_nfc against Python's unicodedata.normalize("NFC", ...) on 600 random mixes
// (tests/gpu/tokenizer/nfc_vectors.txt) and on hand-picked cases.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "gpu/tokenizer/unicode_nfc.hpp"
#include "gpu/tokenizer/utf8.hpp"

using kairos::to_nfc;

namespace {

std::string from_hex_code_points(const std::string& hex_list) {
  std::istringstream in(hex_list);
  std::string out, word;
  while (in >> word) kairos::utf8::append(out, static_cast<char32_t>(std::stoul(word, nullptr, 16)));
  return out;
}

}  // namespace

TEST_CASE("matches Python's NFC on every reference case") {
  std::ifstream in(KAIROS_SOURCE_DIR "/tests/gpu/tokenizer/nfc_vectors.txt");
  REQUIRE(in);
  std::string line;
  int cases = 0;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.empty() || line[0] == '#') continue;
    auto semicolon = line.find(';');
    REQUIRE(semicolon != std::string::npos);
    std::string input = from_hex_code_points(line.substr(0, semicolon));
    std::string expected = from_hex_code_points(line.substr(semicolon + 1));
    CAPTURE(line_no);
    CAPTURE(line);
    CHECK(to_nfc(input) == expected);
    ++cases;
  }
  CHECK(cases == 600);
}

TEST_CASE("hand-picked NFC cases") {
  CHECK(to_nfc("") == "");
  CHECK(to_nfc("plain ASCII stays") == "plain ASCII stays");
  CHECK(to_nfc("caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87") == "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87");  // already NFC
  CHECK(to_nfc("e\xCC\x81") == "\xC3\xA9");                  // e + U+0301 -> é
  CHECK(to_nfc("\xE2\x84\xAB") == "\xC3\x85");               // U+212B ANGSTROM SIGN -> Å (singleton)
  CHECK(to_nfc("a\xCC\xA3\xCC\x82") == "\xE1\xBA\xAD");      // marks in either order -> ậ
  CHECK(to_nfc("a\xCC\x82\xCC\xA3") == "\xE1\xBA\xAD");
  CHECK(to_nfc("\xE0\xA5\x98") == "\xE0\xA4\x95\xE0\xA4\xBC");  // U+0958 is excluded from recomposition
  CHECK(to_nfc("\xEF\xAC\x81") == "\xEF\xAC\x81");           // ﬁ: compatibility forms are not NFC's business
  CHECK(to_nfc("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB") == "\xED\x95\x9C");  // Hangul jamo -> 한
}
