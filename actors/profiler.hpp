#pragma once
// Profiling a group's backend: runs it over a grid of batch shapes (prefill
// batches of given prompt lengths; decode steps of B sequences over a total
// context) and writes the profile file that scheduler/preset_reader loads,
// both as the fitted model's samples and as the lookup table's grid. The
// `kairos profile` command is a thin main over this. No CAF.
#include <cstdint>
#include <string>
#include <vector>

#include "actors/device_backend.hpp"
#include "actors/runtime_config.hpp"
#include "gpu/base/result.hpp"
#include "scheduler/fitted_cost_model.hpp"
#include "scheduler/table_cost_model.hpp"

namespace kairos {

struct profile_grid {
  std::vector<int32_t> prefill_tokens;   // one prompt of each length per batch (table axis), ascending
  std::vector<int32_t> prefill_batch_sizes{1, 4};  // fitted samples: each length also as this many equal prompts
  std::vector<int32_t> decode_batches;   // ascending
  std::vector<int64_t> decode_contexts;  // total context tokens of a step, ascending
  int repeats = 3;                       // median of this many timed runs (after one warm-up)
};

// The grid `kairos profile` uses for a config: prompt lengths up to the
// prefill token budget and the context, decode batches up to max_num_seqs,
// total contexts up to the KV capacity.
profile_grid default_profile_grid(const runtime_config& cfg, int32_t max_context, int64_t kv_tokens);

struct profile_result {
  std::string device;  // the device measured
  sched::profile_samples samples;
  sched::cost_table table;
  sched::fit_report fit;  // of the samples
};

// Runs `backend` (one device of the group, owned by the caller) over the grid.
result<profile_result> profile_backend(device_backend& backend, const profile_grid& grid, int32_t vocab);

// Builds the first device of `group` ("prefill" | "decode") as the runtime
// would (cpu devices only: sim devices have no time to measure) and
// profiles it.
// `grid` null: default_profile_grid() with `repeats`.
result<profile_result> profile_group(const runtime_config& cfg, const std::string& group, const profile_grid* grid = nullptr,
                                     int repeats = 3);

// The profile file: {"type": "fitted", "profile": {...}, "prefill": {...},
// "decode": {...}, "kv_link": {...}, "source": {...}}; `type` "table"
// makes the same data load as the lookup table.
std::string profile_json(const profile_result& r, const runtime_config& cfg, const std::string& type = "fitted");

}  // namespace kairos
