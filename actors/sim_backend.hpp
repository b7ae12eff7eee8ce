#pragma once
// The sim backend: no compute. Execution time comes from a cost model (the
// device actor waits that long on the actor clock); KV is bookkeeping only
// (a kv_block_table with no memory); tokens are placeholders.
#include <memory>

#include "actors/device_backend.hpp"
#include "gpu/kv/kv_block_table.hpp"
#include "scheduler/cost_model.hpp"

namespace kairos {

inline constexpr int32_t sim_placeholder_token = 1;

class sim_backend final : public device_backend {
 public:
  // slowdown: fault injection, every batch takes this many times the model's time.
  sim_backend(std::shared_ptr<const sched::cost_model> truth, int n_blocks, int block_size, double slowdown = 1.0);

  status prefill(std::span<const prefill_work> batch, std::vector<prefill_output>& out, double& seconds) override;
  status step(std::span<const int64_t> evict, std::span<const step_load> load, std::span<const step_work> run,
              std::vector<std::shared_ptr<seq_handoff>>& evicted, std::vector<int32_t>& tokens,
              double& seconds) override;
  void free(std::span<const int64_t> seqs) override;

  int kv_free_blocks() const override { return table_.n_free(); }
  int kv_total_blocks() const override { return table_.n_blocks(); }
  int block_size() const override { return table_.block_size(); }

 private:
  std::shared_ptr<const sched::cost_model> truth_;
  double slowdown_ = 1.0;
  kv_block_table table_;
  std::vector<kv_append> appends_;
  std::vector<sched::prefill_piece> pieces_;
  kv_plan plan_;
};

}  // namespace kairos
