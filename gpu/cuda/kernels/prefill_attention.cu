#include <mma.h>

#include <algorithm>
#include <atomic>

#include "gpu/cuda/kernels/common.cuh"
#include "gpu/cuda/kernels/prefill_attention.cuh"

namespace kairos::cuda::kernels {

namespace {

namespace wmma = nvcuda::wmma;

constexpr int kThreads = 128;  // 4 warps, 16 query rows each
constexpr int kRows = prefill_tile_rows;
constexpr int kKeys = 64;      // keys per K/V tile
constexpr float kLog2e = 1.4426950408889634f;

// Shared-memory layout, rows padded (8 bf16 / 4 floats) against bank
// conflicts; every WMMA fragment start stays 32-byte aligned.
template <int D>
struct smem_layout {
  static constexpr int ldq = D + 8;          // Q, K, V rows (bf16)
  static constexpr int lds = kKeys + 4;      // scores (float)
  static constexpr int ldp = kKeys + 8;      // probabilities (bf16)
  static constexpr int ldo = D + 4;          // output accumulator (float)
  static constexpr int q_off = 0;
  static constexpr int k_off = q_off + kRows * ldq * 2;
  static constexpr int v_off = k_off + kKeys * ldq * 2;
  static constexpr int s_off = v_off + kKeys * ldq * 2;
  static constexpr int p_off = s_off + kRows * lds * 4;
  static constexpr int o_off = p_off + kRows * ldp * 2;
  static constexpr int bytes = o_off + kRows * ldo * 4;
};

template <int D>
__global__ void __launch_bounds__(kThreads) prefill_attention_kernel(prefill_attention_params p) {
  using L = smem_layout<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* qs = reinterpret_cast<bf16*>(smem + L::q_off);  // [kRows, ldq]
  bf16* ks = reinterpret_cast<bf16*>(smem + L::k_off);  // [kKeys, ldq]
  bf16* vs = reinterpret_cast<bf16*>(smem + L::v_off);  // [kKeys, ldq]
  float* ss = reinterpret_cast<float*>(smem + L::s_off);  // [kRows, lds]
  bf16* ps = reinterpret_cast<bf16*>(smem + L::p_off);    // [kRows, ldp]
  float* os = reinterpret_cast<float*>(smem + L::o_off);  // [kRows, ldo]

  const prefill_tile tile = p.tiles[blockIdx.x];
  const int kvh = blockIdx.y;
  const int G = p.n_heads / p.n_kv_heads;
  const int n_rows = tile.n_tokens * G;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  constexpr int C = D / 8;  // 16-byte chunks per row

  // Q rows: row r is token r / G, query head kvh * G + r % G; rows past the
  // tile are zeros and are never written out.
  for (int e = threadIdx.x; e < kRows * C; e += kThreads) {
    const int r = e / C, c = e % C;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r < n_rows) {
      const bf16* src = p.q + static_cast<std::size_t>(tile.token0 + r / G) * p.q_stride +
                        (kvh * G + r % G) * D + c * 8;
      v = *reinterpret_cast<const uint4*>(src);
    }
    *reinterpret_cast<uint4*>(qs + r * L::ldq + c * 8) = v;
  }
  for (int e = threadIdx.x; e < kRows * D; e += kThreads) os[(e / D) * L::ldo + e % D] = 0.f;

  // Softmax state: lanes 2i and 2i+1 of a warp share row warp * 16 + i and
  // split its columns in halves.
  const int my_row = warp * 16 + lane / 2, half = lane & 1;
  const int my_pos = tile.pos0 + min(my_row, n_rows - 1) / G;
  float m = -INFINITY, l = 0.f;
  const float sl2 = p.scale * kLog2e;

  const std::int32_t* table = p.block_tables + static_cast<std::size_t>(tile.seq) * p.max_blocks_per_seq;
  const std::size_t head_stride = static_cast<std::size_t>(p.block_size) * D;
  const std::size_t block_stride = static_cast<std::size_t>(p.n_kv_heads) * head_stride;
  const int n_keys = tile.pos0 + tile.n_tokens;  // the last token attends keys 0..n_keys-1
  const int n_kv_tiles = (n_keys + kKeys - 1) / kKeys;

