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
  // 24 random bits, centred in their cell: never 0, never 1.
  return (static_cast<float>(h >> 40) + 0.5f) * (1.0f / 16777216.0f);
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

  // Threshold (as an order key): tokens with key >= thr are kept. Top-k:
  // the largest thr with count >= k; top-p: the largest with mass >= p Z.
  // The kept set is the smaller of the two, i.e. the larger threshold.
  unsigned thr = 0;
  const bool use_k = sr.top_k > 0 && sr.top_k < V;
  const bool use_p = sr.top_p < 1.f;
  if (use_k || use_p) {
    float z = 0.f;
    for (int i = threadIdx.x; i < V; i += kThreads) z += __expf((l[i] - mx) * inv_t);
    z = block_sum(z, scratch);
    const float target = sr.top_p * z;
    unsigned lo_k = 0, lo_p = 0;  // invariant: criterion holds at lo
    unsigned hi_k = use_k ? 0xffffffffu : 0u, hi_p = use_p ? 0xffffffffu : 0u;
    // 32 halvings of [lo, hi] pin each threshold to an exact float value.
    for (int it = 0; it < 33 && (lo_k < hi_k || lo_p < hi_p); ++it) {
      // Upper midpoints (never equal to lo while lo < hi), without overflow.
      const unsigned mid_k = lo_k + (hi_k - lo_k) / 2 + ((hi_k - lo_k) & 1u);
      const unsigned mid_p = lo_p + (hi_p - lo_p) / 2 + ((hi_p - lo_p) & 1u);
      float cnt = 0.f, mass = 0.f;
      for (int i = threadIdx.x; i < V; i += kThreads) {
        const float v = l[i];
        const unsigned k = key_of(v);
        if (k >= mid_k) cnt += 1.f;
        if (k >= mid_p) mass += __expf((v - mx) * inv_t);
      }
      cnt = block_sum(cnt, scratch);
      mass = block_sum(mass, scratch);
      if (lo_k < hi_k) {
        if (cnt >= static_cast<float>(sr.top_k)) lo_k = mid_k; else hi_k = mid_k - 1;
      }
      if (lo_p < hi_p) {
        if (mass >= target) lo_p = mid_p; else hi_p = mid_p - 1;
      }
    }
    thr = max(lo_k, lo_p);
  }

  // Gumbel-max over the kept tokens.
  arg_best b{-INFINITY, 0x7fffffff};
  for (int i = threadIdx.x; i < V; i += kThreads) {
    const float v = l[i];
    if (key_of(v) < thr) continue;
    const float u = uniform01(sr.seed, sr.counter, i);
    const float g = -__logf(-__logf(u));
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
