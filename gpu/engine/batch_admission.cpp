#include "gpu/engine/batch_admission.hpp"

namespace kairos {

batch_admission admit_batch(std::span<const batch_sequence> batch, const batch_limits& limits, kv_block_table& table,
                            std::vector<kv_append>& appends, kv_plan& plan) {
  batch_admission out;
  auto fail = [&](forward_status s, std::string msg) {
    out.status = s;
    out.message = std::move(msg);
    return out;
  };
  for (const auto& b : batch) {
    const std::string seq = "sequence " + std::to_string(b.seq);
    if (b.tokens.empty()) return fail(forward_status::invalid_batch, seq + " has no tokens");
    for (auto t : b.tokens)
      if (t < 0 || t >= limits.vocab_size)
        return fail(forward_status::invalid_batch, seq + ": token id " + std::to_string(t) + " outside the vocabulary [0, " +
                                                       std::to_string(limits.vocab_size) + ")");
    const int end = table.n_tokens(b.seq) + static_cast<int>(b.tokens.size());
    if (end > limits.max_seq_len)
      return fail(forward_status::invalid_batch, seq + " would reach " + std::to_string(end) + " tokens, more than the " +
                                                     std::to_string(limits.max_seq_len) + " this engine holds");
    out.n_tokens += static_cast<int>(b.tokens.size());
    out.n_logit_rows += b.want_logits ? 1 : 0;
    out.all_decode = out.all_decode && b.tokens.size() == 1 && b.want_logits;
  }
  if (out.n_tokens > limits.max_batch_tokens)
    return fail(forward_status::invalid_batch, "batch has " + std::to_string(out.n_tokens) +
                                                   " tokens, more than max_batch_tokens " +
                                                   std::to_string(limits.max_batch_tokens));
  if (out.n_logit_rows > limits.max_logit_rows)
    return fail(forward_status::invalid_batch, "batch asks for " + std::to_string(out.n_logit_rows) +
                                                   " logit rows, more than max_logit_rows " +
                                                   std::to_string(limits.max_logit_rows));
  // Prepared, then applied: a failure changes nothing.
  appends.clear();
  for (const auto& b : batch) appends.push_back({b.seq, static_cast<int>(b.tokens.size())});
  if (auto s = table.prepare(appends, plan); s != kv_status::ok) {
    if (s == kv_status::out_of_blocks)
      return fail(forward_status::kv_exhausted, "KV cache exhausted: batch needs " + std::to_string(out.n_tokens) +
                                                    " more tokens of KV, " + std::to_string(table.n_free()) +
                                                    " free blocks of " + std::to_string(table.block_size()));
    return fail(forward_status::invalid_batch, std::string("KV reservation failed: ") + kv_status_name(s));
  }
  table.apply(plan);
  return out;
}

}  // namespace kairos
