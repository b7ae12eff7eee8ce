#include "gpu/tokenizer/synthetic_tokenizer.hpp"

#include <nlohmann/json.hpp>
#include <vector>

#include "gpu/tokenizer/bpe_trainer.hpp"
#include "gpu/tokenizer/byte_level.hpp"
#include "gpu/tokenizer/pre_tokenizer.hpp"
#include "gpu/tokenizer/synthetic_corpus.hpp"

namespace kairos {
namespace {

using ordered_json = nlohmann::ordered_json;

constexpr int first_byte_id = 1;      // after <|endoftext|>
constexpr int first_learned_id = 257;  // after the 256 byte tokens

ordered_json added_token_entry(int id, const std::string& content) {
  return ordered_json{{"id", id},          {"content", content}, {"single_word", false}, {"lstrip", false},
                      {"rstrip", false},   {"normalized", false}, {"special", true}};
}

}  // namespace

std::string make_synthetic_tokenizer_json(int vocab_size) {
  if (vocab_size < first_learned_id) return {};

  std::vector<std::string> pieces;
  auto pre = pre_tokenizer::gpt2();
  if (!pre || !pre->split(synthetic_training_text(), pieces)) {
    // The GPT-2 pattern is a constant, so this is unreachable in practice;
    // training on the whole text still yields a valid (if odd) tokenizer.
    pieces.assign(1, std::string(synthetic_training_text()));
  }
  // Pairs seen once still merge: a few KB of text then fills a vocabulary of a
  // few thousand with real merges instead of reserved fillers.
  bpe_training_result trained = train_byte_level_bpe(pieces, vocab_size - first_learned_id, /*min_pair_count=*/1);

  // The vocab is written in id order. Its keys are distinct by construction
  // (single byte characters, multi-byte merges, and "<|...|>" names that the
  // training text cannot produce), so entries are appended directly: keyed
  // insertion into an ordered_json object is linear per key.
  ordered_json vocab = ordered_json::object();
  auto& vocab_entries = vocab.get_ref<ordered_json::object_t&>();
  auto add_to_vocab = [&](std::string token, int id) { vocab_entries.emplace_back(std::move(token), ordered_json(id)); };
  ordered_json added = ordered_json::array();
  add_to_vocab("<|endoftext|>", synthetic_tokenizer_eos_id);
  added.push_back(added_token_entry(synthetic_tokenizer_eos_id, "<|endoftext|>"));
  for (int b = 0; b < 256; ++b) add_to_vocab(byte_level::encode(std::string(1, static_cast<char>(b))), first_byte_id + b);
  int next_id = first_learned_id;
  for (const std::string& token : trained.new_tokens) add_to_vocab(byte_level::encode(token), next_id++);
  // Fillers keep the id count exact. They are in the vocab too, so that
  // model.vocab alone covers every id, as in GPT-2's tokenizer.json.
  for (int n = 0; next_id < vocab_size; ++n, ++next_id) {
    std::string content = "<|reserved_" + std::to_string(n) + "|>";
    add_to_vocab(content, next_id);
    added.push_back(added_token_entry(next_id, content));
  }

  ordered_json merges = ordered_json::array();
  for (const auto& [left, right] : trained.merges)
    merges.push_back(byte_level::encode(left) + " " + byte_level::encode(right));

  ordered_json byte_level_step = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  ordered_json doc = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", std::move(added)},
      {"normalizer", nullptr},
      {"pre_tokenizer", byte_level_step},
      {"post_processor", byte_level_step},
      {"decoder", byte_level_step},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", ""},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", std::move(vocab)},
        {"merges", std::move(merges)}}},
  };
  return doc.dump(1);
}

}  // namespace kairos
