// kv_block_table: paged KV bookkeeping with zero storage.
#include "gpu/kv/kv_block_table.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <vector>

using namespace kairos;

namespace {

// Prepares and applies one batch; returns the status of prepare().
kv_status grow(kv_block_table& t, std::vector<kv_append> batch) {
  kv_plan plan;
  kv_status s = t.prepare(batch, plan);
  if (s == kv_status::ok) t.apply(plan);
  return s;
}

int blocks_for(int tokens, int bs) { return (tokens + bs - 1) / bs; }

// Every block is either free or owned by exactly one sequence.
void check_invariants(const kv_block_table& t, const std::map<seq_id, int>& model) {
  std::set<std::int32_t> owned;
  int sum = 0;
  for (auto& [s, n] : model) {
    REQUIRE(t.contains(s));
    REQUIRE(t.n_tokens(s) == n);
    auto b = t.blocks(s);
    REQUIRE(static_cast<int>(b.size()) == blocks_for(n, t.block_size()));
    for (auto id : b) {
      REQUIRE(id >= 0);
      REQUIRE(id < t.n_blocks());
      REQUIRE(owned.insert(id).second);  // no block owned twice
    }
    sum += static_cast<int>(b.size());
  }
  REQUIRE(t.n_sequences() == static_cast<int>(model.size()));
  REQUIRE(sum + t.n_free() == t.n_blocks());
  REQUIRE(t.n_used() == sum);
}

}  // namespace

TEST_CASE("fresh table: counts and contiguous blocks") {
  kv_block_table t(10, 16);
  CHECK(t.n_blocks() == 10);
  CHECK(t.block_size() == 16);
  CHECK(t.n_free() == 10);
  CHECK(t.n_used() == 0);
  CHECK(t.n_sequences() == 0);
  CHECK_FALSE(t.contains(1));
  CHECK(t.n_tokens(1) == 0);
  CHECK(t.blocks(1).empty());

  REQUIRE(grow(t, {{1, 40}}) == kv_status::ok);  // 3 blocks
  CHECK(t.contains(1));
  CHECK(t.n_tokens(1) == 40);
  auto b = t.blocks(1);
  REQUIRE(b.size() == 3);
  CHECK(b[0] == 0);
  CHECK(b[1] == 1);
  CHECK(b[2] == 2);
  CHECK(t.n_free() == 7);
  CHECK(t.n_used() == 3);
}

TEST_CASE("blocks_needed at block boundaries") {
  kv_block_table t(8, 16);
  CHECK(t.blocks_needed(1, 0) == 0);
  CHECK(t.blocks_needed(1, 1) == 1);
  CHECK(t.blocks_needed(1, 15) == 1);
  CHECK(t.blocks_needed(1, 16) == 1);
  CHECK(t.blocks_needed(1, 17) == 2);
  CHECK(t.blocks_needed(1, 32) == 2);
  CHECK(t.blocks_needed(1, 33) == 3);

  REQUIRE(grow(t, {{1, 15}}) == kv_status::ok);
  CHECK(t.blocks_needed(1, 0) == 0);
  CHECK(t.blocks_needed(1, 1) == 0);  // fills block 0 exactly
  CHECK(t.blocks_needed(1, 2) == 1);
  REQUIRE(grow(t, {{1, 1}}) == kv_status::ok);
  CHECK(t.n_tokens(1) == 16);
  CHECK(t.blocks(1).size() == 1);
  CHECK(t.blocks_needed(1, 1) == 1);
  CHECK(t.blocks_needed(1, 16) == 1);
  CHECK(t.blocks_needed(1, 17) == 2);
  REQUIRE(grow(t, {{1, 1}}) == kv_status::ok);
  CHECK(t.blocks(1).size() == 2);
  CHECK(t.blocks_needed(1, 15) == 0);
  CHECK(t.blocks_needed(1, 16) == 1);

  // A zero-token append of a new sequence creates it with no blocks.
  REQUIRE(grow(t, {{2, 0}}) == kv_status::ok);
  CHECK(t.contains(2));
  CHECK(t.n_tokens(2) == 0);
  CHECK(t.blocks(2).empty());
  CHECK(t.n_free() == 6);
}

