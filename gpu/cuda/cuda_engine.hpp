#pragma once
// The CUDA transformer engine: the CPU engine's model (same loaders, same
// model_config and tensor_store), weights in BF16 on the device, FP32
// accumulation, a paged BF16 KV cache on the device whose bookkeeping is the
// shared kv_block_table. One forward() runs a mixed ragged batch of prefill
// chunks and decode steps; a batch of decode steps only is replayed from a
// CUDA graph captured per batch-size bucket (the step's plan is built on the
// host and copied in before the replay).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gpu/base/result.hpp"
#include "gpu/cuda/kernels/sampling.cuh"
#include "gpu/engine/cpu_engine.hpp"  // batch_sequence, forward_result, forward_status
#include "gpu/kv/kv_block_table.hpp"
#include "gpu/model/model_config.hpp"
#include "gpu/model/tensor_store.hpp"

namespace kairos::cuda {

struct cuda_engine_options {
  int device = 0;
  int block_size = 16;
  // Longest sequence (prompt + generated); 0 = the config's max_position.
  // Sizes the RoPE table, the block tables and the graphs' attention split.
  int max_seq_len = 0;
  // KV capacity in tokens, rounded up to whole blocks; 0 = max_seq_len.
  int kv_tokens = 0;
  // Largest number of tokens in one forward() (sizes the activations).
  int max_batch_tokens = 2048;
  // Largest number of sequences asking for logits in one forward().
  int max_logit_rows = 256;
  // Replay pure-decode batches from CUDA graphs, bucketed by batch size;
  // a batch is padded up to the next bucket (at most max_logit_rows).
  bool cuda_graphs = true;
  std::vector<int> graph_batch_sizes = {1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256};
};

class cuda_engine {
 public:
  // Uploads the weights (any stored dtype) as BF16; the store may be
  // dropped afterwards.
  static result<std::unique_ptr<cuda_engine>> create(const model_config& cfg, const tensor_store& tensors,
                                                     const cuda_engine_options& opts = {});
  // Loads a Hugging Face directory or a GGUF file, then create().
  static result<std::unique_ptr<cuda_engine>> load(const std::string& path, const cuda_engine_options& opts = {});
  // Weights ~ N(0, 0.02) (norms 1) generated on the device from `seed`, no
  // host copy: large shapes (llama3-8b) without files. Not the same numbers
  // as make_random_tensor_store's CPU generator.
  static result<std::unique_ptr<cuda_engine>> create_random(const model_config& cfg, std::uint64_t seed,
                                                            const cuda_engine_options& opts = {});
  ~cuda_engine();
  cuda_engine(const cuda_engine&) = delete;
  cuda_engine& operator=(const cuda_engine&) = delete;

  const model_config& config() const;
  const cuda_engine_options& options() const;

  // Runs the batch and copies the logits to the host (forward_result's
  // logits_rows, valid until the next call). On kv_exhausted or
  // invalid_batch nothing has changed; a device error is reported as
  // invalid_batch with a message that starts with "device error", and leaves
  // the engine unusable.
  forward_result forward(std::span<const batch_sequence> batch);
  // The same without the copy and without waiting: logits_rows is empty,
  // device_logits() holds them once the stream is done (synchronize()).
  forward_result forward_async(std::span<const batch_sequence> batch);
  status synchronize();
  const float* device_logits() const;  // [n_rows, vocab] of the last forward

  // Draws one token per logits row of the last forward, on the device.
  result<std::vector<std::int32_t>> sample(std::span<const kernels::sample_row> rows);

  void free_sequence(seq_id s);
  const kv_block_table& kv_table() const;

  // -- KV hand-off between engines (prefill -> decode, swap out / in) --
  // A sequence's KV packed as [2 (K, V)][n_layers][n_blocks of s][n_kv_heads,
  // block_size, head_dim] BF16: whole blocks, so the size depends only on the
  // token count (and block_size, which both engines must share).
  std::size_t kv_packed_bytes(int n_tokens) const;
  // Enqueues on stream() the copy of s's blocks into `dst` (device memory on
  // this engine's device, kv_packed_bytes(n_tokens(s)) bytes). The table is
  // untouched: free_sequence(s) afterwards is safe, since later work on the
  // stream is ordered after the copy.
  status export_sequence(seq_id s, void* dst);
  // Makes s resident with n_tokens tokens whose KV is packed at `src` (device
  // memory on this engine's device), enqueued on stream(). Blocks come
  // through the table's prepare/apply: kv_exhausted or invalid_batch (s
  // already resident, too long) leave nothing changed; `why` says why.
  forward_status import_sequence(seq_id s, int n_tokens, const void* src, std::string* why = nullptr);

  // Bytes one decode step reads: every weight matrix once (the LM head too).
  std::size_t weight_bytes() const;
  // Bytes of K and V of one token over all layers (BF16).
  std::size_t kv_bytes_per_token() const;
  int graphs_captured() const;
  void set_cuda_graphs(bool on);
  cudaStream_t stream() const;

 private:
  struct impl;
  explicit cuda_engine(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

// For `kairos mkmodel --device cuda` and the bench: a named shape with
// random device weights.
result<std::unique_ptr<cuda_engine>> make_random_cuda_engine(const std::string& shape, std::uint64_t seed,
                                                             const cuda_engine_options& opts = {});

}  // namespace kairos::cuda
