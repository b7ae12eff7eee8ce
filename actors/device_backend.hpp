#pragma once
// What a device actor drives: a backend that runs prefill batches and decode
// steps over the KV pool it owns. Plain C++, no CAF: the device actor only
// unpacks messages and calls this. Implementations: cpu_backend (the CPU
// engine), cuda_backend (the CUDA engine) and sim_backend (modelled time
// from a cost model).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gpu/base/result.hpp"
#include "gpu/engine/sampler.hpp"
#include "gpu/kv/kv_pool.hpp"

namespace kairos {

// A backend's KV staged in device memory (cuda_backend.cpp defines it).
struct device_kv;

// A sequence's KV on its way between devices (prefill -> decode, or swapped
// out of a decode device), with the sampler whose state goes with it.
struct seq_handoff {
  int32_t n_tokens = 0;              // tokens of KV
  std::unique_ptr<kv_pool> staging;  // cpu: the KV rows, in blocks of the pool's shape; null for sim
  std::shared_ptr<device_kv> device; // cuda: the KV packed on the exporting GPU; null otherwise
  sampler smp{sampling_params{}};
  bool swapped = false;              // evicted from a decode device (reload costs a transfer)
};

struct prefill_work {
  int64_t seq = 0;
  std::shared_ptr<const std::vector<int32_t>> prompt;  // cpu: the ids; sim: may be null
  int32_t n_tokens = 0;                                // prompt length
  sampling_params sampling;
};

struct prefill_output {
  int64_t seq = 0;
  int32_t first_token = 0;
  std::shared_ptr<seq_handoff> kv;  // the sequence's KV, already out of this device's pool
};

struct step_work {
  int64_t seq = 0;
  int32_t last_token = 0;  // the token this step feeds in
};

struct step_load {
  int64_t seq = 0;
  std::shared_ptr<seq_handoff> kv;
};

class device_backend {
 public:
  virtual ~device_backend() = default;

  // Runs whole prompts as one batch; each sequence's KV leaves the pool in
  // `out[i].kv`. `seconds`: measured (cpu) or modelled (sim).
  virtual status prefill(std::span<const prefill_work> batch, std::vector<prefill_output>& out, double& seconds) = 0;
  // Evicts `evict` (their KV into `evicted`), loads `load`, then runs one
  // token of each of `run`. `tokens[i]` is run[i]'s next token.
  virtual status step(std::span<const int64_t> evict, std::span<const step_load> load, std::span<const step_work> run,
                      std::vector<std::shared_ptr<seq_handoff>>& evicted, std::vector<int32_t>& tokens,
                      double& seconds) = 0;
  // Forgets sequences and returns their blocks. Unknown ids are ignored.
  virtual void free(std::span<const int64_t> seqs) = 0;

  virtual int kv_free_blocks() const = 0;
  virtual int kv_total_blocks() const = 0;
  virtual int block_size() const = 0;
};

}  // namespace kairos
