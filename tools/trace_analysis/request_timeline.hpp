#pragma once
// `kairos trace request`: one request's full timeline, every hop between
// actors, and every decode step it ran in with its batch size and step time.
#include <cstdint>
#include <string>
#include <vector>

#include "tools/trace_analysis/trace_model.hpp"

namespace kairos::trace_analysis {

struct timeline_hop {
  int64_t t_ns = 0;
  std::string what;    // "arrival", "queued", "prefill", ...
  std::string detail;
};

struct timeline_step {
  int64_t step = -1;
  std::string device;
  int64_t start_ns = 0;
  double ms = 0;
  int32_t batch = 0;  // sequences that ran in the step
};

struct request_timeline {
  int64_t id = -1;
  const request_path* path = nullptr;
  std::vector<timeline_hop> hops;  // by time
  std::vector<timeline_step> steps;
  attainment att;
};

// The error says when the trace has no such request.
result<request_timeline> timeline_of(const trace_model& m, int64_t id);
std::string format_timeline(const request_timeline& t);

}  // namespace kairos::trace_analysis