TEST_CASE("prepare does not change the table; the plan describes apply") {
  kv_block_table t(10, 4);
  REQUIRE(grow(t, {{7, 5}}) == kv_status::ok);  // 2 blocks: 0, 1
  std::vector<kv_append> batch{{7, 4}, {8, 9}, {9, 0}};
  kv_plan plan;
  REQUIRE(t.prepare(batch, plan) == kv_status::ok);
  CHECK(t.n_free() == 8);
  CHECK(t.n_tokens(7) == 5);
  CHECK_FALSE(t.contains(8));
  CHECK_FALSE(t.contains(9));
  REQUIRE(plan.items.size() == 3);
  CHECK(plan.items[0].seq == 7);
  CHECK(plan.items[0].n_tokens_before == 5);
  CHECK(plan.items[0].n_tokens == 4);
  CHECK(plan.items[0].new_blocks.size() == 1);  // 9 tokens -> 3 blocks
  CHECK(plan.items[1].seq == 8);
  CHECK(plan.items[1].n_tokens_before == 0);
  CHECK(plan.items[1].new_blocks.size() == 3);
  CHECK(plan.items[2].new_blocks.empty());
  CHECK(plan.n_new_blocks() == 4);
  std::set<std::int32_t> planned;
  for (auto& it : plan.items)
    for (auto b : it.new_blocks) CHECK(planned.insert(b).second);

  t.apply(plan);
  CHECK(t.n_free() == 4);
  CHECK(t.n_tokens(7) == 9);
  CHECK(t.n_tokens(8) == 9);
  CHECK(t.contains(9));
  auto b7 = t.blocks(7);
  REQUIRE(b7.size() == 3);
  CHECK(b7[2] == plan.items[0].new_blocks[0]);
  auto b8 = t.blocks(8);
  REQUIRE(b8.size() == 3);
  for (int i = 0; i < 3; ++i) CHECK(b8[i] == plan.items[1].new_blocks[i]);
}

TEST_CASE("out_of_blocks is all or nothing") {
  kv_block_table t(6, 16);
  REQUIRE(grow(t, {{1, 20}}) == kv_status::ok);  // 2 blocks
  REQUIRE(grow(t, {{2, 16}}) == kv_status::ok);  // 1 block
  const int free_before = t.n_free();             // 3
  REQUIRE(free_before == 3);
  std::vector<std::int32_t> b1(t.blocks(1).begin(), t.blocks(1).end());

  // Needs 1 (seq 1: 20 -> 40 tokens = 3 blocks) + 3 (new) = 4 > 3.
  std::vector<kv_append> batch{{1, 20}, {3, 33}};
  kv_plan plan;
  CHECK(t.prepare(batch, plan) == kv_status::out_of_blocks);
  CHECK(t.n_free() == free_before);
  CHECK(t.n_tokens(1) == 20);
  CHECK(t.n_tokens(2) == 16);
  CHECK_FALSE(t.contains(3));
  CHECK(t.n_sequences() == 2);
  CHECK(std::equal(b1.begin(), b1.end(), t.blocks(1).begin(), t.blocks(1).end()));

  // Exactly the free count fits.
  CHECK(grow(t, {{1, 20}, {3, 32}}) == kv_status::ok);
  CHECK(t.n_free() == 0);
  CHECK(grow(t, {{2, 1}}) == kv_status::out_of_blocks);
  CHECK(t.n_tokens(2) == 16);
  // Growth inside an existing block needs no free block.
  CHECK(grow(t, {{3, 0}}) == kv_status::ok);
  REQUIRE(t.free_sequence(1) == kv_status::ok);
  CHECK(t.n_free() == 3);
}

