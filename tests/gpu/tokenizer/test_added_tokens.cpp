// added_token_matcher: leftmost-longest matching and lstrip / rstrip /
// single_word, checked on the parts it cuts the text into.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "gpu/tokenizer/added_tokens.hpp"

using kairos::added_token;
using kairos::added_token_matcher;
using parts = std::vector<std::pair<std::string, int>>;  // (text, id); id -1: plain text

namespace {

parts split(const added_token_matcher& m, const std::string& text) {
  parts out;
  for (const auto& p : m.split(text)) out.emplace_back(std::string(p.text), p.id);
  return out;
}

added_token token(int id, const char* content) {
  added_token t;
  t.id = id;
  t.content = content;
  return t;
}

}  // namespace

TEST_CASE("no added tokens: the text is one plain part") {
  added_token_matcher m;
  CHECK(split(m, "hello") == parts{{"hello", -1}});
  CHECK(split(m, "") == parts{{"", -1}});
}

TEST_CASE("leftmost match wins, and the longest one at that position") {
  added_token_matcher m({token(1, "<a>"), token(2, "<a><b>"), token(3, "b>")});
  CHECK(split(m, "x<a><b>y") == parts{{"x", -1}, {"<a><b>", 2}, {"y", -1}});
  CHECK(split(m, "<a><c>") == parts{{"<a>", 1}, {"<c>", -1}});
  CHECK(split(m, "<a><a>") == parts{{"<a>", 1}, {"<a>", 1}});
  CHECK(split(m, "<a") == parts{{"<a", -1}});
}

TEST_CASE("lstrip and rstrip swallow the whitespace beside the token") {
  added_token left = token(7, "<m>");
  left.lstrip = true;
  added_token right = token(8, "<n>");
  right.rstrip = true;
  added_token_matcher m({left, right});
  CHECK(split(m, "hi  <m> there") == parts{{"hi", -1}, {"  <m>", 7}, {" there", -1}});
  CHECK(split(m, "hi <n>  there") == parts{{"hi ", -1}, {"<n>", 8}, {"there", -1}});
  CHECK(split(m, "   <m>") == parts{{"   <m>", 7}});
}

TEST_CASE("single_word tokens only match outside words") {
  added_token ok = token(5, "ok");
  ok.single_word = true;
  added_token_matcher m({ok});
  CHECK(split(m, "ok fine") == parts{{"ok", 5}, {" fine", -1}});
  CHECK(split(m, "book") == parts{{"book", -1}});
  CHECK(split(m, "okay") == parts{{"okay", -1}});
  CHECK(split(m, "(ok)") == parts{{"(", -1}, {"ok", 5}, {")", -1}});
}

TEST_CASE("thousands of tokens sharing a first byte stay fast to match") {
  std::vector<added_token> many;
  for (int i = 0; i < 20000; ++i) many.push_back(token(i, ("<|reserved_" + std::to_string(i) + "|>").c_str()));
  added_token_matcher m(many);
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "<|reserved_" + std::to_string(i * 7) + "|> < <| text ";
  auto cut = m.split(text);
  int matched = 0;
  for (const auto& p : cut) matched += p.id >= 0;
  CHECK(matched == 2000);
  CHECK(cut[0].id == 0);
  CHECK(cut[2].id == 7);
}
