#pragma once
// Workloads: trace rows or synthetic arrivals turned into request specs, with
// SLOs, classes and load scaling. The true output lengths are kept apart, for
// the simulator only.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "scheduler/request.hpp"

namespace kairos::sched {

struct trace_row {
  time_s arrival_s = 0;  // any origin; make_workload rebases to 0
  int32_t input_tokens = 0;
  int32_t output_tokens = 0;
};

struct workload_options {
  double rate_scale = 1.0;  // rate x F: inter-arrival gaps / F, order and lengths kept
  double slo_scale = 1.0;   // multiplies both SLOs of every request
  slo_targets slo;          // for class `standard`
  bool mixed_classes = false;  // half interactive (250 ms, 30 ms), half relaxed (2000 ms, 100 ms)
  uint64_t seed = 0;           // drives the class hash
  int32_t max_tokens = 4096;   // the cap clients send; true outputs are clamped to it
  int64_t limit = 0;           // first N rows only (0: all)
};

struct workload {
  std::vector<request_spec> requests;  // by arrival, ids 0..n-1
  std::vector<int32_t> output_tokens;  // hidden truth, [requests]
  time_s duration_s() const { return requests.empty() ? 0 : requests.back().arrival_s - requests.front().arrival_s; }
};

slo_targets class_slo(request_class c, const slo_targets& standard);

// Class of request `index`: a seeded hash, half interactive, half relaxed.
request_class mixed_class_of(uint64_t index, uint64_t seed);

workload make_workload(std::span<const trace_row> rows, const workload_options& opt);

// A named length distribution with a given mean and coefficient of
// variation (std / mean): fixed, uniform (over mean +- sqrt(3) cv mean),
// exponential (cv is 1) or lognormal. Draws are rounded and at least 1.
enum class length_dist : uint8_t { fixed, uniform, exponential, lognormal };
bool parse_length_dist(const std::string& name, length_dist& out);
const char* to_string(length_dist d);

struct synthetic_spec {
  int64_t n = 1000;
  double rate = 1.0;        // requests per second
  double burstiness = 1.0;  // gamma shape; 1 = Poisson
  int32_t input_tokens = 1024;   // means, used when no length source is given
  int32_t output_tokens = 128;
  length_dist input_dist = length_dist::fixed, output_dist = length_dist::fixed;
  double input_cv = 1.0, output_cv = 1.0;  // for uniform and lognormal
  uint64_t seed = 0;
};

// Gamma/Poisson arrivals; lengths drawn from `length_source` rows when it is
// not empty (the trace's empirical distribution), else from the spec's named
// distributions.
std::vector<trace_row> synthetic_rows(const synthetic_spec& spec, std::span<const trace_row> length_source);

}  // namespace kairos::sched
