#include "gpu/cuda/kernels/common.cuh"
#include "gpu/cuda/kernels/layer_ops.cuh"

#include <algorithm>

namespace kairos::cuda::kernels {

namespace {

__global__ void embedding_kernel(embedding_params p) {
  const int t = blockIdx.x;
  const bf16* src = p.table + static_cast<std::size_t>(p.ids[t]) * p.d_model;
  float* dst = p.x + static_cast<std::size_t>(t) * p.d_model;
  for (int i = threadIdx.x * 8; i < p.d_model; i += blockDim.x * 8) {
    float f[8];
    load8(src + i, f);
    reinterpret_cast<float4*>(dst + i)[0] = make_float4(f[0], f[1], f[2], f[3]);
    reinterpret_cast<float4*>(dst + i)[1] = make_float4(f[4], f[5], f[6], f[7]);
  }
}

// One block per row. The row is read twice (sum of squares, then scale):
// the second read hits L2, and keeping it in registers would tie the block
// size to d_model.
__global__ void add_rmsnorm_kernel(add_rmsnorm_params p) {
  __shared__ float scratch[32];
  const int r = blockIdx.x;
  const int s = p.rows ? p.rows[r] : r;
  float* x = p.resid + static_cast<std::size_t>(s) * p.d_model;
  const bf16* d = p.delta ? p.delta + static_cast<std::size_t>(s) * p.d_model : nullptr;
  const bool write_back = p.rows == nullptr && d != nullptr;
  float ss = 0.f;
  for (int i = threadIdx.x * 8; i < p.d_model; i += blockDim.x * 8) {
    float v[8];
    const float4 a = reinterpret_cast<const float4*>(x + i)[0], b = reinterpret_cast<const float4*>(x + i)[1];
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
    if (d) {
      float e[8];
      load8(d + i, e);
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] += e[j];
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) ss += v[j] * v[j];
    if (write_back) {
      reinterpret_cast<float4*>(x + i)[0] = make_float4(v[0], v[1], v[2], v[3]);
      reinterpret_cast<float4*>(x + i)[1] = make_float4(v[4], v[5], v[6], v[7]);
    }
  }
  ss = block_sum(ss, scratch);  // ends with a barrier: written-back rows are visible
  const float inv = rsqrtf(ss / static_cast<float>(p.d_model) + p.eps);
  bf16* out = p.out + static_cast<std::size_t>(r) * p.d_model;
  for (int i = threadIdx.x * 8; i < p.d_model; i += blockDim.x * 8) {
    float v[8];
    const float4 a = reinterpret_cast<const float4*>(x + i)[0], b = reinterpret_cast<const float4*>(x + i)[1];
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
    if (d && !write_back) {
      float e[8];
      load8(d + i, e);
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] += e[j];
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) v[j] = v[j] * inv * p.weight[i + j];
    store8(out + i, v);
  }
}

__global__ void swiglu_kernel(swiglu_params p) {
  const std::size_t n8 = static_cast<std::size_t>(p.n_tokens) * p.ffn / 8;
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n8;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t t = k * 8 / p.ffn, i = k * 8 % p.ffn;
    const bf16* row = p.gate_up + t * 2 * p.ffn;
    float g[8], u[8], o[8];
    load8(row + i, g);
    load8(row + p.ffn + i, u);
#pragma unroll
    for (int j = 0; j < 8; ++j) o[j] = g[j] / (1.f + __expf(-g[j])) * u[j];
    store8(p.out + t * p.ffn + i, o);
  }
}

