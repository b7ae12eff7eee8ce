// pre_tokenizer: the GPT-2, Llama-3 and Qwen2 split patterns and the Hugging
// Face Split behaviors.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gpu/tokenizer/pre_tokenizer.hpp"

using kairos::pre_tokenizer;
using json = nlohmann::json;
using pieces = std::vector<std::string>;

namespace {

pieces split_with(const json& spec, const std::string& text) {
  auto pre = pre_tokenizer::from_json(spec);
  REQUIRE_MESSAGE(pre.ok(), pre.message());
  pieces out;
  REQUIRE(pre->split(text, out).ok());
  return out;
}

json regex_split(const char* pattern) {
  return {{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}};
}

json string_split(const char* delimiter, const char* behavior, bool invert = false) {
  return {{"type", "Split"}, {"pattern", {{"String", delimiter}}}, {"behavior", behavior}, {"invert", invert}};
}

}  // namespace

TEST_CASE("GPT-2 pattern: letters, numbers and contractions keep a leading space") {
  auto gpt2 = pre_tokenizer::gpt2();
  REQUIRE(gpt2.ok());
  pieces out;
  REQUIRE(gpt2->split("Hello world 12345 don't", out).ok());
  CHECK(out == pieces{"Hello", " world", " 12345", " don", "'t"});
  out.clear();
  // \s+(?!\S): the last whitespace of a run goes with what follows (a
  // space joins the word; a newline becomes a piece of its own).
  REQUIRE(gpt2->split("a   b\n\nc", out).ok());
  CHECK(out == pieces{"a", "  ", " b", "\n", "\n", "c"});
}

TEST_CASE("Llama-3 pattern: digits in groups of three, case-insensitive contractions") {
  pieces out = split_with(regex_split(kairos::llama3_split_pattern), "Hello world 12345 DON'T");
  CHECK(out == pieces{"Hello", " world", " ", "123", "45", " DON", "'T"});
}

TEST_CASE("Qwen2/Qwen3 pattern: one digit per piece, punctuation keeps its newlines") {
  pieces out = split_with(regex_split(kairos::qwen2_split_pattern), "x 2026.\n\nok");
  CHECK(out == pieces{"x", " ", "2", "0", "2", "6", ".\n\n", "ok"});
  // Letters of any script are \p{L}; a non-letter may lead a word.
  out = split_with(regex_split(kairos::qwen2_split_pattern), "\xD0\x9F\xD1\x80\xD0\xB8 \xE4\xB8\xAD\xE6\x96\x87");
  CHECK(out == pieces{"\xD0\x9F\xD1\x80\xD0\xB8", " \xE4\xB8\xAD\xE6\x96\x87"});
}

TEST_CASE("Split behaviors follow Hugging Face's definitions") {
  const std::string text = "the-final--countdown";
  CHECK(split_with(string_split("-", "Isolated"), text) == pieces{"the", "-", "final", "-", "-", "countdown"});
  CHECK(split_with(string_split("-", "Removed"), text) == pieces{"the", "final", "countdown"});
  CHECK(split_with(string_split("-", "MergedWithPrevious"), text) == pieces{"the-", "final-", "-", "countdown"});
  CHECK(split_with(string_split("-", "MergedWithNext"), text) == pieces{"the", "-final", "-", "-countdown"});
  CHECK(split_with(string_split("-", "Contiguous"), text) == pieces{"the", "-", "final", "--", "countdown"});
  CHECK(split_with(string_split("-", "Removed", /*invert=*/true), text) == pieces{"-", "-", "-"});
  // A String pattern is literal text, not a regex.
  CHECK(split_with(string_split(".", "Removed"), "a.b") == pieces{"a", "b"});
}

TEST_CASE("ByteLevel: add_prefix_space and use_regex") {
  json spec = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  CHECK(split_with(spec, "Hello world") == pieces{" Hello", " world"});
  spec = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  CHECK(split_with(spec, "Hello world") == pieces{"Hello world"});
  // A Sequence applies its steps in order.
  json seq = {{"type", "Sequence"}, {"pretokenizers", json::array({string_split(" ", "Removed"), spec})}};
  auto pre = pre_tokenizer::from_json(seq);
  REQUIRE(pre.ok());
  CHECK(pre->has_byte_level());
  pieces out;
  REQUIRE(pre->split("a b  c", out).ok());
  CHECK(out == pieces{"a", "b", "c"});
}

TEST_CASE("unsupported or broken specs are errors") {
  CHECK_FALSE(pre_tokenizer::from_json({{"type", "Whitespace"}}).ok());
  CHECK_FALSE(pre_tokenizer::from_json(regex_split("[unclosed")).ok());
  CHECK_FALSE(pre_tokenizer::from_json(string_split("-", "Sideways")).ok());
  CHECK_FALSE(pre_tokenizer::from_json({{"type", "Split"}, {"pattern", {{"Neither", "x"}}}}).ok());
  // Missing keys and wrong types are errors too, not exceptions.
  CHECK_FALSE(pre_tokenizer::from_json({{"type", "Split"}}).ok());
  CHECK_FALSE(pre_tokenizer::from_json({{"type", "Sequence"}, {"pretokenizers", 3}}).ok());
  CHECK_FALSE(pre_tokenizer::from_json({{"type", "ByteLevel"}, {"add_prefix_space", "yes"}}).ok());
  CHECK_FALSE(pre_tokenizer::from_json(json::array({1, 2})).ok());
}
