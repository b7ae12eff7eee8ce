#pragma once
// `kairos trace export --format chrome`: the trace as Chrome trace-event JSON
// (loads in Perfetto and chrome://tracing). Process 1 has one track per
// actor with a slice per handled message and a flow arrow from each send to
// its receive; process 2 has one track per device with its batches and
// steps; process 3 has a span per request, with its queue wait, prefill, KV
// transfer and decode nested inside.
#include <nlohmann/json.hpp>

#include "tools/trace_analysis/trace_model.hpp"

namespace kairos::trace_analysis {

// {"traceEvents": [...], "displayTimeUnit": "ms"}; timestamps in microseconds.
nlohmann::json export_chrome(const trace_model& m);

}  // namespace kairos::trace_analysis