// One block per token; threads walk (head, i < head_dim / 2) pairs of the q
// and k heads, then the v elements.
__global__ void rope_kv_kernel(rope_kv_params p) {
  const int t = blockIdx.x;
  const int D = p.head_dim, half = D / 2;
  bf16* row = p.qkv + static_cast<std::size_t>(t) * p.qkv_stride;
  const int pos = p.positions[t];
  const int slot = p.slots[t];
  const float* c = p.cos + static_cast<std::size_t>(pos) * half;
  const float* s = p.sin + static_cast<std::size_t>(pos) * half;
  const int n_rot = (p.n_heads + p.n_kv_heads) * half;
  const int q_dim = p.n_heads * D, kv_dim = p.n_kv_heads * D;
  std::size_t cache_base = 0;
  if (slot >= 0) {
    const int blk = slot / p.block_size, r = slot % p.block_size;
    cache_base = static_cast<std::size_t>(blk) * p.n_kv_heads * p.block_size * D + static_cast<std::size_t>(r) * D;
  }
  for (int k = threadIdx.x; k < n_rot; k += blockDim.x) {
    const int h = k / half, i = k % half;  // h < n_heads: query head; else key head h - n_heads
    const int e0 = h * D + i, e1 = e0 + half;
    float x0 = __bfloat162float(row[e0]), x1 = __bfloat162float(row[e1]);
    if (p.bias) {
      x0 += p.bias[e0];
      x1 += p.bias[e1];
    }
    const float y0 = x0 * c[i] - x1 * s[i];
    const float y1 = x1 * c[i] + x0 * s[i];
    const bf16 b0 = __float2bfloat16_rn(y0), b1 = __float2bfloat16_rn(y1);
    row[e0] = b0;
    row[e1] = b1;
    if (h >= p.n_heads && slot >= 0) {
      const int g = h - p.n_heads;
      bf16* kc = p.k_cache + cache_base + static_cast<std::size_t>(g) * p.block_size * D;
      kc[i] = b0;
      kc[i + half] = b1;
    }
  }
  for (int k = threadIdx.x; k < kv_dim; k += blockDim.x) {
    const int e = q_dim + kv_dim + k;
    float v = __bfloat162float(row[e]);
    if (p.bias) {
      v += p.bias[e];
      row[e] = __float2bfloat16_rn(v);
    }
    if (slot >= 0) {
      const int g = k / D, d = k % D;
      p.v_cache[cache_base + static_cast<std::size_t>(g) * p.block_size * D + d] = __float2bfloat16_rn(v);
    }
  }
}

}  // namespace

cudaError_t embedding_lookup(const embedding_params& p, cudaStream_t stream) {
  if (p.n_tokens == 0) return cudaSuccess;
  if (p.d_model % 8 != 0) return unsupported("embedding_lookup", "d_model (must be a multiple of 8)", p.d_model);
  embedding_kernel<<<p.n_tokens, 256, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t add_rmsnorm(const add_rmsnorm_params& p, cudaStream_t stream) {
  if (p.n_rows == 0) return cudaSuccess;
  if (p.d_model % 8 != 0) return unsupported("add_rmsnorm", "d_model (must be a multiple of 8)", p.d_model);
  const int threads = p.d_model >= 4096 ? 512 : (p.d_model >= 1024 ? 256 : 128);
  add_rmsnorm_kernel<<<p.n_rows, threads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t swiglu(const swiglu_params& p, cudaStream_t stream) {
  if (p.n_tokens == 0) return cudaSuccess;
  if (p.ffn % 8 != 0) return unsupported("swiglu", "ffn (must be a multiple of 8)", p.ffn);
  const std::size_t n8 = static_cast<std::size_t>(p.n_tokens) * p.ffn / 8;
  const int blocks = static_cast<int>(std::min<std::size_t>((n8 + 255) / 256, 65535));
  swiglu_kernel<<<blocks, 256, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t rope_kv_append(const rope_kv_params& p, cudaStream_t stream) {
  if (p.n_tokens == 0) return cudaSuccess;
  if (p.head_dim % 2 != 0) return unsupported("rope_kv_append", "head_dim (must be even)", p.head_dim);
  rope_kv_kernel<<<p.n_tokens, 256, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace kairos::cuda::kernels
