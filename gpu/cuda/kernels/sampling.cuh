#pragma once
// Token sampling on the device, one CTA per row of logits: greedy argmax,
// or temperature sampling restricted to top-k and/or top-p. Each row has
// its own seed and counter, so a request's draws do not depend on what is
// batched beside it. The draw is a Gumbel-max over the kept tokens, which
// samples exactly from their renormalised softmax.
#include <cuda_runtime.h>

#include <cstdint>

namespace kairos::cuda::kernels {

struct sample_row {
  float temperature = 0.f;  // <= 0: greedy
  int top_k = 0;            // 0: off
  float top_p = 1.f;        // >= 1: off
  std::uint64_t seed = 0;
  std::uint64_t counter = 0;  // e.g. tokens generated so far: a fresh draw per step
};

struct sample_params {
  const float* logits = nullptr;    // [n_rows, vocab]
  const sample_row* rows = nullptr;  // [n_rows] (device memory)
  std::int32_t* tokens = nullptr;   // [n_rows] out
  int n_rows = 0;
  int vocab = 0;
};

cudaError_t sample_tokens(const sample_params& p, cudaStream_t stream);

// The uniform in (0, 1) the sampler uses for (seed, counter, token): exposed
// so tests can recompute a draw.
float sample_uniform_host(std::uint64_t seed, std::uint64_t counter, int token);

}  // namespace kairos::cuda::kernels
