#pragma once
// Added tokens ("<|im_start|>", "<think>", ...) are found in the raw text
// before normalization and pre-tokenization, so they are never split by BPE.
// Matching is leftmost-longest, as in Hugging Face's Aho-Corasick matcher.
//
// Simplifications, documented honestly: every added token is matched on the
// raw text, including those marked "normalized" (Hugging Face matches those on
// the normalized text; the two agree unless a token's content changes under
// the normalizer). lstrip/rstrip absorb ASCII whitespace only; single_word
// treats ASCII letters, digits, '_' and any non-ASCII byte as word characters.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kairos {

struct added_token {
  std::int32_t id = 0;
  std::string content;
  bool special = false;      // e.g. control tokens; decoders may skip these
  bool lstrip = false;       // swallow whitespace on its left
  bool rstrip = false;       // swallow whitespace on its right
  bool single_word = false;  // only match when not inside a word
  bool normalized = false;
};

class added_token_matcher {
 public:
  // A piece of the input: either plain text (id < 0) or an added token.
  struct part {
    std::string_view text;
    std::int32_t id = -1;
  };

  added_token_matcher() = default;
  explicit added_token_matcher(const std::vector<added_token>& tokens);
  // Lookup tables hold views into tokens_, which a move keeps but a copy
  // would not.
  added_token_matcher(added_token_matcher&&) = default;
  added_token_matcher& operator=(added_token_matcher&&) = default;
  added_token_matcher(const added_token_matcher&) = delete;
  added_token_matcher& operator=(const added_token_matcher&) = delete;

  bool empty() const { return tokens_.empty(); }

  // Cuts `text` into plain parts and added tokens, in order. Plain parts may
  // be empty only if `text` is.
  std::vector<part> split(std::string_view text) const;

 private:
  // Tokens that start with one byte, grouped by length (longest group first)
  // so a position costs one hash lookup per distinct length, however many
  // tokens there are (the synthetic tokenizer can have thousands).
  struct length_group {
    std::size_t length;
    std::unordered_map<std::string_view, int> by_content;  // views into tokens_
  };

  // The token that matches at `pos`, longest first, or -1.
  int match_at(std::string_view text, std::size_t pos) const;

  std::vector<added_token> tokens_;
  std::array<std::vector<length_group>, 256> by_first_byte_;
};

}  // namespace kairos
