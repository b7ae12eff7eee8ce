#pragma once
// What every engine does first with a batch, before touching any state:
// check each sequence's tokens and length and the batch's size against the
// engine's limits, then reserve the batch's KV (prepared, then applied). The
// CPU and CUDA engines share it, so they accept and refuse the same batches
// with the same messages.
#include <span>
#include <string>
#include <vector>

#include "gpu/engine/cpu_engine.hpp"
#include "gpu/kv/kv_block_table.hpp"

namespace kairos {

struct batch_limits {
  int vocab_size = 0;        // token ids must be in [0, vocab_size)
  int max_seq_len = 0;       // a sequence's KV after the batch, in tokens
  int max_batch_tokens = 0;  // new tokens in one batch
  int max_logit_rows = 0;    // sequences asking for logits in one batch
};

struct batch_admission {
  forward_status status = forward_status::ok;
  std::string message;  // why, when not ok
  int n_tokens = 0;     // new tokens in the batch
  int n_logit_rows = 0;
  bool all_decode = true;  // every sequence brings one token and wants its logits
};

// Checks `batch` and, when it passes, applies its KV appends to `table`
// (`appends` and `plan` are the caller's scratch, reused between calls). On
// any failure the table is unchanged: invalid_batch for a malformed batch,
// kv_exhausted when the cache cannot hold it.
batch_admission admit_batch(std::span<const batch_sequence> batch, const batch_limits& limits, kv_block_table& table,
                            std::vector<kv_append>& appends, kv_plan& plan);

}  // namespace kairos
