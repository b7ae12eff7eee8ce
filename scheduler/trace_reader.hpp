#pragma once
// The simulator's front, I/O: reads traces into rows. Format by content:
// Azure CSV (`TIMESTAMP,ContextTokens,GeneratedTokens`) or Mooncake JSONL
// (`{"timestamp": ms, "input_length", "output_length", "hash_ids"}`).
#include <string>
#include <vector>

#include "scheduler/workload.hpp"

namespace kairos::sched {

struct trace_read_result {
  std::vector<trace_row> rows;
  std::string format;  // "azure-csv" or "mooncake-jsonl"
  std::string error;   // empty on success
};

trace_read_result read_trace(const std::string& path);
// Parses text already in memory (used by read_trace and by tests).
trace_read_result parse_trace(const std::string& text);

}  // namespace kairos::sched
