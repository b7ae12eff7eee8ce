#pragma once
// Incremental detokenization for streaming generated text. A byte-level token
// can end in the middle of a UTF-8 character (emoji and CJK characters often
// span two or three tokens), so the bytes of an unfinished character are held
// back until the token that completes them arrives. Every chunk returned is
// valid UTF-8; bytes that can never become a valid character are replaced by
// U+FFFD (one per maximal invalid subpart), so for ids whose decode is valid
// UTF-8 the concatenated chunks equal bpe_tokenizer::decode(ids).
#include <cstdint>
#include <string>

#include "gpu/tokenizer/bpe_tokenizer.hpp"

namespace kairos {

class stream_decoder {
 public:
  // Keeps a (cheap, shared) copy of the tokenizer.
  explicit stream_decoder(bpe_tokenizer tokenizer, bool skip_special = false);

  // The text that `id` completes; may be empty while a character is partial.
  std::string push(std::int32_t id);

  // Whatever is still held back, with unfinished characters as U+FFFD; the
  // decoder is then empty and can be reused.
  std::string flush();

  // Bytes held back so far (at most 3).
  std::size_t pending_bytes() const { return pending_.size(); }

 private:
  bpe_tokenizer tokenizer_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace kairos