TEST_CASE("duplicate sequence or negative count is invalid_argument") {
  kv_block_table t(8, 16);
  kv_plan plan;
  std::vector<kv_append> dup{{1, 3}, {2, 3}, {1, 4}};
  CHECK(t.prepare(dup, plan) == kv_status::invalid_argument);
  CHECK(t.n_free() == 8);
  CHECK(t.n_sequences() == 0);
  std::vector<kv_append> neg{{1, 3}, {2, -1}};
  CHECK(t.prepare(neg, plan) == kv_status::invalid_argument);
  CHECK(t.n_free() == 8);
  CHECK(t.n_sequences() == 0);
}

TEST_CASE("free_sequence returns exact block counts") {
  kv_block_table t(20, 16);
  REQUIRE(grow(t, {{1, 1}, {2, 16}, {3, 17}, {4, 64}}) == kv_status::ok);  // 1+1+2+4
  CHECK(t.n_free() == 12);
  CHECK(t.free_sequence(3) == kv_status::ok);
  CHECK(t.n_free() == 14);
  CHECK_FALSE(t.contains(3));
  CHECK(t.free_sequence(3) == kv_status::unknown_sequence);
  CHECK(t.free_sequence(99) == kv_status::unknown_sequence);
  CHECK(t.n_free() == 14);
  CHECK(t.free_sequence(4) == kv_status::ok);
  CHECK(t.n_free() == 18);
  CHECK(t.free_sequence(1) == kv_status::ok);
  CHECK(t.free_sequence(2) == kv_status::ok);
  CHECK(t.n_free() == 20);
  CHECK(t.n_sequences() == 0);
}

TEST_CASE("truncate") {
  kv_block_table t(10, 16);
  REQUIRE(grow(t, {{1, 50}}) == kv_status::ok);  // 4 blocks
  CHECK(t.n_free() == 6);
  std::vector<std::int32_t> before(t.blocks(1).begin(), t.blocks(1).end());
  CHECK(t.truncate(1, 51) == kv_status::invalid_argument);
  CHECK(t.truncate(1, -1) == kv_status::invalid_argument);
  CHECK(t.truncate(2, 0) == kv_status::unknown_sequence);
  CHECK(t.n_tokens(1) == 50);

  CHECK(t.truncate(1, 48) == kv_status::ok);  // 3 blocks exactly
  CHECK(t.n_tokens(1) == 48);
  CHECK(t.blocks(1).size() == 3);
  CHECK(t.n_free() == 7);
  CHECK(t.truncate(1, 33) == kv_status::ok);  // still 3 blocks
  CHECK(t.blocks(1).size() == 3);
  CHECK(t.n_free() == 7);
  CHECK(t.truncate(1, 32) == kv_status::ok);
  CHECK(t.blocks(1).size() == 2);
  CHECK(t.n_free() == 8);
  // The kept blocks are the prefix.
  auto b = t.blocks(1);
  CHECK(b[0] == before[0]);
  CHECK(b[1] == before[1]);
  CHECK(t.truncate(1, 0) == kv_status::ok);
  CHECK(t.contains(1));
  CHECK(t.blocks(1).empty());
  CHECK(t.n_free() == 10);
  // It can grow again.
  REQUIRE(grow(t, {{1, 17}}) == kv_status::ok);
  CHECK(t.n_tokens(1) == 17);
  CHECK(t.blocks(1).size() == 2);
}

