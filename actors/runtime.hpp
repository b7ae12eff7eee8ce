#pragma once
// kairos::Runtime, the embedded API: a whole disaggregated serving runtime
// (device, request and scheduler actors on CAF) inside the host process.
// This header has no CAF in it; callbacks run on the runtime's threads.
//
//   auto rt = kairos::Runtime::create(cfg).value();
//   auto h = rt->submit(req, {on_token, on_done});   // result<request_handle>
//   h->cancel();  rt->stats();
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/runtime_config.hpp"
#include "gpu/base/result.hpp"
#include "gpu/engine/sampler.hpp"
#include "scheduler/request.hpp"

namespace kairos {

// queued -> prefilling -> transferring -> decoding -> finished | cancelled | failed
enum class request_status : uint8_t { queued, prefilling, transferring, decoding, finished, cancelled, failed };
const char* to_string(request_status s);

// Seconds on the runtime's clock (since it started); -1 where not reached.
struct request_times {
  double queued_s = -1;       // admitted (the arrival)
  double prefill_start_s = -1;
  double first_token_s = -1;  // prefill done; the KV transfer starts
  double decode_start_s = -1; // KV arrived at the decode device
  double last_token_s = -1;
  double end_s = -1;          // finished, cancelled or failed
};

struct request_result {
  int64_t id = 0;
  request_status status = request_status::queued;
  std::string error;  // why, when failed
  std::vector<int32_t> tokens;
  stop_reason reason = stop_reason::none;
  request_times times;
  std::string prefill_device, decode_device;
  sched::request_class cls = sched::request_class::standard;
  sched::slo_targets slo;
};

struct request_callbacks {
  std::function<void(int64_t id, int32_t token)> on_token;
  std::function<void(const request_result&)> on_done;  // exactly once per admitted request
};

struct generate_request {
  std::vector<int32_t> prompt;
  int32_t prompt_tokens = 0;  // sim devices only: a prompt length without ids
  int32_t max_tokens = 0;     // 0: the config's admission.default_max_tokens
  sampling_params sampling;
  std::vector<int32_t> stop_ids;
  bool ignore_eos = false;
  sched::request_class cls = sched::request_class::standard;
  std::optional<sched::slo_targets> slo;  // overrides the class's defaults
  // sim devices: the request ends after this many tokens (the trace's true
  // output length; only the device-side stop check reads it). 0: max_tokens.
  int32_t sim_output_tokens = 0;
};

class request_handle {
 public:
  int64_t id() const { return id_; }
  // Cancels in any state; the request's KV blocks are freed on every device
  // and on_done reports `cancelled`. Safe after the request has ended.
  void cancel() const;

 private:
  friend class Runtime;
  int64_t id_ = 0;
  std::shared_ptr<void> actor_;  // the request actor's handle
};

struct device_stats {
  std::string name, group;
  bool alive = true;
  int kv_free_blocks = 0, kv_total_blocks = 0;
  int64_t batches = 0;
  double busy_s = 0;  // time spent running batches (prefill) or steps (decode)
  std::string kv_dtype;  // element type of its KV cache: "f32" | "f16" (cpu), "bf16" (cuda), "" (sim)
};

// Requests per group and stage. prefill: waiting = admitted, not yet in a
// prefill batch; running = prefilled or prefilling, not yet with the decode
// group. decode (as its scheduler last published them): waiting = KV in
// transfer, waiting for a slot or swapped out; running = in the running set.
// Read from separate atomics, so a snapshot is approximate.
struct group_load {
  std::string group;  // "prefill" | "decode"
  int64_t waiting = 0, running = 0;
};

struct runtime_stats {
  int64_t submitted = 0, rejected = 0, finished = 0, cancelled = 0, failed = 0;
  int64_t in_flight = 0, queued = 0, request_actors = 0;
  int64_t prefill_batches = 0, decode_steps = 0, decode_tokens = 0, preemptions = 0;
  int64_t decode_batch_sum = 0;  // sequences over all decode steps (rates: its deltas)
  double mean_decode_batch = 0, decode_busy_s = 0;
  std::vector<device_stats> devices;
  std::vector<group_load> groups;  // prefill, then decode
};

struct runtime_options {
  // Run on CAF's test coordinator: one thread, a manual clock that only moves
  // when the driver advances it (sim devices only). See actors/replay.hpp.
  bool virtual_time = false;
  int worker_threads = 0;  // 0: CAF's default
};

class Runtime {
 public:
  static result<std::unique_ptr<Runtime>> create(const runtime_config& cfg, const runtime_options& opt = {});
  ~Runtime();  // shutdown()
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Admission: checks the request (context, max_tokens, prompt) and the load
  // (bounded queues); a rejection says why. Thread-safe.
  result<request_handle> submit(const generate_request& r, request_callbacks cb);
  runtime_stats stats() const;
  // Test hook: the named device fails now (as if it crashed).
  status inject_fault(const std::string& device);
  // Tracing (actors/trace.hpp): off by default, switchable while running.
  // The rings are per thread and process-wide (shared by every runtime).
  void set_tracing(bool on);
  bool tracing() const;
  // Writes the trace rings as JSON lines (one event per line, see
  // trace::dump_jsonl) to `path`; clear_trace() empties them.
  status dump_trace(const std::string& path) const;
  void clear_trace();
  // Records a trace for `seconds` on the runtime's clock, then writes it to
  // `path` (docs/tracing.md). Fails if a recording is in progress, the file
  // cannot be written, or seconds is not in (0, 3600].
  status trace_window(double seconds, const std::string& path);
  // Ends every actor; requests in flight end as failed ("runtime shut down").
  void shutdown();

  const runtime_config& config() const;
  double now_s() const;

  struct impl;
  impl& internals() { return *p_; }

 private:
  explicit Runtime(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

}  // namespace kairos
