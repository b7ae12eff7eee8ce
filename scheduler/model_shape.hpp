#pragma once
// A transformer's shape and a device's ceilings: the inputs of the roofline
// cost model. Values come from a preset file under configs/presets/.
#include <cstdint>
#include <string>

namespace kairos::sched {

struct model_shape {
  std::string name = "Llama-3.1-8B";
  int32_t layers = 32;
  int32_t hidden = 4096;
  int32_t heads = 32;
  int32_t kv_heads = 8;
  int32_t head_dim = 128;
  int32_t ffn = 14336;
  int32_t vocab = 128256;
  int32_t bytes_per_param = 2;  // bf16

  // Parameters of the transformer blocks (attention + gated MLP), no embeddings.
  double block_params() const {
    const double q = double(hidden) * heads * head_dim;
    const double kv = 2.0 * hidden * kv_heads * head_dim;
    const double o = double(heads) * head_dim * hidden;
    const double mlp = 3.0 * hidden * ffn;
    return layers * (q + kv + o + mlp);
  }
  double lm_head_params() const { return double(vocab) * hidden; }
  // Bytes read per forward pass: blocks + LM head (the embedding is a gather).
  double weight_bytes_read() const { return (block_params() + lm_head_params()) * bytes_per_param; }
  // bytes = layers x 2 (K and V) x kv_heads x head_dim x bytes per element
  double kv_bytes_per_token() const { return double(layers) * 2 * kv_heads * head_dim * bytes_per_param; }
  double total_params() const { return block_params() + 2 * lm_head_params(); }
};

struct hardware_ceilings {
  std::string name = "H100 SXM";
  double matmul_flops = 798e12;      // measured bf16 dense matmul
  double memory_bytes_per_s = 3.0e12;  // measured copy, bytes read + written
  double hbm_bytes = 80.0 * (1ull << 30);
  double memory_utilization = 0.9;   // share of HBM given to weights + KV (vLLM's default)
  double prefill_overhead_s = 1e-3;  // fixed launch/host cost per prefill batch (assumed)
  double decode_overhead_s = 1e-3;   // fixed launch/host cost per decode step (assumed)
};

struct kv_link {
  std::string name = "nvlink4";
  double bytes_per_s = 450e9;
  double latency_s = 50e-6;
};

// Serving limits that go with a preset (one place for every default).
struct serving_limits {
  int32_t block_size = 16;
  int32_t max_num_seqs = 256;            // vLLM-style decode cap (cb)
  int32_t prefill_max_batch_tokens = 4096;
  int32_t prefill_max_batch_size = 64;
  int32_t max_model_len = 32768;
};

struct preset {
  std::string name = "llama3-8b-h100";
  model_shape model;
  hardware_ceilings hardware;
  kv_link link;
  serving_limits limits;

  // KV tokens one decode instance can hold: HBM share minus the weights.
  int64_t kv_capacity_tokens() const {
    const double free = hardware.hbm_bytes * hardware.memory_utilization - model.total_params() * model.bytes_per_param;
    return free > 0 ? int64_t(free / model.kv_bytes_per_token()) : 0;
  }
};

}  // namespace kairos::sched