TEST_CASE("fragmentation hands out non-contiguous blocks") {
  kv_block_table t(16, 4);
  for (seq_id s = 0; s < 8; ++s) REQUIRE(grow(t, {{s, 8}}) == kv_status::ok);  // 2 blocks each
  CHECK(t.n_free() == 0);
  for (seq_id s = 0; s < 8; s += 2) REQUIRE(t.free_sequence(s) == kv_status::ok);
  CHECK(t.n_free() == 8);
  REQUIRE(grow(t, {{100, 32}}) == kv_status::ok);  // all 8 free blocks
  auto b = t.blocks(100);
  REQUIRE(b.size() == 8);
  bool contiguous = true;
  for (std::size_t i = 1; i < b.size(); ++i)
    if (b[i] != b[i - 1] + 1) contiguous = false;
  CHECK_FALSE(contiguous);
  std::set<std::int32_t> got(b.begin(), b.end());
  CHECK(got.size() == 8);
  // Exactly the blocks the freed sequences (0, 2, 4, 6) held: 0,1, 4,5, 8,9, 12,13.
  CHECK(got == std::set<std::int32_t>{0, 1, 4, 5, 8, 9, 12, 13});
  for (seq_id s = 1; s < 8; s += 2)
    for (auto id : t.blocks(s)) CHECK(got.count(id) == 0);
}

TEST_CASE("randomized operations against a simple model") {
  for (int block_size : {1, 4, 16}) {
    std::mt19937 rng(1234 + block_size);
    const int n_blocks = 40;
    kv_block_table t(n_blocks, block_size);
    std::map<seq_id, int> model;  // seq -> tokens
    seq_id next = 0;
    int n_ok = 0, n_oob = 0;
    for (int step = 0; step < 3000; ++step) {
      int op = static_cast<int>(rng() % 10);
      if (op < 5) {  // a batch of appends (new and existing sequences)
        std::vector<kv_append> batch;
        int n = 1 + static_cast<int>(rng() % 4);
        std::set<seq_id> used;
        for (int i = 0; i < n; ++i) {
          seq_id s;
          if (!model.empty() && rng() % 2) {
            auto it = model.begin();
            std::advance(it, rng() % model.size());
            s = it->first;
          } else {
            s = next++;
          }
          if (!used.insert(s).second) continue;
          batch.push_back({s, static_cast<int>(rng() % (3 * block_size + 2))});
        }
        int need = 0;
        for (auto& a : batch) {
          int have = model.count(a.seq) ? model[a.seq] : 0;
          need += blocks_for(have + a.n_tokens, block_size) - blocks_for(have, block_size);
          REQUIRE(t.blocks_needed(a.seq, a.n_tokens) ==
                  blocks_for(have + a.n_tokens, block_size) - blocks_for(have, block_size));
        }
        const int free_before = t.n_free();
        kv_status s = grow(t, batch);
        if (need > free_before) {
          REQUIRE(s == kv_status::out_of_blocks);
          REQUIRE(t.n_free() == free_before);
          ++n_oob;
        } else {
          REQUIRE(s == kv_status::ok);
          REQUIRE(t.n_free() == free_before - need);
          for (auto& a : batch) model[a.seq] += a.n_tokens;
          ++n_ok;
        }
      } else if (op < 8) {  // free
        if (model.empty()) continue;
        auto it = model.begin();
        std::advance(it, rng() % model.size());
        const int free_before = t.n_free();
        const int nb = blocks_for(it->second, block_size);
        REQUIRE(t.free_sequence(it->first) == kv_status::ok);
        REQUIRE(t.n_free() == free_before + nb);
        model.erase(it);
      } else {  // truncate
        if (model.empty()) continue;
        auto it = model.begin();
        std::advance(it, rng() % model.size());
        int n = it->second == 0 ? 0 : static_cast<int>(rng() % (it->second + 1));
        const int free_before = t.n_free();
        const int freed = blocks_for(it->second, block_size) - blocks_for(n, block_size);
        REQUIRE(t.truncate(it->first, n) == kv_status::ok);
        REQUIRE(t.n_free() == free_before + freed);
        it->second = n;
      }
      check_invariants(t, model);
    }
    MESSAGE("block_size " << block_size << ": " << n_ok << " batches applied, " << n_oob << " rejected");
    CHECK(n_ok > 100);
    CHECK(n_oob > 10);
    for (auto& [s, n] : model) REQUIRE(t.free_sequence(s) == kv_status::ok);
    CHECK(t.n_free() == n_blocks);
    CHECK(t.n_sequences() == 0);
  }
}
