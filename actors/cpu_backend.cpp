#include "actors/cpu_backend.hpp"

#include <chrono>

namespace kairos {

namespace {
double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

cpu_backend::cpu_backend(std::unique_ptr<cpu_engine> engine) : engine_(std::move(engine)) {}

std::shared_ptr<seq_handoff> cpu_backend::export_seq(int64_t seq) {
  auto blob = engine_->export_sequence(seq);
  auto h = std::make_shared<seq_handoff>();
  h->n_tokens = blob.n_tokens;
  h->staging = std::move(blob.rows);
  if (auto it = samplers_.find(seq); it != samplers_.end()) {
    h->smp = it->second;
    samplers_.erase(it);
  }
  engine_->free_sequence(seq);
  return h;
}

status cpu_backend::import_seq(int64_t seq, const seq_handoff& h) {
  if (!h.staging) return make_error("sequence " + std::to_string(seq) + " arrived without KV rows");
  std::string why;
  if (engine_->import_sequence(seq, h.n_tokens, *h.staging, &why) != forward_status::ok)
    return make_error("KV import of sequence " + std::to_string(seq) + " (" + std::to_string(h.n_tokens) +
                      " tokens): " + why);
  samplers_.insert_or_assign(seq, h.smp);
  return {};
}

status cpu_backend::prefill(std::span<const prefill_work> batch, std::vector<prefill_output>& out, double& seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  out.clear();
  batch_.clear();
  for (const auto& w : batch) {
    if (!w.prompt || w.prompt->empty()) return make_error("prefill of sequence " + std::to_string(w.seq) + ": empty prompt");
    batch_.push_back({w.seq, std::span<const int32_t>(*w.prompt), true});
  }
  auto res = engine_->forward(batch_);
  if (res.status != forward_status::ok) return make_error("prefill forward: " + res.message);
  for (size_t i = 0; i < batch.size(); ++i) {
    sampler smp(batch[i].sampling);
    const int32_t tok = smp.sample(res.logits(int(i)));
    samplers_.insert_or_assign(batch[i].seq, smp);
    out.push_back({batch[i].seq, tok, export_seq(batch[i].seq)});
  }
  seconds = since(t0);
  return {};
}

status cpu_backend::step(std::span<const int64_t> evict, std::span<const step_load> load,
                         std::span<const step_work> run, std::vector<std::shared_ptr<seq_handoff>>& evicted,
                         std::vector<int32_t>& tokens, double& seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  evicted.clear();
  tokens.clear();
  for (int64_t s : evict) {
    auto h = export_seq(s);
    h->swapped = true;
    evicted.push_back(std::move(h));
  }
  for (const auto& l : load)
    if (auto s = import_seq(l.seq, *l.kv); !s) return s;
  if (!run.empty()) {
    batch_.clear();
    step_tokens_.resize(run.size());
    for (size_t i = 0; i < run.size(); ++i) {
      step_tokens_[i] = run[i].last_token;
      batch_.push_back({run[i].seq, std::span<const int32_t>(&step_tokens_[i], 1), true});
    }
    auto res = engine_->forward(batch_);
    if (res.status != forward_status::ok) return make_error("decode forward: " + res.message);
    for (size_t i = 0; i < run.size(); ++i) {
      auto it = samplers_.find(run[i].seq);
      if (it == samplers_.end()) it = samplers_.emplace(run[i].seq, sampler(sampling_params{})).first;
      tokens.push_back(it->second.sample(res.logits(int(i))));
    }
  }
  seconds = since(t0);
  return {};
}

void cpu_backend::free(std::span<const int64_t> seqs) {
  for (int64_t s : seqs) {
    engine_->free_sequence(s);
    samplers_.erase(s);
  }
}

}  // namespace kairos
