#pragma once
// What the analyses share, derived once from a trace's events: device work
// (each prefill batch and decode step with its composition and execution
// time) and each request's path through the actors.
//
// A batch's execution runs from the device handling the batch message to the
// device sending its result: on a cpu device that is the compute, on a sim
// device the modelled time it waits on the actor clock.
#include <cstdint>
#include <map>
#include <vector>

#include "tools/trace_analysis/trace_file.hpp"

namespace kairos::trace_analysis {

// Roles of a request in a decode step (the member events' `a`).
inline constexpr int32_t step_runs = 0, step_loads = -1, step_evicts = -2;

struct device_work {
  bool prefill = true;
  int64_t id = -1;        // batch id (prefill) or step id (decode)
  uint64_t device = 0;    // the device actor
  int64_t start_ns = -1;  // the device handles the batch
  int64_t end_ns = -1;    // the device sends the result; -1: not seen
  struct member {
    int64_t request = -1;
    int32_t a = 0;  // prefill: prompt tokens; decode: step_runs | step_loads | step_evicts
  };
  std::vector<member> members;
  int32_t n_run = 0;   // prefill: sequences; decode: sequences that ran
  int64_t tokens = 0;  // prefill: prompt tokens of the batch
  double seconds() const { return end_ns >= start_ns && start_ns >= 0 ? double(end_ns - start_ns) / 1e9 : 0.0; }
};

struct request_path {
  int64_t id = -1;
  const request_info* info = nullptr;  // null: admitted before the recording began
  uint64_t actor = 0;
  int64_t arrival_ns = -1;
  int64_t enqueue_ns = -1;      // the prefill scheduler handles it
  int64_t queue_begin_ns = -1, queue_end_ns = -1;
  int64_t prefill_work = -1;    // index into trace_model::work
  int64_t first_token_ns = -1;  // the request actor handles its first token
  int64_t admit_ns = -1;        // the decode scheduler handles it
  int64_t kv_begin_ns = -1, kv_end_ns = -1;
  int64_t decoding_ns = -1;     // the request actor hears the KV arrived
  std::vector<int64_t> token_ns;  // later tokens handled by the request actor
  std::vector<size_t> steps;      // decode work it ran in
  std::vector<size_t> evictions;  // decode work that swapped it out
  std::vector<size_t> loads;      // decode work that loaded its KV
  bool failed = false;
  int64_t end_ns = -1;

  int64_t last_token_ns() const { return token_ns.empty() ? first_token_ns : token_ns.back(); }
  int32_t n_tokens() const { return first_token_ns >= 0 ? int32_t(token_ns.size()) + 1 : 0; }
};

struct trace_model {
  const trace_file* file = nullptr;
  std::vector<device_work> work;  // by start time
  std::map<int64_t, request_path> requests;
  std::map<uint64_t, std::vector<size_t>> work_by_device;
};

trace_model build_model(const trace_file& f);

// TTFT and TPOT in seconds (-1 where not reached) and whether each met its SLO.
struct attainment {
  double ttft_s = -1, tpot_s = -1;
  bool ended = false, finished = false, ttft_met = false, tpot_met = false;
  bool met() const { return finished && ttft_met && tpot_met; }
};
attainment attainment_of(const request_path& r);

}  // namespace kairos::trace_analysis
