#pragma once
// `kairos trace summary`: per actor type and instance, messages handled,
// busy share and mailbox wait (send to receive of the same message, p50 and
// p99); each device's utilisation; SLO attainment per request class.
#include <cstdint>
#include <string>
#include <vector>

#include "tools/trace_analysis/trace_model.hpp"

namespace kairos::trace_analysis {

struct actor_load {
  uint64_t actor = 0;
  actor_type type = actor_type::runtime;
  std::string name;
  int instances = 1;  // > 1 for a type's total
  int64_t handled = 0;
  double busy_s = 0;
  double busy_frac = 0;  // busy_s / (instances x trace duration)
  int64_t waits = 0;     // messages with a paired send (timers excluded)
  double wait_p50_ms = 0, wait_p99_ms = 0;
};

struct device_load {
  uint64_t actor = 0;
  std::string name, group;
  int64_t batches = 0;
  double busy_s = 0, utilisation = 0;
  double mean_batch = 0;  // sequences per batch (decode: that ran)
  double mean_ms = 0;     // per batch
};

struct class_attainment {
  std::string cls;
  int64_t requests = 0, ended = 0, finished = 0, ttft_met = 0, tpot_met = 0, both_met = 0;
};

struct trace_summary {
  double duration_s = 0;
  bool virtual_clock = false;
  uint64_t dropped = 0;
  size_t events = 0;
  std::vector<actor_load> types;   // one per actor type seen
  std::vector<actor_load> actors;  // every instance
  std::vector<device_load> devices;
  std::vector<class_attainment> classes;
};

trace_summary summarize(const trace_model& m);
// Request actors are listed one by one only when `each_request` (there are many).
std::string format_summary(const trace_summary& s, bool each_request = false);

}  // namespace kairos::trace_analysis
