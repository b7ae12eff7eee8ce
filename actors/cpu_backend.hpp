#pragma once
// The CPU backend: a cpu_engine of its own (weights packed per device, its
// own paged KV pool). Samplers live here while a sequence is resident.
#include <memory>
#include <unordered_map>

#include "actors/device_backend.hpp"
#include "gpu/engine/cpu_engine.hpp"

namespace kairos {

class cpu_backend final : public device_backend {
 public:
  explicit cpu_backend(std::unique_ptr<cpu_engine> engine);

  status prefill(std::span<const prefill_work> batch, std::vector<prefill_output>& out, double& seconds) override;
  status step(std::span<const int64_t> evict, std::span<const step_load> load, std::span<const step_work> run,
              std::vector<std::shared_ptr<seq_handoff>>& evicted, std::vector<int32_t>& tokens,
              double& seconds) override;
  void free(std::span<const int64_t> seqs) override;

  int kv_free_blocks() const override { return engine_->kv_table().n_free(); }
  int kv_total_blocks() const override { return engine_->kv_table().n_blocks(); }
  int block_size() const override { return engine_->kv_table().block_size(); }

  cpu_engine& engine() { return *engine_; }

 private:
  std::shared_ptr<seq_handoff> export_seq(int64_t seq);
  status import_seq(int64_t seq, const seq_handoff& h);

  std::unique_ptr<cpu_engine> engine_;
  std::unordered_map<int64_t, sampler> samplers_;
  std::vector<batch_sequence> batch_;
  std::vector<int32_t> step_tokens_;
};

}  // namespace kairos
