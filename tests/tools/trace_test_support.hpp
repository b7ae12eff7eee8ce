#pragma once
// Shared by the trace analysis tests: a sim cluster with a fitted cost model
// whose times are easy to reason about, workloads built by hand, and a
// replay recorded to a trace file (in virtual time, so runs are exact).
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "actors/replay.hpp"
#include "tools/trace_analysis/trace_model.hpp"

namespace kairos::test {

// prefill: 1 ms + 0.05 ms per token; decode step: A ms + C ms per sequence.
inline runtime_config trace_cluster(int n_prefill, int n_decode, double decode_a_ms, double decode_c_ms,
                                    const std::string& extra_decode = {}) {
  const std::string y = "groups:\n  prefill: {backend: sim, devices: " + std::to_string(n_prefill) +
                        "}\n  decode: {backend: sim, devices: " + std::to_string(n_decode) + extra_decode +
                        "}\n"
                        "policies: fcfs+cb\n"
                        "cost_model: {type: fitted, prefill_ms: [1, 0.05, 0], decode_ms: [" +
                        std::to_string(decode_a_ms) + ", 0, " + std::to_string(decode_c_ms) +
                        "], kv_latency_ms: 0.5, kv_ms_per_token: 0.0001}\n"
                        "model: {max_context: 16384}\n"
                        "kv: {block_size: 16, capacity_tokens: 4000000}\n"
                        "limits: {prefill_max_batch_tokens: 4096, prefill_max_batch_size: 64, max_num_seqs: 512}\n"
                        "admission: {max_queued: 100000, max_in_flight: 100000, max_tokens: 4096, default_max_tokens: 256}\n";
  auto c = parse_runtime_config(y, "trace-test.yaml");
  REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.message()));
  return c.value();
}

struct request_shape {
  double arrival_s;
  int32_t input_tokens, output_tokens;
};

inline sched::workload workload_of(const std::vector<request_shape>& shapes, sched::slo_targets slo) {
  sched::workload w;
  for (size_t i = 0; i < shapes.size(); ++i) {
    sched::request_spec s;
    s.id = int32_t(i);
    s.arrival_s = shapes[i].arrival_s;
    s.input_tokens = shapes[i].input_tokens;
    s.max_tokens = shapes[i].output_tokens;
    s.slo = slo;
    w.requests.push_back(s);
    w.output_tokens.push_back(shapes[i].output_tokens);
  }
  return w;
}

// Replays `w` with tracing to a file under the build's bin dir and reads it back.
inline trace_analysis::trace_file record(runtime_config cfg, const sched::workload& w, const std::string& name) {
  const std::string path = std::string(KAIROS_BIN_DIR) + "/" + name + ".trace.jsonl";
  cfg.trace.out = path;
  const auto rr = replay(cfg, w);
  REQUIRE_MESSAGE(rr.error.empty(), rr.error);
  CHECK(rr.rejected == 0);
  auto f = trace_analysis::read_trace_file(path);
  REQUIRE_MESSAGE(f.ok(), (f.ok() ? "" : f.message()));
  std::remove(path.c_str());
  return std::move(f.value());
}

}  // namespace kairos::test
