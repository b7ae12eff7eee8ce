#include "actors/sim_backend.hpp"

namespace kairos {

sim_backend::sim_backend(std::shared_ptr<const sched::cost_model> truth, int n_blocks, int block_size, double slowdown)
    : truth_(std::move(truth)), slowdown_(slowdown), table_(n_blocks, block_size) {}

status sim_backend::prefill(std::span<const prefill_work> batch, std::vector<prefill_output>& out, double& seconds) {
  out.clear();
  pieces_.clear();
  for (const auto& w : batch) {
    if (w.n_tokens <= 0) return make_error("prefill of sequence " + std::to_string(w.seq) + ": empty prompt");
    pieces_.push_back({w.n_tokens, 0});
    auto h = std::make_shared<seq_handoff>();
    h->n_tokens = w.n_tokens;
    out.push_back({w.seq, sim_placeholder_token, std::move(h)});
  }
  seconds = truth_->prefill_time(pieces_) * slowdown_;
  return {};
}

status sim_backend::step(std::span<const int64_t> evict, std::span<const step_load> load,
                         std::span<const step_work> run, std::vector<std::shared_ptr<seq_handoff>>& evicted,
                         std::vector<int32_t>& tokens, double& seconds) {
  evicted.clear();
  tokens.clear();
  double extra = 0;
  for (int64_t s : evict) {
    auto h = std::make_shared<seq_handoff>();
    h->n_tokens = table_.n_tokens(s);
    h->swapped = true;
    (void)table_.free_sequence(s);
    evicted.push_back(std::move(h));
  }
  for (const auto& l : load) {
    kv_append a{l.seq, l.kv->n_tokens};
    if (auto st = table_.prepare(std::span<const kv_append>(&a, 1), plan_); st != kv_status::ok)
      return make_error("KV import of sequence " + std::to_string(l.seq) + " (" + std::to_string(l.kv->n_tokens) +
                        " tokens): " + kv_status_name(st));
    table_.apply(plan_);
    if (l.kv->swapped) extra += truth_->transfer_time(l.kv->n_tokens);  // reload of swapped KV, as the simulator charges
  }
  int64_t ctx = 0;
  appends_.clear();
  for (const auto& w : run) {
    ctx += table_.n_tokens(w.seq);
    appends_.push_back({w.seq, 1});
  }
  if (!run.empty()) {
    if (auto st = table_.prepare(appends_, plan_); st != kv_status::ok)
      return make_error(std::string("decode step: ") + kv_status_name(st));
    table_.apply(plan_);
  }
  tokens.assign(run.size(), sim_placeholder_token);
  seconds = ((run.empty() ? 0.0 : truth_->decode_step_time(int32_t(run.size()), ctx)) + extra) * slowdown_;
  return {};
}

void sim_backend::free(std::span<const int64_t> seqs) {
  for (int64_t s : seqs) (void)table_.free_sequence(s);
}

}  // namespace kairos
