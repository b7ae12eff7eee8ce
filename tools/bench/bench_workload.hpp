#pragma once
// `kairos bench`'s workload: trace rows (from the flags shared with `kairos
// sim`) turned into the requests a load generator sends: when, how long a
// prompt, how many tokens to ask for (the trace's output length, sent with
// ignore_eos so the server generates exactly that many), and the prompt itself.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "scheduler/workload.hpp"

namespace kairos::bench {

struct bench_request {
  int64_t index = 0;
  double send_at_s = 0;    // offset from the start of the run
  int32_t input_tokens = 0;
  int32_t max_tokens = 0;  // the trace's output length, clamped to the cap
  sched::slo_targets slo;  // the SLO this request is judged by
};

struct bench_workload_options {
  double rate_scale = 1.0;   // gaps / F
  int64_t limit = 0;         // first N rows only (0: all)
  int32_t max_tokens = 4096; // cap on the output length sent as max_tokens
  sched::slo_targets slo;    // the SLO of every request
};

// Sorted by arrival, rebased to 0; reuses sched::make_workload so that `kairos
// sim` and `kairos bench` see the same requests for the same flags.
std::vector<bench_request> make_bench_requests(std::span<const sched::trace_row> rows, const bench_workload_options& opt);

// A prompt of exactly `n` token ids in [lo, hi), fixed by (seed, index): the
// same run sends the same prompts, and different requests share no prefix.
std::vector<int32_t> prompt_token_ids(int64_t index, int32_t n, int32_t lo, int32_t hi, uint64_t seed);

// A text prompt of `n` words for servers that take no token ids. Common words
// that most BPE vocabularies hold as one token each (" the", " time", ...), so
// the length is near `n` tokens; the bench checks it against the server's usage.
std::string prompt_text(int64_t index, int32_t n, uint64_t seed);

}  // namespace kairos::bench
