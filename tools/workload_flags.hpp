#pragma once
// The workload flags shared by `kairos sim` and `kairos replay`: --trace FILE
// and --synthetic SPEC, read into trace rows.
#include <cstdint>
#include <string>
#include <vector>

#include "scheduler/trace_reader.hpp"
#include "scheduler/workload.hpp"

namespace kairos::tools {

// `s` cut at `sep`, empty pieces dropped.
std::vector<std::string> split(const std::string& s, char sep);

// "poisson:rate=10,n=1000" or "gamma:rate=10,cv=2,n=1000[,in=1024,out=128]",
// with named length distributions: in_dist=/out_dist=fixed|uniform|
// exponential|lognormal around the means in=/out=, spread in_cv=/out_cv=.
inline constexpr const char* synthetic_flag_help =
    "poisson:rate=R,n=N | gamma:rate=R,cv=C,n=N [,in=MEAN,out=MEAN,in_dist=D,out_dist=D,in_cv=CV,out_cv=CV] "
    "(D: fixed|uniform|exponential|lognormal); lengths from --trace when given";
bool parse_synthetic(const std::string& spec, sched::synthetic_spec& out, std::string& err);

struct workload_rows {
  std::vector<sched::trace_row> rows;
  std::string source;  // what the rows came from, for the report
  std::string error;   // non-empty: no rows (the message to print)
};

// The rows of --trace `trace` (may be empty) and/or --synthetic `synthetic`
// (lengths from the trace when both are given). An error when neither gives rows.
workload_rows read_workload_rows(const std::string& trace, const std::string& synthetic, std::uint64_t seed,
                                 bool note_trace_lengths);

}  // namespace kairos::tools
