// stream_decoder: streamed chunks are always valid UTF-8 and add up to the
// full decode, even when tokens split emoji and CJK characters.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gpu/tokenizer/bpe_tokenizer.hpp"
#include "gpu/tokenizer/stream_decoder.hpp"
#include "gpu/tokenizer/synthetic_tokenizer.hpp"
#include "gpu/tokenizer/utf8.hpp"

using kairos::bpe_tokenizer;
using kairos::stream_decoder;

namespace {

const bpe_tokenizer& qwen3() {
  static const bpe_tokenizer tok = [] {
    auto r = bpe_tokenizer::load(KAIROS_SHARED_DIR "/tokenizers/qwen3/tokenizer.json");
    if (!r) FAIL(r.message());
    return std::move(r).value();
  }();
  return tok;
}

// The synthetic tokenizer has no multi-byte merges for non-ASCII text, so
// every emoji or CJK character is split over several byte tokens.
const bpe_tokenizer& synthetic() {
  static const bpe_tokenizer tok = [] {
    auto r = bpe_tokenizer::from_json_text(kairos::make_synthetic_tokenizer_json(1024), "synthetic");
    if (!r) FAIL(r.message());
    return std::move(r).value();
  }();
  return tok;
}

// Streams `ids` one at a time; checks every chunk and returns them all.
std::vector<std::string> stream(const bpe_tokenizer& tok, const std::vector<std::int32_t>& ids) {
  stream_decoder decoder(tok);
  std::vector<std::string> chunks;
  for (std::int32_t id : ids) {
    chunks.push_back(decoder.push(id));
    CHECK(kairos::utf8::is_valid(chunks.back()));
    CHECK(decoder.pending_bytes() <= 3);
  }
  chunks.push_back(decoder.flush());
  CHECK(kairos::utf8::is_valid(chunks.back()));
  CHECK(decoder.pending_bytes() == 0);
  return chunks;
}

std::string join(const std::vector<std::string>& chunks) {
  std::string all;
  for (const std::string& c : chunks) all += c;
  return all;
}

}  // namespace

TEST_CASE("streaming multi-byte text gives valid chunks that add up to decode()") {
  const std::string texts[] = {
      "Emoji 😀🎉👍🏽 and flags 🇯🇵",
      "中文分词测试：今天天气很好。",
      "日本語のテキストとカタカナ",
      "한국어 텍스트 mixed with English and Ωμέγα",
      "<|im_start|>assistant\n好的 👍<|im_end|>",
  };
  for (const bpe_tokenizer* tok : {&qwen3(), &synthetic()}) {
    for (const std::string& text : texts) {
      CAPTURE(text);
      std::vector<std::int32_t> ids = tok->encode(text);
      std::string full = tok->decode(ids);
      REQUIRE(full == text);
      CHECK(join(stream(*tok, ids)) == full);
    }
  }
}

TEST_CASE("a character split over tokens is held back until complete") {
  const bpe_tokenizer& tok = synthetic();
  // Byte b is id 1 + b in the synthetic tokenizer: feed 😀 (F0 9F 98 80) byte by byte.
  stream_decoder decoder(tok);
  CHECK(decoder.push(1 + 'a') == "a");
  CHECK(decoder.push(1 + 0xF0) == "");
  CHECK(decoder.push(1 + 0x9F) == "");
  CHECK(decoder.push(1 + 0x98) == "");
  CHECK(decoder.pending_bytes() == 3);
  CHECK(decoder.push(1 + 0x80) == "\xF0\x9F\x98\x80");
  CHECK(decoder.push(1 + 'b') == "b");
  CHECK(decoder.flush() == "");
}

TEST_CASE("bytes that cannot become a character are replaced, not held") {
  const bpe_tokenizer& tok = synthetic();
  const std::string r(kairos::utf8::replacement_character);
  stream_decoder decoder(tok);
  CHECK(decoder.push(1 + 0xFF) == r);              // never valid
  CHECK(decoder.push(1 + 0xE4) == "");             // could still complete
  CHECK(decoder.push(1 + 'x') == r + "x");         // ...but did not
  CHECK(decoder.push(1 + 0xE4) == "");
  CHECK(decoder.push(1 + 0xB8) == "");
  CHECK(decoder.flush() == r);                     // unfinished at the end
  CHECK(decoder.push(1 + 'z') == "z");             // reusable after flush
}

TEST_CASE("special tokens can be skipped while streaming") {
  const bpe_tokenizer& tok = qwen3();
  std::vector<std::int32_t> ids = tok.encode("<|im_start|>hi 😀<|im_end|>");
  stream_decoder keep(tok);
  stream_decoder skip(tok, /*skip_special=*/true);
  std::string kept, skipped;
  for (std::int32_t id : ids) {
    kept += keep.push(id);
    skipped += skip.push(id);
  }
  kept += keep.flush();
  skipped += skip.flush();
  CHECK(kept == "<|im_start|>hi 😀<|im_end|>");
  CHECK(skipped == "hi 😀");
}
