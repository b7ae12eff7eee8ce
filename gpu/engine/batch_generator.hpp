#pragma once
// Runs a set of generation requests to completion on one engine with
// continuous batching: every step carries one token of each running sequence
// plus prompt chunks of waiting ones, up to a token budget. When the KV cache
// runs out it preempts the newest sequence and recomputes it later (as vLLM
// does), so no request fails for lack of blocks unless it alone cannot fit.
// This is the engine-level loop behind `kairos generate` and `bench engine`;
// the serving runtime uses the scheduler's policies instead.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "gpu/engine/cpu_engine.hpp"
#include "gpu/engine/sampler.hpp"

namespace kairos {

struct generation_request {
  std::vector<std::int32_t> prompt;
  sampling_params sampling;
  stop_criteria stop;
};

struct generation_output {
  std::vector<std::int32_t> tokens;  // generated, including a final EOS/stop token
  stop_reason reason = stop_reason::none;
  std::string error;          // non-empty when the request failed
  double ttft_s = 0;          // start of run() to the first token
  double total_s = 0;         // start of run() to the last token
  int n_preemptions = 0;
};

struct generator_options {
  int max_step_tokens = 512;  // token budget of one forward()
  seq_id first_seq_id = 1;    // sequence ids used are first_seq_id + request index
};

// Called with (request index, token) as each token is produced.
using token_callback = std::function<void(int, std::int32_t)>;

struct generation_stats {
  int n_steps = 0;
  int n_prefill_tokens = 0;
  int n_decode_tokens = 0;
  double prefill_s = 0;  // time in steps that carried prompt tokens
  double decode_s = 0;   // time in steps with decode tokens only
};

class batch_generator {
 public:
  batch_generator(cpu_engine& engine, generator_options opts = {});
  std::vector<generation_output> run(std::span<const generation_request> requests,
                                     const token_callback& on_token = {});
  const generation_stats& stats() const { return stats_; }

 private:
  cpu_engine& engine_;
  generator_options opts_;
  generation_stats stats_;
};

}  // namespace kairos
