#include "gpu/kv/kv_block_table.hpp"

#include <algorithm>
#include <cassert>

namespace kairos {

const char* kv_status_name(kv_status s) {
  switch (s) {
    case kv_status::ok: return "ok";
    case kv_status::out_of_blocks: return "KV cache exhausted (out of blocks)";
    case kv_status::unknown_sequence: return "unknown sequence";
    case kv_status::invalid_argument: return "invalid argument";
  }
  return "?";
}

int kv_plan::n_new_blocks() const {
  int n = 0;
  for (auto& it : items) n += static_cast<int>(it.new_blocks.size());
  return n;
}

kv_block_table::kv_block_table(int n_blocks, int block_size, int reserve_blocks_per_seq)
    : n_blocks_(n_blocks), block_size_(block_size), reserve_per_seq_(reserve_blocks_per_seq) {
  assert(n_blocks >= 0 && block_size > 0);
  free_.reserve(static_cast<std::size_t>(n_blocks));
  // Pop order 0, 1, 2, ...: a fresh table hands out contiguous blocks.
  for (int b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

int kv_block_table::n_tokens(seq_id s) const {
  auto it = seqs_.find(s);
  return it == seqs_.end() ? 0 : it->second.n_tokens;
}

std::span<const std::int32_t> kv_block_table::blocks(seq_id s) const {
  auto it = seqs_.find(s);
  if (it == seqs_.end()) return {};
  return it->second.blocks;
}

int kv_block_table::blocks_needed(seq_id s, int n) const {
  int have_tokens = n_tokens(s);
  int have_blocks = (have_tokens + block_size_ - 1) / block_size_;
  int want_blocks = (have_tokens + n + block_size_ - 1) / block_size_;
  return want_blocks - have_blocks;
}

kv_status kv_block_table::prepare(std::span<const kv_append> batch, kv_plan& plan) const {
  // Items are reused across calls (resize keeps their vectors' capacity), so
  // a steady stream of batches allocates nothing here.
  plan.items.resize(batch.size());
  int need = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].n_tokens < 0) return kv_status::invalid_argument;
    for (std::size_t j = 0; j < i; ++j)
      if (batch[j].seq == batch[i].seq) return kv_status::invalid_argument;
    need += blocks_needed(batch[i].seq, batch[i].n_tokens);
  }
  if (need > n_free()) {
    plan.items.clear();
    return kv_status::out_of_blocks;
  }
  // Take blocks from the top of the free stack in the order apply() will pop them.
  std::size_t top = free_.size();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& it = plan.items[i];
    it.seq = batch[i].seq;
    it.n_tokens_before = n_tokens(batch[i].seq);
    it.n_tokens = batch[i].n_tokens;
    it.new_blocks.clear();
    int nb = blocks_needed(batch[i].seq, batch[i].n_tokens);
    for (int b = 0; b < nb; ++b) it.new_blocks.push_back(free_[--top]);
  }
  return kv_status::ok;
}

void kv_block_table::apply(const kv_plan& plan) {
  for (auto& it : plan.items) {
    auto [pos, created] = seqs_.try_emplace(it.seq);
    auto& seq = pos->second;
    if (created) seq.blocks.reserve(static_cast<std::size_t>(reserve_per_seq_));
    assert(seq.n_tokens == it.n_tokens_before);
    for (auto b : it.new_blocks) {
      assert(!free_.empty() && free_.back() == b);
      free_.pop_back();
      seq.blocks.push_back(b);
    }
    seq.n_tokens += it.n_tokens;
  }
}

kv_status kv_block_table::free_sequence(seq_id s) {
  auto it = seqs_.find(s);
  if (it == seqs_.end()) return kv_status::unknown_sequence;
  // Push in reverse so the sequence's first block is reused first.
  for (auto b = it->second.blocks.rbegin(); b != it->second.blocks.rend(); ++b) free_.push_back(*b);
  seqs_.erase(it);
  return kv_status::ok;
}

kv_status kv_block_table::truncate(seq_id s, int n) {
  auto it = seqs_.find(s);
  if (it == seqs_.end()) return kv_status::unknown_sequence;
  if (n < 0 || n > it->second.n_tokens) return kv_status::invalid_argument;
  auto& seq = it->second;
  std::size_t keep = static_cast<std::size_t>((n + block_size_ - 1) / block_size_);
  while (seq.blocks.size() > keep) {
    free_.push_back(seq.blocks.back());
    seq.blocks.pop_back();
  }
  seq.n_tokens = n;
  return kv_status::ok;
}

}  // namespace kairos
