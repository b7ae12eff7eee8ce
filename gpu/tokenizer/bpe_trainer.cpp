#include "gpu/tokenizer/bpe_trainer.hpp"

#include <map>
#include <unordered_map>

namespace kairos {

bpe_training_result train_byte_level_bpe(const std::vector<std::string>& pieces, int max_new_tokens,
                                         int min_pair_count) {
  // Symbols are trainer-local ids: 0..255 are the bytes, then learned tokens.
  std::vector<std::string> symbol_bytes;
  std::map<std::string, int> symbol_by_bytes;
  for (int b = 0; b < 256; ++b) {
    symbol_bytes.emplace_back(1, static_cast<char>(b));
    symbol_by_bytes[symbol_bytes.back()] = b;
  }

  // Each distinct piece once, with how often it occurs (std::map: a fixed order).
  std::map<std::string, long> piece_counts;
  for (const std::string& p : pieces)
    if (!p.empty()) ++piece_counts[p];
  std::vector<std::vector<int>> words;
  std::vector<long> word_counts;
  for (const auto& [piece, count] : piece_counts) {
    std::vector<int> symbols;
    for (char c : piece) symbols.push_back(static_cast<unsigned char>(c));
    words.push_back(std::move(symbols));
    word_counts.push_back(count);
  }

  bpe_training_result out;
  auto key = [](int a, int b) { return (static_cast<std::uint64_t>(a) << 32) | static_cast<std::uint32_t>(b); };
  while (static_cast<int>(out.new_tokens.size()) < max_new_tokens) {
    std::unordered_map<std::uint64_t, long> pair_counts;
    for (std::size_t w = 0; w < words.size(); ++w)
      for (std::size_t i = 0; i + 1 < words[w].size(); ++i) pair_counts[key(words[w][i], words[w][i + 1])] += word_counts[w];
    std::uint64_t best = 0;
    long best_count = 0;
    for (const auto& [k, count] : pair_counts) {
      if (count > best_count || (count == best_count && k < best)) {
        best = k;
        best_count = count;
      }
    }
    if (best_count < min_pair_count || best_count == 0) break;
    int left = static_cast<int>(best >> 32), right = static_cast<int>(best & 0xFFFFFFFFu);
    std::string merged = symbol_bytes[left] + symbol_bytes[right];
    out.merges.emplace_back(symbol_bytes[left], symbol_bytes[right]);
    int merged_id;
    if (auto it = symbol_by_bytes.find(merged); it != symbol_by_bytes.end()) {
      merged_id = it->second;
    } else {
      merged_id = static_cast<int>(symbol_bytes.size());
      symbol_bytes.push_back(merged);
      symbol_by_bytes.emplace(merged, merged_id);
      out.new_tokens.push_back(merged);
    }
    for (std::vector<int>& word : words) {
      std::size_t kept = 0;
      for (std::size_t i = 0; i < word.size(); ++i) {
        if (i + 1 < word.size() && word[i] == left && word[i + 1] == right) {
          word[kept++] = merged_id;
          ++i;
        } else {
          word[kept++] = word[i];
        }
      }
      word.resize(kept);
    }
  }
  return out;
}

}  // namespace kairos
