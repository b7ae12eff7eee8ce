#pragma once
// Paged KV bookkeeping: which fixed-size blocks each sequence holds. It owns
// no tensor memory (see kv_pool for that), so schedulers and tests can use it
// with zero-size storage. Changes are prepared, then applied: a batch whose
// preparation fails leaves the table untouched.
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace kairos {

using seq_id = std::int64_t;

enum class kv_status {
  ok,
  out_of_blocks,     // not enough free blocks: the caller may wait, preempt or reject
  unknown_sequence,  // freeing or reading a sequence the table does not hold
  invalid_argument,  // negative token count, duplicate sequence in one batch
};
const char* kv_status_name(kv_status s);

// One sequence's growth in a batch.
struct kv_append {
  seq_id seq = 0;
  int n_tokens = 0;
};

// What applying a prepared batch will do: blocks to hand to each sequence.
struct kv_plan {
  struct item {
    seq_id seq = 0;
    int n_tokens_before = 0;  // tokens the sequence held before this batch
    int n_tokens = 0;         // tokens appended
    std::vector<std::int32_t> new_blocks;
  };
  std::vector<item> items;
  int n_new_blocks() const;
};

class kv_block_table {
 public:
  // reserve_blocks_per_seq: block-list capacity given to each new sequence,
  // so growing it later allocates nothing (the engine passes its longest
  // possible sequence).
  kv_block_table(int n_blocks, int block_size, int reserve_blocks_per_seq = 0);

  int block_size() const { return block_size_; }
  int n_blocks() const { return n_blocks_; }
  int n_free() const { return static_cast<int>(free_.size()); }
  int n_used() const { return n_blocks_ - n_free(); }
  int n_sequences() const { return static_cast<int>(seqs_.size()); }

  bool contains(seq_id s) const { return seqs_.count(s) != 0; }
  // Tokens held by s (0 if unknown).
  int n_tokens(seq_id s) const;
  // Blocks of s in token order (empty if unknown).
  std::span<const std::int32_t> blocks(seq_id s) const;
  // Blocks s would need to grow by n tokens.
  int blocks_needed(seq_id s, int n_tokens) const;

  // Plans a whole batch at once, all or nothing. Sequences not yet held are
  // created. Does not change the table.
  kv_status prepare(std::span<const kv_append> batch, kv_plan& plan) const;
  // Applies a plan from prepare() made against the table's current state.
  void apply(const kv_plan& plan);
  // Returns every block of s to the free list.
  kv_status free_sequence(seq_id s);
  // Shrinks s to its first n tokens, returning blocks it no longer needs.
  kv_status truncate(seq_id s, int n_tokens);

 private:
  struct sequence {
    int n_tokens = 0;
    std::vector<std::int32_t> blocks;
  };
  int n_blocks_;
  int block_size_;
  int reserve_per_seq_;
  std::vector<std::int32_t> free_;  // a stack: the most recently freed block is reused first
  std::unordered_map<seq_id, sequence> seqs_;
};

}  // namespace kairos
