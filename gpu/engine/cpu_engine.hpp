#pragma once
// The CPU transformer engine: one forward() runs a mixed, ragged batch of
// prefill and decode sequences over a paged KV cache, computing in F32.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gpu/base/result.hpp"
#include "gpu/engine/phase_times.hpp"
#include "gpu/kv/kv_block_table.hpp"
#include "gpu/kv/kv_pool.hpp"
#include "gpu/model/model_config.hpp"
#include "gpu/model/tensor_store.hpp"

namespace kairos {

struct engine_options {
  int n_threads = 2;
  int block_size = 16;
  // KV capacity in tokens (rounded up to whole blocks); 0 = max_position.
  int kv_tokens = 0;
  // Largest number of tokens one forward() may carry; sizes the scratch
  // buffers, allocated once, so steady-state forwards allocate nothing.
  int max_batch_tokens = 2048;
  // Largest number of sequences asking for logits in one forward().
  int max_logit_rows = 256;
  // Element type of the KV cache. F16 halves the bytes decode attention
  // reads (and the cache's memory) at about 1e-3 relative error in K and V;
  // the arithmetic stays F32.
  kv_dtype kv_cache_dtype = kv_dtype::f32;
  // Sum each forward's time per phase (phase_times()); costs a clock read per
  // phase and layer, so the benchmark's breakdown turns it on, serving not.
  bool time_phases = false;
};

// One sequence's part of a batch: its new tokens, appended after what the
// KV cache already holds for it (a prefill when it holds nothing, a decode
// step when tokens has one id, a chunk of a longer prompt otherwise).
struct batch_sequence {
  seq_id seq = 0;
  std::span<const std::int32_t> tokens;
  bool want_logits = true;  // logits of the last new token
};

enum class forward_status { ok, kv_exhausted, invalid_batch };

struct forward_result {
  forward_status status = forward_status::ok;
  std::string message;  // why, when not ok
  // Logits of the sequences that asked for them, in batch order: row i is
  // logits(i), at i * stride() in logits_rows (the CPU engine pads rows whose
  // size would alias in the caches; see kernels::padded_row_stride). Valid
  // until the next forward().
  std::span<const float> logits_rows;  // [n_rows, stride()], the last row vocab long
  int vocab = 0;
  std::size_t row_stride = 0;  // 0: vocab
  std::size_t stride() const { return row_stride ? row_stride : static_cast<std::size_t>(vocab); }
  std::size_t n_rows() const { return logits_rows.empty() ? 0 : (logits_rows.size() - vocab) / stride() + 1; }
  std::span<const float> logits(int i) const {
    return logits_rows.subspan(static_cast<std::size_t>(i) * stride(), static_cast<std::size_t>(vocab));
  }
};

// A sequence's KV rows out of an engine's paged cache, packed into blocks
// 0..n-1 of a pool of their own (same layer/head/block shape as the engine's
// pool): what moves between devices on a KV transfer.
struct kv_blob {
  int n_tokens = 0;
  std::unique_ptr<kv_pool> rows;  // null when n_tokens == 0
};

class cpu_engine {
 public:
  // Packs the weights (any stored dtype) for the kernels. The store may be
  // dropped afterwards.
  static result<std::unique_ptr<cpu_engine>> create(const model_config& cfg, const tensor_store& tensors,
                                                    const engine_options& opts = {});
  // Loads a Hugging Face directory or a GGUF file, then create().
  static result<std::unique_ptr<cpu_engine>> load(const std::string& path, const engine_options& opts = {});
  ~cpu_engine();

  const model_config& config() const;
  const engine_options& options() const;

  // Runs the batch. On kv_exhausted or invalid_batch nothing has changed.
  forward_result forward(std::span<const batch_sequence> batch);

  // Forgets a sequence and returns its KV blocks.
  void free_sequence(seq_id s);

  // -- moving a sequence's KV between engines --
  // Copies s's KV rows out (the sequence stays resident); an empty blob when
  // s is unknown.
  kv_blob export_sequence(seq_id s) const;
  // Makes s resident with the n_tokens rows of `rows` (blocks 0.., as
  // export_sequence packs them): reserves blocks through the table's
  // prepare/apply, then copies. kv_exhausted when the cache cannot hold it,
  // invalid_batch when s is already resident or the rows do not fit this
  // engine's shape; in both cases nothing has changed. `why` says why.
  forward_status import_sequence(seq_id s, int n_tokens, const kv_pool& rows, std::string* why = nullptr);
  forward_status import_sequence(seq_id s, const kv_blob& blob, std::string* why = nullptr);

  const kv_block_table& kv_table() const;
  kv_pool& kv_storage();
  // Bytes of packed weights the engine reads for one decode step of one
  // sequence (every Linear and the LM head, f32 or, where the checkpoint
  // holds them so, bf16/f16/Q8_0): the decode bandwidth yardstick.
  std::size_t weight_bytes_per_token() const;
  // Time per phase over the forwards since the last reset (zeros unless
  // engine_options::time_phases).
  const engine_phase_times& phase_times() const;
  void reset_phase_times();

 private:
  struct impl;
  explicit cpu_engine(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

}  // namespace kairos
