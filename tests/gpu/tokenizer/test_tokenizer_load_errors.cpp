// Broken or unsupported tokenizer files are reported as errors that name the
// file and say what is wrong; nothing throws.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "gpu/tokenizer/bpe_tokenizer.hpp"
#include "gpu/tokenizer/synthetic_tokenizer.hpp"

using kairos::bpe_tokenizer;
using json = nlohmann::json;

namespace {

std::string temp_path(const std::string& name) { return std::string(KAIROS_BIN_DIR) + "/tokenizer_error_test_" + name; }

std::string write_file(const std::string& name, const std::string& text) {
  std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// Loads `text` from a file and returns the error message (fails if it loads).
std::string load_error(const std::string& name, const std::string& text) {
  std::string path = write_file(name, text);
  auto r = bpe_tokenizer::load(path);
  std::remove(path.c_str());
  REQUIRE_FALSE(r.ok());
  CHECK_MESSAGE(r.message().find(path) != std::string::npos, "the error does not name the file: " << r.message());
  return r.message();
}

// A small valid tokenizer.json to break in different ways.
json valid() { return json::parse(kairos::make_synthetic_tokenizer_json(300)); }

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("the unbroken base file loads") {
  std::string path = write_file("valid.json", valid().dump());
  auto r = bpe_tokenizer::load(path);
  std::remove(path.c_str());
  REQUIRE_MESSAGE(r.ok(), r.message());
  CHECK(r->vocab_size() == 300);
}

TEST_CASE("a missing file") {
  auto r = bpe_tokenizer::load(temp_path("does_not_exist.json"));
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.message(), "does_not_exist.json"));
  CHECK(contains(r.message(), "cannot open"));
}

TEST_CASE("a directory means its tokenizer.json") {
  auto r = bpe_tokenizer::load(KAIROS_SHARED_DIR "/tokenizers/qwen3");
  REQUIRE_MESSAGE(r.ok(), r.message());
  CHECK(r->vocab_size() == 151669);
}

TEST_CASE("invalid or truncated JSON") {
  CHECK(contains(load_error("garbage.json", "this is not json"), "invalid JSON"));
  CHECK(contains(load_error("empty.json", ""), "invalid JSON"));
  std::string text = valid().dump();
  CHECK(contains(load_error("truncated.json", text.substr(0, text.size() / 2)), "invalid JSON"));
}

TEST_CASE("valid JSON that is not a usable tokenizer") {
  CHECK(contains(load_error("array.json", "[1, 2, 3]"), "not a JSON object"));
  CHECK(contains(load_error("no_model.json", R"({"added_tokens": []})"), "\"model\""));

  json j = valid();
  j["model"]["type"] = "WordPiece";
  CHECK(contains(load_error("wordpiece.json", j.dump()), "WordPiece"));

  j = valid();
  j["model"].erase("vocab");
  CHECK(contains(load_error("no_vocab.json", j.dump()), "model.vocab"));

  j = valid();
  j["model"]["vocab"]["\xC4\xA0the"] = "seven";
  CHECK(contains(load_error("string_id.json", j.dump()), "not a non-negative integer id"));

  j = valid();
  j["model"]["merges"].push_back("zz qq");
  CHECK(contains(load_error("bad_merge.json", j.dump()), "not in the vocab"));

  j = valid();
  j["model"]["merges"].push_back("three part merge");
  CHECK(contains(load_error("three_part_merge.json", j.dump()), "two tokens"));

  j = valid();
  j["model"]["merges"].push_back(json::array({"a"}));
  CHECK(contains(load_error("one_part_merge.json", j.dump()), "merge"));

  j = valid();
  j["model"]["vocab"].erase("\xC4\xA0");  // the byte-level token for ' '
  std::string msg = load_error("no_space_byte.json", j.dump());
  CHECK((contains(msg, "byte") || contains(msg, "not in the vocab")));

  j = valid();
  j["pre_tokenizer"] = {{"type", "Metaspace"}};
  CHECK(contains(load_error("metaspace.json", j.dump()), "Metaspace"));

  j = valid();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  CHECK(contains(load_error("bad_regex.json", j.dump()), "regex"));

  j = valid();
  j["normalizer"] = {{"type", "Lowercase"}};
  CHECK(contains(load_error("lowercase.json", j.dump()), "Lowercase"));

  j = valid();
  j["added_tokens"].push_back({{"content", "<|no_id|>"}});
  CHECK(contains(load_error("added_no_id.json", j.dump()), "added_tokens"));

  j = valid();
  j["added_tokens"][0]["special"] = "yes";  // wrong type deep inside: caught, not thrown
  CHECK(contains(load_error("added_bad_type.json", j.dump()), "malformed"));
}

TEST_CASE("from_json_text names its source") {
  auto r = bpe_tokenizer::from_json_text("{", "my-source-name");
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.message(), "my-source-name"));
}

TEST_CASE("GPT-2 file pair errors name the file") {
  std::string gpt2 = KAIROS_SHARED_DIR "/tokenizers/gpt2";
  auto missing = bpe_tokenizer::load_gpt2_files(gpt2 + "/encoder.json", temp_path("missing_vocab.bpe"));
  REQUIRE_FALSE(missing.ok());
  CHECK(contains(missing.message(), "missing_vocab.bpe"));

  std::string bad_bpe = write_file("bad_vocab.bpe", "#version: 0.2\n\xC4\xA0 t\nonlyonetoken\n");
  auto bad = bpe_tokenizer::load_gpt2_files(gpt2 + "/encoder.json", bad_bpe);
  std::remove(bad_bpe.c_str());
  REQUIRE_FALSE(bad.ok());
  CHECK(contains(bad.message(), bad_bpe + ":3"));

  std::string bad_encoder = write_file("bad_encoder.json", "[]");
  auto bad_enc = bpe_tokenizer::load_gpt2_files(bad_encoder, gpt2 + "/vocab.bpe");
  std::remove(bad_encoder.c_str());
  REQUIRE_FALSE(bad_enc.ok());
  CHECK(contains(bad_enc.message(), bad_encoder));
}
