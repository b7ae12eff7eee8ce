#include "gpu/cuda/kernels/common.cuh"
#include "gpu/cuda/kernels/sampling.cuh"

namespace kairos::cuda::kernels {

namespace {

constexpr int kThreads = 1024;

__host__ __device__ inline std::uint64_t mix64(std::uint64_t z) {  // splitmix64 finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

__host__ __device__ inline float uniform01(std::uint64_t seed, std::uint64_t counter, int token) {
  const std::uint64_t h = mix64(mix64(seed ^ 0x9e3779b97f4a7c15ull) + counter * 0xd1b54a32d192ed03ull +
                                static_cast<std::uint64_t>(token));
  // 23 random bits, centred in their cell: (i + 0.5) / 2^23 is exact in a
  // float, so u is never 0 and never 1 (with 24 bits the top cell rounded to
  // 1.0, and -log(-log(1)) = +inf won the draw whatever the token's odds).
  return (static_cast<float>(h >> 41) + 0.5f) * (1.0f / 8388608.0f);
}

// Order-preserving map of floats to unsigned ints, for bisection on values.
__device__ inline unsigned key_of(float f) {
  const unsigned u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

struct arg_best {
  float v;
  int i;
};

// Larger value wins; on a tie the lower index (argmax's convention).
__device__ inline arg_best better(arg_best a, arg_best b) {
  return (b.v > a.v || (b.v == a.v && b.i < a.i)) ? b : a;
}

__device__ arg_best block_argmax(arg_best x, float* sv, int* si) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    arg_best y{__shfl_xor_sync(0xffffffffu, x.v, o), __shfl_xor_sync(0xffffffffu, x.i, o)};
    x = better(x, y);
  }
  if (lane == 0) {
    sv[warp] = x.v;
    si[warp] = x.i;
  }
  __syncthreads();
  if (warp == 0) {
    x = lane < (blockDim.x >> 5) ? arg_best{sv[lane], si[lane]} : arg_best{-INFINITY, 0x7fffffff};
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      arg_best y{__shfl_xor_sync(0xffffffffu, x.v, o), __shfl_xor_sync(0xffffffffu, x.i, o)};
      x = better(x, y);
    }
    if (lane == 0) {
      sv[0] = x.v;
      si[0] = x.i;
    }
  }
  __syncthreads();
  arg_best r{sv[0], si[0]};
  __syncthreads();
  return r;
}

__global__ void __launch_bounds__(kThreads) sample_kernel(sample_params p) {
  __shared__ float scratch[32];
  __shared__ float sv[32];
  __shared__ int si[32];
  const int row = blockIdx.x;
  const sample_row sr = p.rows[row];
  const float* l = p.logits + static_cast<std::size_t>(row) * p.vocab;
  const int V = p.vocab;

  if (sr.temperature <= 0.f) {
    arg_best b{-INFINITY, 0x7fffffff};
    for (int i = threadIdx.x; i < V; i += kThreads) b = better(b, arg_best{l[i], i});
    b = block_argmax(b, sv, si);
    if (threadIdx.x == 0) p.tokens[row] = b.i;
    return;
  }

  const float inv_t = 1.f / sr.temperature;
  float mx = -INFINITY;
  for (int i = threadIdx.x; i < V; i += kThreads) mx = fmaxf(mx, l[i]);
  mx = block_max(mx, scratch);

  // Threshold (as an order key): tokens with key >= thr are kept. Top-k
  // first: the largest thr with count >= k. Then top-p within what top-k
  // kept, as the CPU sampler, Hugging Face and vLLM do: the largest thr with
  // mass >= p * (the kept set's mass). Ties at the k-th value are all kept
  // (the CPU sampler keeps exactly k, lowest ids first).
  unsigned thr = 0;
  const bool use_k = sr.top_k > 0 && sr.top_k < V;
  const bool use_p = sr.top_p < 1.f;
  // 32 halvings of [lo, hi] pin a threshold to an exact float value.
  // Invariant: the criterion holds at lo. Upper midpoints (never equal to lo
  // while lo < hi), without overflow.
  auto upper_mid = [](unsigned lo, unsigned hi) { return lo + (hi - lo) / 2 + ((hi - lo) & 1u); };
  if (use_k) {
    unsigned lo = 0, hi = 0xffffffffu;
    for (int it = 0; it < 33 && lo < hi; ++it) {
      const unsigned mid = upper_mid(lo, hi);
      float cnt = 0.f;
      for (int i = threadIdx.x; i < V; i += kThreads) cnt += key_of(l[i]) >= mid ? 1.f : 0.f;
      cnt = block_sum(cnt, scratch);
      if (cnt >= static_cast<float>(sr.top_k)) lo = mid; else hi = mid - 1;
    }
    thr = lo;
  }
  if (use_p) {
    float z = 0.f;  // the mass top-k kept
    for (int i = threadIdx.x; i < V; i += kThreads)
      if (key_of(l[i]) >= thr) z += __expf((l[i] - mx) * inv_t);
    z = block_sum(z, scratch);
    const float target = sr.top_p * z;
    unsigned lo = thr, hi = 0xffffffffu;
    for (int it = 0; it < 33 && lo < hi; ++it) {
      const unsigned mid = upper_mid(lo, hi);
      float mass = 0.f;
      for (int i = threadIdx.x; i < V; i += kThreads)
        if (key_of(l[i]) >= mid) mass += __expf((l[i] - mx) * inv_t);
      mass = block_sum(mass, scratch);
      if (mass >= target) lo = mid; else hi = mid - 1;
    }
    thr = lo;
  }
  // At least the most likely token stays (top_p <= 0 kept none, and the
  // draw below wrote token INT_MAX).
  thr = min(thr, key_of(mx));

  // Gumbel-max over the kept tokens.
  arg_best b{-INFINITY, 0x7fffffff};
  for (int i = threadIdx.x; i < V; i += kThreads) {
    const float v = l[i];
    if (key_of(v) < thr) continue;
    const float u = uniform01(sr.seed, sr.counter, i);
    const float g = -logf(-logf(u));  // not __logf: its error near u = 1 reaches 0 and the sign
    b = better(b, arg_best{(v - mx) * inv_t + g, i});
  }
  b = block_argmax(b, sv, si);
  if (threadIdx.x == 0) p.tokens[row] = b.i;
}

}  // namespace

float sample_uniform_host(std::uint64_t seed, std::uint64_t counter, int token) {
  return uniform01(seed, counter, token);
}

cudaError_t sample_tokens(const sample_params& p, cudaStream_t stream) {
  if (p.n_rows == 0) return cudaSuccess;
  if (p.vocab <= 0) return unsupported("sample_tokens", "vocab", p.vocab);
  sample_kernel<<<p.n_rows, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace kairos::cuda::kernels
