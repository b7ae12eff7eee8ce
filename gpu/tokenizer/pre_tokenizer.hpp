#pragma once
// The pre-tokenizer of a byte-level BPE tokenizer.json: cuts normalized text
// into pieces that BPE then encodes one at a time (merges never cross a piece
// boundary). Supported Hugging Face types:
//   - "Split" with {"Regex": ...} or {"String": ...}, every behavior
//     ("Contiguous" joins adjacent matches), and `invert`;
//   - "ByteLevel" with add_prefix_space and use_regex (use_regex means the
//     GPT-2 pattern); its byte-to-character mapping is done by the BPE model;
//   - "Sequence" of the above.
// Pieces are raw bytes (the text's own UTF-8), not byte-level characters.
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "gpu/base/result.hpp"
#include "gpu/tokenizer/unicode_regex.hpp"

namespace kairos {

// The pre-tokenizer patterns of well-known byte-level BPE tokenizers.
inline constexpr const char* gpt2_split_pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
inline constexpr const char* llama3_split_pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr const char* qwen2_split_pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

class pre_tokenizer {
 public:
  // What happens to the text a Split pattern matches (Hugging Face names).
  enum class split_behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

  // From the "pre_tokenizer" object of a tokenizer.json (null: no splitting).
  static result<pre_tokenizer> from_json(const nlohmann::json& spec);

  // GPT-2's: a single ByteLevel step with use_regex.
  static result<pre_tokenizer> gpt2();

  // Appends the pieces of `text` (valid UTF-8) to `pieces`.
  status split(std::string_view text, std::vector<std::string>& pieces) const;

  // Whether a ByteLevel step is present (required for byte-level BPE).
  bool has_byte_level() const { return has_byte_level_; }

 private:
  struct step {
    enum class kind { regex_split, byte_level } type = kind::regex_split;
    unicode_regex regex;  // regex_split, or byte_level with use_regex
    bool use_regex = false;
    split_behavior behavior = split_behavior::isolated;
    bool invert = false;
    bool add_prefix_space = false;
  };

  static result<step> parse_step(const nlohmann::json& spec);
  status apply_split(const step& s, std::string_view piece, std::vector<std::string>& out) const;

  std::vector<step> steps_;
  bool has_byte_level_ = false;
};

}  // namespace kairos
