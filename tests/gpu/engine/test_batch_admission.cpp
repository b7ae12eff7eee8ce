// The batch checks and KV reservation both engines run first (admit_batch),
// on a bare block table: each malformed batch is refused with a message
// naming what is wrong, an over-full one with kv_exhausted, and a refused
// batch leaves the table as it was.
#include <doctest/doctest.h>

#include <vector>

#include "gpu/engine/batch_admission.hpp"

using namespace kairos;

namespace {

struct fixture {
  kv_block_table table{4, 16};  // 64 tokens of KV
  std::vector<kv_append> appends;
  kv_plan plan;
  batch_limits limits{100, 48, 40, 2};  // vocab, max_seq_len, max_batch_tokens, max_logit_rows
  batch_admission admit(const std::vector<batch_sequence>& b) { return admit_batch(b, limits, table, appends, plan); }
};

}  // namespace

TEST_CASE("a good mixed batch is admitted, counted, and its KV applied") {
  fixture f;
  const std::vector<int32_t> prompt(20, 7), one{3};
  auto a = f.admit({{1, prompt, true}, {2, one, false}});
  CHECK(a.status == forward_status::ok);
  CHECK(a.n_tokens == 21);
  CHECK(a.n_logit_rows == 1);
  CHECK_FALSE(a.all_decode);
  CHECK(f.table.n_tokens(1) == 20);
  CHECK(f.table.n_tokens(2) == 1);
  CHECK(f.table.n_free() == 1);  // 2 blocks + 1 block of 4
  auto d = f.admit({{1, one, true}, {2, one, true}});
  CHECK(d.status == forward_status::ok);
  CHECK(d.all_decode);
  CHECK(f.table.n_tokens(1) == 21);
}

TEST_CASE("each malformed batch names what is wrong and changes nothing") {
  fixture f;
  const std::vector<int32_t> ok(4, 1), none, bad_id{1, 100}, negative{-1}, long_prompt(49, 1), many(41, 1);
  const std::vector<int32_t> one{1};
  struct bad_case {
    std::vector<batch_sequence> batch;
    const char* says;
  };
  const std::vector<bad_case> cases = {
      {{{5, ok, true}, {6, none, true}}, "sequence 6 has no tokens"},
      {{{5, bad_id, true}}, "sequence 5: token id 100 outside the vocabulary [0, 100)"},
      {{{5, negative, true}}, "token id -1 outside"},
      {{{5, long_prompt, true}}, "sequence 5 would reach 49 tokens, more than the 48 this engine holds"},
      {{{5, many, true}}, "batch has 41 tokens, more than max_batch_tokens 40"},
      {{{5, one, true}, {6, one, true}, {7, one, true}}, "batch asks for 3 logit rows, more than max_logit_rows 2"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.says);
    const auto a = f.admit(c.batch);
    CHECK(a.status == forward_status::invalid_batch);
    CHECK(a.message.find(c.says) != std::string::npos);
    CHECK(f.table.n_free() == 4);
    CHECK(f.table.n_tokens(5) == 0);
  }
}

TEST_CASE("a batch the cache cannot hold is kv_exhausted and reserves nothing") {
  fixture f;
  const std::vector<int32_t> a40(40, 1), a30(30, 1);
  REQUIRE(f.admit({{1, a40, true}}).status == forward_status::ok);  // 3 of 4 blocks
  const auto a = f.admit({{2, a30, true}});                          // needs 2 more
  CHECK(a.status == forward_status::kv_exhausted);
  CHECK(a.message.find("KV cache exhausted: batch needs 30 more tokens of KV, 1 free blocks of 16") != std::string::npos);
  CHECK(f.table.n_free() == 1);
  CHECK(f.table.n_tokens(2) == 0);
  CHECK(f.table.n_tokens(1) == 40);
}
