#pragma once
// A minimal byte-level BPE trainer, enough to give the synthetic tokenizer
// realistic merges from a few KB of text. It is exact but naive (it recounts
// all pairs after every merge), so it is meant for small corpora only.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kairos {

struct bpe_training_result {
  // Merges in rank order, each as the raw bytes of its two halves.
  std::vector<std::pair<std::string, std::string>> merges;
  // The raw bytes of each token the merges created, in creation order. A merge
  // whose result already exists (two pairs can spell the same bytes) adds no
  // token, so there can be fewer tokens than merges.
  std::vector<std::string> new_tokens;
};

// Learns merges over `pieces` (pre-tokenized raw bytes; merges never cross
// pieces) until `max_new_tokens` tokens exist or no pair occurs at least
// `min_pair_count` times. Ties go to the pair whose halves were created first,
// so the result is deterministic.
bpe_training_result train_byte_level_bpe(const std::vector<std::string>& pieces, int max_new_tokens,
                                         int min_pair_count = 2);

}  // namespace kairos
