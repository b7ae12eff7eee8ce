#pragma once
// Replays a workload through the runtime in process: every request is
// submitted at its arrival time, and the outcomes are the yardstick's
// (scheduler/metrics.hpp). With sim devices it runs in virtual time on CAF's
// test coordinator: the same actors, a clock that jumps from event to event.
#include <string>
#include <vector>

#include "actors/runtime.hpp"
#include "scheduler/metrics.hpp"
#include "scheduler/workload.hpp"

namespace kairos {

struct replay_result {
  std::vector<sched::request_outcome> outcomes;  // [requests]
  sched::decode_counters decode;
  int64_t rejected = 0;  // by admission
  int64_t failed = 0;
  runtime_stats stats;   // at the end, before shutdown
  double wall_s = 0;
  double cpu_s = 0;      // the process's CPU time over the same span (all threads)
  double virtual_s = 0;  // the runtime clock at the end
  std::string error;     // the runtime could not start
};

// Virtual time when every device is sim; real time otherwise (cpu requests
// get random prompt ids of the trace's lengths, seeded by `seed`).
// `real_time` replays sim devices in real time too (their modelled times are
// slept), as a served cluster would run them.
replay_result replay(const runtime_config& cfg, const sched::workload& w, uint64_t seed = 0, bool real_time = false);

}  // namespace kairos
