#pragma once
// The CUDA backend: a cuda::cuda_engine of its own (its weights, its paged
// BF16 KV cache and its stream on one GPU). Prefill and decode groups may
// share a GPU (one engine and stream per device) or sit on separate ones.
// Tokens are drawn on the GPU; only token ids cross to the host. KV leaves
// a device packed in device memory (seq_handoff::device): a device-to-device
// copy on the same GPU, cudaMemcpyPeerAsync when the importer is on another.
//
// This header compiles without CUDA: the engine is only forward-declared,
// and make_cuda_backend() says why it cannot build one (no CUDA compiled in,
// no GPU, no such GPU) instead of crashing.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/device_backend.hpp"
#include "gpu/engine/cpu_engine.hpp"  // batch_sequence (no CUDA types)
#include "gpu/model/model_config.hpp"
#include "gpu/model/tensor_store.hpp"

namespace kairos {

namespace cuda {
class cuda_engine;
}

// What a device needs beyond the model: sizes, all in tokens or sequences.
struct cuda_device_options {
  int gpu = 0;
  int block_size = 16;
  int max_seq_len = 0;       // longest sequence; 0: the model's max_position
  int kv_tokens = 0;         // KV capacity of this device
  int max_batch_tokens = 2048;
  int max_logit_rows = 256;
  bool cuda_graphs = true;
};

// True when this binary has the CUDA backend compiled in.
bool cuda_compiled_in();
// Ok when `gpu` can be used; otherwise an error naming why (built without
// CUDA, no driver or no device, index out of range).
status cuda_device_usable(int gpu);

class cuda_backend final : public device_backend {
 public:
  explicit cuda_backend(std::unique_ptr<cuda::cuda_engine> engine);
  ~cuda_backend() override;
  cuda_backend(const cuda_backend&) = delete;
  cuda_backend& operator=(const cuda_backend&) = delete;

  status prefill(std::span<const prefill_work> batch, std::vector<prefill_output>& out, double& seconds) override;
  status step(std::span<const int64_t> evict, std::span<const step_load> load, std::span<const step_work> run,
              std::vector<std::shared_ptr<seq_handoff>>& evicted, std::vector<int32_t>& tokens,
              double& seconds) override;
  void free(std::span<const int64_t> seqs) override;

  int kv_free_blocks() const override;
  int kv_total_blocks() const override;
  int block_size() const override;

  cuda::cuda_engine& engine() { return *engine_; }
  int gpu() const;

 private:
  status use_device() const;
  result<std::shared_ptr<seq_handoff>> export_seq(int64_t seq);
  status import_seq(int64_t seq, const seq_handoff& h);
  status sample_last(std::span<const int64_t> seqs, std::vector<int32_t>& tokens);

  std::unique_ptr<cuda::cuda_engine> engine_;
  std::unordered_map<int64_t, sampling_params> params_;  // resident sequences' sampling
  std::vector<batch_sequence> batch_;
  std::vector<int32_t> step_tokens_;
  std::vector<int64_t> seqs_;
  std::vector<int> peers_granted_;  // GPUs whose pool this one may read (cross-GPU hand-off)
};

// Builds a device's backend: uploads `host` (BF16 on the device) or, when
// `host` is null, generates random weights of `random_shape` on the GPU
// (make_random_cuda_engine, no host copy). Errors name the device.
result<std::shared_ptr<device_backend>> make_cuda_backend(const std::string& device_name, const model_config* host_config,
                                                          const tensor_store* host, const std::string& random_shape,
                                                          std::uint64_t seed, const cuda_device_options& opts);

}  // namespace kairos
