#include "gpu/tokenizer/bpe_model.hpp"

#include <cstdio>
#include <queue>

#include "gpu/tokenizer/byte_level.hpp"
#include "gpu/tokenizer/utf8.hpp"

namespace kairos {

result<bpe_model> bpe_model::build(vocab_map vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                                   bool ignore_merges) {
  bpe_model m;
  m.vocab_ = std::move(vocab);
  m.ignore_merges_ = ignore_merges;
  for (int b = 0; b < 256; ++b) {
    std::string token;
    utf8::append(token, byte_level::char_for_byte(static_cast<std::uint8_t>(b)));
    auto it = m.vocab_.find(token);
    if (it == m.vocab_.end()) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02X", b);
      return make_error("vocab has no byte-level token \"" + token + "\" for byte " + hex +
                        " (only byte-level BPE vocabularies are supported)");
    }
    m.byte_ids_[b] = it->second;
  }
  std::size_t capacity = 16;
  while (capacity < merges.size() * 2) capacity *= 2;  // load factor <= 1/2 keeps probes short
  m.merge_slots_.assign(capacity, merge_slot{});
  m.slot_mask_ = capacity - 1;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    auto l = m.vocab_.find(left);
    auto r = m.vocab_.find(right);
    auto merged = m.vocab_.find(left + right);
    const std::string* missing = l == m.vocab_.end() ? &left : r == m.vocab_.end() ? &right : nullptr;
    if (missing || merged == m.vocab_.end()) {
      return make_error("merge " + std::to_string(rank) + " (\"" + left + "\" \"" + right + "\") uses \"" +
                        (missing ? *missing : left + right) + "\", which is not in the vocab");
    }
    // A repeated pair keeps its first (best) rank.
    std::uint64_t key = pair_key(l->second, r->second);
    std::size_t i = m.slot_index(key);
    while (m.merge_slots_[i].key != empty_key && m.merge_slots_[i].key != key) i = (i + 1) & m.slot_mask_;
    if (m.merge_slots_[i].key == empty_key)
      m.merge_slots_[i] = merge_slot{key, merge{static_cast<std::int32_t>(rank), merged->second}};
  }
  return m;
}

const bpe_model::merge* bpe_model::find_merge(std::int32_t left, std::int32_t right) const {
  std::uint64_t key = pair_key(left, right);
  for (std::size_t i = slot_index(key);; i = (i + 1) & slot_mask_) {
    const merge_slot& slot = merge_slots_[i];
    if (slot.key == key) return &slot.value;
    if (slot.key == empty_key) return nullptr;
  }
}

void bpe_model::encode_piece(std::string_view piece, std::vector<std::int32_t>& out) const {
  if (piece.empty()) return;
  if (piece.size() == 1) {
    out.push_back(byte_ids_[static_cast<std::uint8_t>(piece[0])]);
    return;
  }
  if (ignore_merges_) {
    auto it = vocab_.find(byte_level::encode(piece));
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }

  // Symbols form a doubly linked list over the piece; a merged-away symbol
  // gets id -1. The heap holds candidate merges keyed by (rank, position), so
  // the best rank wins and equal ranks merge left to right.
  struct symbol {
    std::int32_t id;
    std::int32_t prev;
    std::int32_t next;
  };
  // A candidate remembers the pair it was made for, so checking whether it is
  // still current needs no second table lookup.
  struct candidate {
    std::int32_t rank;
    std::int32_t pos;
    std::int32_t left_id;
    std::int32_t right_id;
    std::int32_t merged_id;
    bool operator>(const candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  const auto n = static_cast<std::int32_t>(piece.size());
  std::vector<symbol> symbols(n);
  for (std::int32_t i = 0; i < n; ++i)
    symbols[i] = {byte_ids_[static_cast<std::uint8_t>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1};

  std::vector<candidate> storage;
  storage.reserve(n);
  std::priority_queue<candidate, std::vector<candidate>, std::greater<candidate>> heap(std::greater<candidate>{},
                                                                                      std::move(storage));
  auto consider = [&](std::int32_t pos) {
    if (pos < 0 || symbols[pos].next < 0) return;
    std::int32_t left = symbols[pos].id, right = symbols[symbols[pos].next].id;
    if (const merge* m = find_merge(left, right)) heap.push({m->rank, pos, left, right, m->merged_id});
  };
  // The first lookups are independent: start all their memory loads at once
  // (the table is megabytes, so each probe is usually a cache miss).
  for (std::int32_t i = 0; i + 1 < n; ++i)
    __builtin_prefetch(&merge_slots_[slot_index(pair_key(symbols[i].id, symbols[i + 1].id))]);
  for (std::int32_t i = 0; i + 1 < n; ++i) consider(i);

  while (!heap.empty()) {
    candidate c = heap.top();
    heap.pop();
    symbol& left = symbols[c.pos];
    // Stale when either symbol was merged away or changed meanwhile.
    if (left.id != c.left_id || left.next < 0 || symbols[left.next].id != c.right_id) continue;
    symbol& right = symbols[left.next];
    left.id = c.merged_id;
    right.id = -1;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = c.pos;
    if (left.prev >= 0) __builtin_prefetch(&merge_slots_[slot_index(pair_key(symbols[left.prev].id, left.id))]);
    if (left.next >= 0) __builtin_prefetch(&merge_slots_[slot_index(pair_key(left.id, symbols[left.next].id))]);
    consider(left.prev);
    consider(c.pos);
  }
  for (std::int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

}  // namespace kairos
