#include "gpu/tokenizer/stream_decoder.hpp"

#include "gpu/tokenizer/utf8.hpp"

namespace kairos {

stream_decoder::stream_decoder(bpe_tokenizer tokenizer, bool skip_special)
    : tokenizer_(std::move(tokenizer)), skip_special_(skip_special) {}

std::string stream_decoder::push(std::int32_t id) {
  if (skip_special_ && tokenizer_.is_special(id)) return {};
  pending_ += tokenizer_.token_bytes(id);
  std::size_t keep = utf8::incomplete_tail_length(pending_);
  std::string_view ready = std::string_view(pending_).substr(0, pending_.size() - keep);
  // The held-back tail starts at a lead byte, so repairing the ready part on
  // its own gives the same text as repairing everything at the end would.
  std::string out = utf8::replace_invalid(ready);
  pending_.erase(0, ready.size());
  return out;
}

std::string stream_decoder::flush() {
  std::string out = utf8::replace_invalid(pending_);
  pending_.clear();
  return out;
}

}  // namespace kairos
