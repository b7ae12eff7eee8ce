#pragma once
// The BPE model proper: a vocabulary of byte-level token strings and a ranked
// list of merges. Encoding one pre-token starts from its bytes (each byte is
// one token of the 256-character byte-level alphabet) and repeatedly applies
// the lowest-ranked merge among adjacent pairs, leftmost first on ties - the
// order both GPT-2's reference code and Hugging Face's tokenizers produce.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gpu/base/result.hpp"

namespace kairos {

class bpe_model {
 public:
  using vocab_map = std::unordered_map<std::string, std::int32_t>;

  // Every merge's two halves and their concatenation must be in `vocab`, and
  // so must all 256 byte-level tokens. `ignore_merges`: a pre-token that is a
  // vocabulary entry as a whole is emitted as that token (Llama-3 sets it).
  static result<bpe_model> build(vocab_map vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                                 bool ignore_merges);

  // Appends the ids for the raw bytes `piece`.
  void encode_piece(std::string_view piece, std::vector<std::int32_t>& out) const;

  const vocab_map& vocab() const { return vocab_; }

 private:
  struct merge {
    std::int32_t rank;
    std::int32_t merged_id;
  };
  // Merge lookups dominate encoding, so merges live in an open-addressing
  // table (one cache line per probe) rather than a node-based map.
  struct merge_slot {
    std::uint64_t key = empty_key;
    merge value{};
  };
  static constexpr std::uint64_t empty_key = ~std::uint64_t{0};  // ids are >= 0, so never a real key

  static std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
  }
  std::size_t slot_index(std::uint64_t key) const {
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> 32) & slot_mask_;  // Fibonacci hashing
  }
  const merge* find_merge(std::int32_t left, std::int32_t right) const;

  vocab_map vocab_;
  std::vector<merge_slot> merge_slots_;
  std::size_t slot_mask_ = 0;
  std::array<std::int32_t, 256> byte_ids_{};
  bool ignore_merges_ = false;
};

}  // namespace kairos