  for (int kt = 0; kt < n_kv_tiles; ++kt) {
    __syncthreads();  // the previous tile's K/V (and, first time, Q/O init) are settled
    for (int e = threadIdx.x; e < kKeys * C; e += kThreads) {
      const int j = e / C, c = e % C;
      const int key = kt * kKeys + j;
      uint4 kv = make_uint4(0, 0, 0, 0), vv = kv;
      if (key < n_keys) {
        const std::size_t off = static_cast<std::size_t>(table[key / p.block_size]) * block_stride +
                                kvh * head_stride + static_cast<std::size_t>(key % p.block_size) * D + c * 8;
        kv = *reinterpret_cast<const uint4*>(p.k_cache + off);
        vv = *reinterpret_cast<const uint4*>(p.v_cache + off);
      }
      *reinterpret_cast<uint4*>(ks + j * L::ldq + c * 8) = kv;
      *reinterpret_cast<uint4*>(vs + j * L::ldq + c * 8) = vv;
    }
    __syncthreads();

    // S = Q K^T for this warp's 16 rows.
    float* sw = ss + warp * 16 * L::lds;
#pragma unroll
    for (int n0 = 0; n0 < kKeys; n0 += 16) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
#pragma unroll
      for (int k0 = 0; k0 < D; k0 += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b;
        wmma::load_matrix_sync(a, qs + warp * 16 * L::ldq + k0, L::ldq);
        wmma::load_matrix_sync(b, ks + n0 * L::ldq + k0, L::ldq);  // K row-major = K^T col-major
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(sw + n0, acc, L::lds, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax over the row (log2 domain), causal mask by position.
    const float* srow = ss + my_row * L::lds;
    bf16* prow = ps + my_row * L::ldp;
    float mx = -INFINITY;
    for (int c = half * 32; c < half * 32 + 32; ++c) {
      const int key = kt * kKeys + c;
      if (key <= my_pos) mx = fmaxf(mx, srow[c] * sl2);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float m_new = fmaxf(m, mx);  // finite: key 0 is in every row's first tile
    const float corr = exp2f(m - m_new);
    float sum = 0.f;
    for (int c = half * 32; c < half * 32 + 32; ++c) {
      const int key = kt * kKeys + c;
      const float e = key <= my_pos ? exp2f(srow[c] * sl2 - m_new) : 0.f;
      const bf16 eb = __float2bfloat16_rn(e);
      prow[c] = eb;
      sum += __bfloat162float(eb);  // the sum of what P V multiplies
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    l = l * corr + sum;
    m = m_new;
    float* orow = os + my_row * L::ldo;
    for (int d = half * (D / 2); d < (half + 1) * (D / 2); ++d) orow[d] *= corr;
    __syncwarp();

    // O += P V for this warp's rows.
    float* ow = os + warp * 16 * L::ldo;
#pragma unroll
    for (int d0 = 0; d0 < D; d0 += 16) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, ow + d0, L::ldo, wmma::mem_row_major);
#pragma unroll
      for (int k0 = 0; k0 < kKeys; k0 += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> b;
        wmma::load_matrix_sync(a, ps + warp * 16 * L::ldp + k0, L::ldp);
        wmma::load_matrix_sync(b, vs + k0 * L::ldq + d0, L::ldq);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(ow + d0, acc, L::ldo, wmma::mem_row_major);
    }
    __syncwarp();
  }

  // out = O / l for the tile's real rows.
  if (my_row < n_rows) {
    const float inv = 1.f / l;
    const float* orow = os + my_row * L::ldo;
    bf16* dst = p.out + static_cast<std::size_t>(tile.token0 + my_row / G) * p.out_stride +
                (kvh * G + my_row % G) * D;
    for (int d = half * (D / 2); d < (half + 1) * (D / 2); ++d) dst[d] = __float2bfloat16_rn(orow[d] * inv);
  }
}

template <int D>
cudaError_t launch(const prefill_attention_params& p, cudaStream_t stream) {
  constexpr int bytes = smem_layout<D>::bytes;
  // Raising the dynamic shared-memory limit is not a launch, and it holds
  // for the current device's context only: once per device and kernel (two
  // threads racing both set the same value, which is harmless).
  constexpr int kMaxDevices = 64;
  static std::atomic<bool> raised[kMaxDevices];
  int dev = 0;
  if (const cudaError_t e = cudaGetDevice(&dev); e != cudaSuccess) return e;
  if (dev < 0 || dev >= kMaxDevices || !raised[dev].load(std::memory_order_acquire)) {
    const cudaError_t attr =
        cudaFuncSetAttribute(prefill_attention_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (attr != cudaSuccess) return attr;
    if (dev >= 0 && dev < kMaxDevices) raised[dev].store(true, std::memory_order_release);
  }
  prefill_attention_kernel<D><<<dim3(p.n_tiles, p.n_kv_heads), kThreads, bytes, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

void plan_prefill_tiles(const prefill_span* spans, int n_spans, int group, std::vector<prefill_tile>& tiles) {
  tiles.clear();
  const int per_tile = std::max(1, kRows / std::max(1, group));
  for (int s = 0; s < n_spans; ++s)
    for (int t = 0; t < spans[s].n_tokens; t += per_tile)
      tiles.push_back({spans[s].seq, spans[s].token0 + t, std::min(per_tile, spans[s].n_tokens - t), spans[s].pos0 + t});
  // Work grows with the context: start the longest first.
  std::stable_sort(tiles.begin(), tiles.end(), [](const prefill_tile& a, const prefill_tile& b) {
    return a.pos0 + a.n_tokens > b.pos0 + b.n_tokens;
  });
}

cudaError_t prefill_attention(const prefill_attention_params& p, cudaStream_t stream) {
  if (p.n_tiles == 0) return cudaSuccess;
  if (p.n_kv_heads <= 0 || p.n_heads % p.n_kv_heads != 0)
    return unsupported("prefill_attention", "n_heads (not a multiple of n_kv_heads)", p.n_heads);
  if (p.n_heads / p.n_kv_heads > kRows)
    return unsupported("prefill_attention", "query heads per KV head", p.n_heads / p.n_kv_heads);
  KAIROS_DISPATCH_HEAD_DIM("prefill_attention", p.head_dim, D, return launch<D>(p, stream));
  return cudaSuccess;
}

}  // namespace kairos::cuda::kernels
