// The synthetic tokenizer of `kairos mkmodel`: exact size, deterministic,
// loadable by bpe_tokenizer, and lossless on any text.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "gpu/tokenizer/bpe_tokenizer.hpp"
#include "gpu/tokenizer/synthetic_tokenizer.hpp"

using kairos::bpe_tokenizer;

namespace {

bpe_tokenizer load_synthetic(int vocab_size) {
  auto r = bpe_tokenizer::from_json_text(kairos::make_synthetic_tokenizer_json(vocab_size), "synthetic");
  if (!r) FAIL(r.message());
  return std::move(r).value();
}

}  // namespace

TEST_CASE("every id from 0 to vocab_size - 1 exists exactly once") {
  for (int vocab_size : {257, 512, 1000, 4096}) {
    CAPTURE(vocab_size);
    auto doc = nlohmann::json::parse(kairos::make_synthetic_tokenizer_json(vocab_size));
    std::set<int> ids;
    for (const auto& [token, id] : doc["model"]["vocab"].items()) CHECK(ids.insert(id.get<int>()).second);
    REQUIRE(static_cast<int>(ids.size()) == vocab_size);
    CHECK(*ids.begin() == 0);
    CHECK(*ids.rbegin() == vocab_size - 1);
    CHECK(load_synthetic(vocab_size).vocab_size() == vocab_size);
  }
}

TEST_CASE("id 0 is the special <|endoftext|> and serves as BOS and EOS") {
  bpe_tokenizer tok = load_synthetic(512);
  CHECK(kairos::synthetic_tokenizer_eos_id == 0);
  CHECK(tok.token_id("<|endoftext|>") == 0);
  CHECK(tok.eos_id() == 0);
  CHECK(tok.bos_id() == 0);
  CHECK(tok.is_special(0));
  CHECK(tok.encode("a<|endoftext|>b") == std::vector<std::int32_t>{1 + 'a', 0, 1 + 'b'});
}

TEST_CASE("bytes come first, then learned merges, then reserved fillers") {
  bpe_tokenizer tok = load_synthetic(4096);
  CHECK(tok.token_bytes(1) == std::string(1, '\0'));
  CHECK(tok.token_bytes(1 + ' ') == " ");
  CHECK(tok.token_bytes(256) == "\xFF");
  // The built-in text is English prose: " the" is learned early and is one token.
  CHECK(tok.encode(" the").size() == 1);
  CHECK(tok.token_bytes(257).size() == 2);  // the first merge joins two bytes
  // A few KB of text runs out of repeated pairs long before 4096 ids.
  auto last = tok.token_text(4095);
  CHECK(last.rfind("<|reserved_", 0) == 0);
  CHECK(tok.is_special(4095));
  CHECK(tok.encode(last) == std::vector<std::int32_t>{4095});
  // At a small size every id after the bytes is a learned token.
  bpe_tokenizer small = load_synthetic(512);
  CHECK(small.token_text(511).rfind("<|reserved_", 0) == std::string::npos);
  CHECK(small.token_bytes(511).size() >= 2);
}

TEST_CASE("the same vocab size always gives the same file") {
  CHECK(kairos::make_synthetic_tokenizer_json(777) == kairos::make_synthetic_tokenizer_json(777));
  CHECK(kairos::make_synthetic_tokenizer_json(777) != kairos::make_synthetic_tokenizer_json(778));
}

TEST_CASE("too small a vocabulary gives an empty (unloadable) text") {
  CHECK(kairos::make_synthetic_tokenizer_json(256).empty());
  CHECK_FALSE(bpe_tokenizer::from_json_text(kairos::make_synthetic_tokenizer_json(100), "synthetic").ok());
}

TEST_CASE("any text round-trips, ASCII or not, valid UTF-8 or not") {
  bpe_tokenizer tok = load_synthetic(1024);
  const std::string texts[] = {
      "",
      "The harbour town wakes up slowly.",
      "A completely different sentence about tokenizers, 12345 and 3.14!",
      "Unicode: café naïve Ωμέγα Привет 中文 日本語 한국어 😀🎉👍🏽 🇯🇵",
      "tabs\tand\nnewlines\r\n  indented",
      std::string("nul\0byte and invalid \xFF\xC3 bytes", 30),
  };
  for (const std::string& text : texts) {
    CAPTURE(text);
    auto ids = tok.encode(text);
    for (std::int32_t id : ids) CHECK((id >= 0 && id < 1024));
    CHECK(tok.decode(ids) == text);
  }
  // Merges compress English: far fewer tokens than bytes.
  std::string english = "The fishermen check their ropes twice before the storm arrives over the water.";
  CHECK(tok.encode(english).size() * 2 < english.size());
}

TEST_CASE("loads from a file through bpe_tokenizer::load") {
  std::string path = std::string(KAIROS_BIN_DIR) + "/synthetic_tokenizer_test.json";
  {
    FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    std::string text = kairos::make_synthetic_tokenizer_json(600);
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  auto tok = bpe_tokenizer::load(path);
  REQUIRE_MESSAGE(tok.ok(), tok.message());
  CHECK(tok->vocab_size() == 600);
  CHECK(tok->decode(tok->encode("round trip through a file")) == "round trip through a file");
  std::remove(path.c_str());
}
