#pragma once
// A byte-level BPE tokenizer read from a Hugging Face tokenizer.json (GPT-2,
// Llama-3, Qwen2/Qwen3 and the synthetic tokenizer of `kairos mkmodel`), or
// from GPT-2's original encoder.json + vocab.bpe.
//
// Encoding: added tokens are cut out of the raw text first (leftmost-longest),
// each remaining span is normalized (NFC when the file asks for it),
// pre-tokenized (regex Split / ByteLevel) and each piece BPE-encoded. No BOS or
// other template tokens are inserted. Bytes that are not valid UTF-8 (which a
// Hugging Face tokenizer never sees, as it takes Rust strings) are each
// encoded as their own byte token, so any byte string round-trips.
//
// Decoding concatenates each token's bytes (the ByteLevel decoder); added
// tokens decode to their content. The result is the exact byte string, which
// is invalid UTF-8 when the ids cut a character apart: use stream_decoder or
// utf8::replace_invalid where text must be valid.
//
// The object is cheap to copy (it shares its immutable tables) and its const
// methods are safe to call from several threads at once.
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gpu/base/result.hpp"
#include "gpu/tokenizer/added_tokens.hpp"

namespace kairos {

class bpe_tokenizer {
 public:
  // Reads a tokenizer.json (or the tokenizer.json inside a directory). When a
  // tokenizer_config.json sits next to it, its bos_token / eos_token name the
  // BOS / EOS ids; otherwise well-known added tokens are used (see eos_id).
  static result<bpe_tokenizer> load(const std::string& path);

  // Parses tokenizer.json text; `source` names it in error messages.
  static result<bpe_tokenizer> from_json_text(const std::string& text, const std::string& source);

  // GPT-2's original files: encoder.json (token -> id) and vocab.bpe (merges).
  // "<|endoftext|>" is registered as a special added token, as Hugging Face's
  // GPT-2 tokenizer does.
  static result<bpe_tokenizer> load_gpt2_files(const std::string& encoder_json, const std::string& vocab_bpe);

  std::vector<std::int32_t> encode(std::string_view text) const;

  // Unknown ids are skipped. `skip_special`: also skip special added tokens.
  std::string decode(std::span<const std::int32_t> ids, bool skip_special = false) const;

  // One more than the largest id (vocab and added tokens).
  int vocab_size() const;

  // The id of a vocab token (in byte-level form, e.g. "Ġthe") or added token.
  std::optional<std::int32_t> token_id(std::string_view token) const;

  // The vocab string (byte-level form) or added token content of `id`; empty
  // for an unknown id.
  std::string token_text(std::int32_t id) const;

  // The bytes `id` decodes to; empty for an unknown id.
  std::string_view token_bytes(std::int32_t id) const;

  bool is_special(std::int32_t id) const;
  const std::vector<added_token>& added_tokens() const;

  // BOS / EOS ids when known: from tokenizer_config.json, else the first added
  // token among "<|begin_of_text|>", "<s>", "<bos>" (BOS) and "<|endoftext|>",
  // "<|end_of_text|>", "</s>", "<eos>" (EOS); with no BOS candidate, an EOS of
  // "<|endoftext|>" doubles as BOS (GPT-2's convention, and the synthetic
  // tokenizer's). Callers that know better (e.g. from a model's generation
  // config) may override them.
  std::optional<std::int32_t> bos_id() const { return bos_id_; }
  std::optional<std::int32_t> eos_id() const { return eos_id_; }
  void set_bos_id(std::optional<std::int32_t> id) { bos_id_ = id; }
  void set_eos_id(std::optional<std::int32_t> id) { eos_id_ = id; }

 private:
  struct impl;  // the shared immutable tables and the piece cache
  explicit bpe_tokenizer(std::shared_ptr<const impl> state) : impl_(std::move(state)) {}
  static result<bpe_tokenizer> from_document(const nlohmann::json& document, const std::string& source);
  void encode_plain(std::string_view text, std::vector<std::int32_t>& ids) const;
  void encode_valid_utf8(std::string_view text, std::vector<std::int32_t>& ids) const;

  std::shared_ptr<const impl> impl_;
  std::optional<std::int32_t> bos_id_;
  std::optional<std::int32_t> eos_id_;
};

}  // namespace kairos
