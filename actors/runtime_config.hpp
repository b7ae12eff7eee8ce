#pragma once
// The runtime's configuration: what configs/*.yaml say, with every default
// written here, in one place. No CAF.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "gpu/base/result.hpp"
#include "gpu/kv/kv_pool.hpp"
#include "scheduler/policy_registry.hpp"
#include "scheduler/request.hpp"

namespace kairos {

enum class backend_kind : uint8_t { cpu, sim, cuda };
const char* to_string(backend_kind b);

struct device_config {
  std::string name;  // "cpu:0", "sim:3", "cuda:1": backend and a process-wide index
  backend_kind backend = backend_kind::cpu;
  // Test hook: the device fails while running its Nth batch (0: never).
  int32_t fail_at_batch = 0;
  // Fault injection (sim only): every batch takes this many times its
  // modelled time; the schedulers' cost model is not told.
  double slowdown = 1.0;
  // cuda: the GPU this device's engine runs on. Devices may share a GPU
  // (each has its own engine, weights and stream).
  int32_t gpu = 0;
};

struct group_config {
  std::vector<device_config> devices;
};

struct cost_model_config {
  std::string type = "fitted";  // "preset" | "file" | "fitted"
  std::string preset = "llama3-8b-h100";
  std::string file;
  // fitted: DistServe form, milliseconds (see scheduler/fitted_cost_model.hpp)
  std::array<double, 3> prefill_ms{1.0, 0.02, 0.0};   // A, B per token, C per token^2
  std::array<double, 3> decode_ms{0.5, 0.0005, 0.1};  // A, B per context token, C per sequence
  double kv_latency_ms = 0.05;
  double kv_ms_per_token = 0.0001;
  double correction_alpha = 0.1;  // online correction weight (corrected_cost_model)
};

struct admission_config {
  int32_t max_queued = 1024;       // requests waiting for prefill before new ones are rejected
  int32_t max_in_flight = 16384;   // admitted and not yet ended
  int32_t max_tokens_limit = 4096; // largest max_tokens a request may ask for
  int32_t default_max_tokens = 256;
};

// Recording a trace (actors/trace.hpp, docs/tracing.md) for the runtime's
// whole life: on from Runtime::create, written at shutdown.
struct trace_config {
  std::string out;              // the file; empty: no recording
  int64_t buffer_events = 1 << 22;  // events kept per thread (the oldest are overwritten past it)
};

struct runtime_config {
  std::string source;  // file it came from, for messages

  // -- model (cpu and cuda backends) --
  std::string model_path;            // HF directory or GGUF; empty: random weights of model_shape
  std::string model_shape = "tiny";
  // cuda only: random weights of this named shape generated on each GPU
  // (no host tensors, no files: llama3-8b in seconds). Empty: off.
  std::string model_random_shape;
  uint64_t model_seed = 1;
  int32_t max_context = 0;           // 0: the model's max_position (cpu) or the preset's max_model_len (sim)
  int32_t threads_per_device = 1;    // cpu: OpenMP threads of each device's engine

  // -- groups --
  group_config prefill, decode;

  // -- policies and cost model --
  std::string policies = "kairos";
  sched::policy_options policy_options;
  cost_model_config cost;
  sched::prefill_limits prefill_limits;
  int32_t max_num_seqs = 256;
  double kv_watermark = 0.01;

  // -- KV --
  int32_t block_size = 16;
  int64_t kv_capacity_tokens = 0;  // per device; 0: model's max_position x 4 (cpu) or the preset's (sim)
  kv_dtype kv_cache_dtype = kv_dtype::f32;  // cpu devices' KV elements (kv.dtype: f32 | f16)

  // -- admission and SLO classes --
  admission_config admission;
  std::array<sched::slo_targets, sched::n_request_classes> slo{};  // [standard, interactive, relaxed]

  // -- server --
  int32_t port = 8080;

  // -- tracing --
  trace_config trace;

  runtime_config();
  bool all_sim() const;
  bool any_cpu() const;
  bool any_cuda() const;
};

result<runtime_config> parse_runtime_config(const std::string& yaml_text, const std::string& source);
result<runtime_config> load_runtime_config(const std::string& path);
// Checks consistency; the message names the offending key.
status validate(const runtime_config& c);

}  // namespace kairos
