#include <algorithm>

#include "gpu/cuda/kernels/common.cuh"
#include "gpu/cuda/kernels/decode_attention.cuh"

namespace kairos::cuda::kernels {

namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
// Scores of one split live in shared memory: [group, partition] floats, at
// most this many, so the kernel stays under the 48 KB static limit.
constexpr int kMaxScoreFloats = 8192;
constexpr float kLog2e = 1.4426950408889634f;

// Each key row is read by a "lane group" of head_dim / 8 lanes, 16 bytes a
// lane; a warp holds 32 / (head_dim / 8) lane groups, each on its own key.
// Pass 1 writes the group x partition scores (log2 domain) to shared memory,
// pass 2 turns them into exp2(s - max), pass 3 accumulates P V per lane
// group and reduces over lane groups and warps.
template <int D, int G>
__global__ void __launch_bounds__(kThreads) decode_attention_kernel(decode_attention_params p, int partition,
                                                                     int n_splits) {
  constexpr int TG = D / 8;
  constexpr int GPW = 32 / TG;        // lane groups per warp
  constexpr int NG = kWarps * GPW;    // lane groups per CTA
  extern __shared__ float smem[];     // scores [G, partition]; later [kWarps, G, D]
  __shared__ float red[kWarps][G];
  __shared__ float row_max[G], row_sum[G];

  const int split = blockIdx.x, kvh = blockIdx.y, seq = blockIdx.z;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int lg = lane / TG, lt = lane % TG;
  const int len = p.seq_lens[seq];
  const int start = split * partition;
  const int end = min(len, start + partition);
  const int H = p.n_heads;
  float* part_o = p.workspace;
  float* part_ml = p.workspace + static_cast<std::size_t>(p.n_seqs) * H * n_splits * D;

  if (start >= end) {  // nothing to attend in this split (or a padding row)
    if (n_splits > 1) {
      if (threadIdx.x < G) {
        const std::size_t i = (static_cast<std::size_t>(seq) * H + kvh * G + threadIdx.x) * n_splits + split;
        part_ml[2 * i] = -INFINITY;
        part_ml[2 * i + 1] = 0.f;
      }
    } else if (len == 0) {
      bf16* out = p.out + static_cast<std::size_t>(p.rows[seq]) * p.out_stride + kvh * G * D;
      for (int i = threadIdx.x; i < G * D; i += kThreads) out[i] = __float2bfloat16_rn(0.f);
    }
    return;
  }

  const std::int32_t* table = p.block_tables + static_cast<std::size_t>(seq) * p.max_blocks_per_seq;
  const bf16* qrow = p.q + static_cast<std::size_t>(p.rows[seq]) * p.q_stride + kvh * G * D;
  const float qscale = p.scale * kLog2e;
  float q[G][8];
#pragma unroll
  for (int h = 0; h < G; ++h) {
    load8(qrow + h * D + lt * 8, q[h]);
#pragma unroll
    for (int i = 0; i < 8; ++i) q[h][i] *= qscale;
  }
  const std::size_t head_stride = static_cast<std::size_t>(p.block_size) * D;
  const std::size_t block_stride = static_cast<std::size_t>(p.n_kv_heads) * head_stride;
  const std::size_t kv_off = kvh * head_stride + lt * 8;

  // -- pass 1: scores --
  float mx[G];
#pragma unroll
  for (int h = 0; h < G; ++h) mx[h] = -INFINITY;
  // The loop bound is the same for the whole warp, so the shuffles below
  // always run with every lane; out-of-range lane groups compute on key 0.
  // Unrolled so several key loads are in flight before the first use.
#pragma unroll 4
  for (int base = start + warp * GPW; base < end; base += NG) {
    const int k = base + lg;
    const bool valid = k < end;
    const int kk = valid ? k : start;
    const bf16* kp = p.k_cache + static_cast<std::size_t>(table[kk / p.block_size]) * block_stride +
                     static_cast<std::size_t>(kk % p.block_size) * D + kv_off;
    float kf[8];
    load8(kp, kf);
#pragma unroll
    for (int h = 0; h < G; ++h) {
      float s = 0.f;
#pragma unroll
      for (int i = 0; i < 8; ++i) s += q[h][i] * kf[i];
#pragma unroll
      for (int o = TG / 2; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
      if (valid) {
        if (lt == 0) smem[h * partition + (k - start)] = s;
        mx[h] = fmaxf(mx[h], s);
      }
    }
  }
#pragma unroll
  for (int h = 0; h < G; ++h) {
    const float m = warp_max(mx[h]);
    if (lane == 0) red[warp][h] = m;
  }
  __syncthreads();
  if (threadIdx.x < G) {
    float m = -INFINITY;
    for (int w = 0; w < kWarps; ++w) m = fmaxf(m, red[w][threadIdx.x]);
    row_max[threadIdx.x] = m;
  }
  __syncthreads();

  // -- pass 2: probabilities (unnormalised) and their sums --
  const int n = end - start;
  float sum[G];
#pragma unroll
  for (int h = 0; h < G; ++h) {
    sum[h] = 0.f;
    const float m = row_max[h];
    for (int i = threadIdx.x; i < n; i += kThreads) {
      const float e = exp2f(smem[h * partition + i] - m);
      smem[h * partition + i] = e;
      sum[h] += e;
    }
  }
  __syncthreads();  // red[] is reused below
#pragma unroll
  for (int h = 0; h < G; ++h) {
    const float s = warp_sum(sum[h]);
    if (lane == 0) red[warp][h] = s;
  }
  __syncthreads();
  if (threadIdx.x < G) {
    float s = 0.f;
    for (int w = 0; w < kWarps; ++w) s += red[w][threadIdx.x];
    row_sum[threadIdx.x] = s;
  }

  // -- pass 3: P V --
  float acc[G][8];
#pragma unroll
  for (int h = 0; h < G; ++h)
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[h][i] = 0.f;
#pragma unroll 4
  for (int base = start + warp * GPW; base < end; base += NG) {
    const int k = base + lg;
    if (k < end) {
      const bf16* vp = p.v_cache + static_cast<std::size_t>(table[k / p.block_size]) * block_stride +
                       static_cast<std::size_t>(k % p.block_size) * D + kv_off;
      float vf[8];
      load8(vp, vf);
#pragma unroll
      for (int h = 0; h < G; ++h) {
        const float pr = smem[h * partition + (k - start)];
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[h][i] += pr * vf[i];
      }
    }
  }
  // Lane groups of a warp hold the same columns: fold them together.
#pragma unroll
  for (int h = 0; h < G; ++h)
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int o = TG; o < 32; o <<= 1) acc[h][i] += __shfl_xor_sync(0xffffffffu, acc[h][i], o);
  __syncthreads();  // every score read is done: smem becomes [kWarps, G, D]
  if (lg == 0) {
#pragma unroll
    for (int h = 0; h < G; ++h)
#pragma unroll
      for (int i = 0; i < 8; ++i) smem[(warp * G + h) * D + lt * 8 + i] = acc[h][i];
  }
  __syncthreads();
  for (int e = threadIdx.x; e < G * D; e += kThreads) {
    const int h = e / D, d = e % D;
    float o = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) o += smem[(w * G + h) * D + d];
    o /= row_sum[h];
    if (n_splits == 1) {
      p.out[static_cast<std::size_t>(p.rows[seq]) * p.out_stride + (kvh * G + h) * D + d] = __float2bfloat16_rn(o);
    } else {
      const std::size_t i = (static_cast<std::size_t>(seq) * H + kvh * G + h) * n_splits + split;
      part_o[i * D + d] = o;
      if (d == 0) {
        part_ml[2 * i] = row_max[h];
        part_ml[2 * i + 1] = row_sum[h];
      }
    }
  }
}

// One CTA per (sequence, query head), one thread per output column: weights
// each split's normalised output by its share of the total softmax mass.
__global__ void decode_combine_kernel(decode_attention_params p, int n_splits) {
  const int seq = blockIdx.x, h = blockIdx.y, D = p.head_dim, H = p.n_heads;
  const float* part_o = p.workspace;
  const float* part_ml = p.workspace + static_cast<std::size_t>(p.n_seqs) * H * n_splits * D;
  const std::size_t i0 = (static_cast<std::size_t>(seq) * H + h) * n_splits;
  float m = -INFINITY;
  for (int s = 0; s < n_splits; ++s)
    if (part_ml[2 * (i0 + s) + 1] > 0.f) m = fmaxf(m, part_ml[2 * (i0 + s)]);
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float num = 0.f, den = 0.f;
    for (int s = 0; s < n_splits; ++s) {
      const float l = part_ml[2 * (i0 + s) + 1];
      if (l <= 0.f) continue;
      const float w = l * exp2f(part_ml[2 * (i0 + s)] - m);
      num += w * part_o[(i0 + s) * D + d];
      den += w;
    }
    p.out[static_cast<std::size_t>(p.rows[seq]) * p.out_stride + h * D + d] =
        __float2bfloat16_rn(den > 0.f ? num / den : 0.f);
  }
}

template <int D, int G>
cudaError_t launch(const decode_attention_params& p, const decode_attention_plan& plan, cudaStream_t stream) {
  const int smem_floats = std::max(G * plan.partition_size, kWarps * G * D);
  if (G * plan.partition_size > kMaxScoreFloats)
    return unsupported("decode_attention", "partition_size (too large for the group)", plan.partition_size);
  const dim3 grid(plan.n_splits, p.n_kv_heads, p.n_seqs);
  decode_attention_kernel<D, G><<<grid, kThreads, smem_floats * sizeof(float), stream>>>(p, plan.partition_size,
                                                                                         plan.n_splits);
  if (plan.n_splits > 1) {
    decode_combine_kernel<<<dim3(p.n_seqs, p.n_heads), std::min(D, 256), 0, stream>>>(p, plan.n_splits);
  }
  return cudaGetLastError();
}

// At most 1024 keys a split: 16 KB of scores for a group of 4 keeps a dozen
// CTAs resident per SM, enough loads in flight to stream the cache.
int max_partition(int n_heads, int n_kv_heads) {
  const int group = std::max(1, n_heads / std::max(1, n_kv_heads));
  return std::max(32, std::min(1024, (kMaxScoreFloats / group) / 32 * 32));
}

// About two CTAs per SM over the batch.
int wanted_splits(int n_seqs, int n_kv_heads, int n_sms) {
  const int base = std::max(1, n_seqs * std::max(1, n_kv_heads));
  return std::max(1, (2 * n_sms + base - 1) / base);
}

}  // namespace

decode_attention_plan plan_decode_attention(int n_seqs, int n_heads, int n_kv_heads, int head_dim, int max_context,
                                            int n_sms) {
  decode_attention_plan plan;
  const int max_part = max_partition(n_heads, n_kv_heads);
  const int ctx = std::max(1, max_context);
  // A split below 128 keys costs more in the combine than it saves.
  const int want = wanted_splits(n_seqs, n_kv_heads, n_sms);
  int part = (ctx + want - 1) / want;
  part = std::max(part, std::min(ctx, 128));
  part = (part + 31) / 32 * 32;
  part = std::min(part, max_part);
  plan.partition_size = part;
  plan.n_splits = (ctx + part - 1) / part;
  plan.workspace_floats =
      plan.n_splits > 1 ? static_cast<std::size_t>(n_seqs) * n_heads * plan.n_splits * (head_dim + 2) : 0;
  return plan;
}

std::size_t decode_attention_workspace_bound(int max_seqs, int n_heads, int n_kv_heads, int head_dim, int max_context,
                                             int n_sms) {
  // The plan's splits are not monotone in the batch size nor in the context
  // (the partition is rounded up to 32 keys), so bound them for each batch
  // size: a capped partition gives ceil(ctx / max_part) splits; otherwise the
  // partition is at least ceil(ctx / want) keys and at least min(ctx, 128),
  // so the splits are at most want, and at most ceil(ctx / 128) (1 below 128
  // keys). The largest context gives the largest of each.
  const int L = std::max(1, max_context);
  const int max_part = max_partition(n_heads, n_kv_heads);
  const int capped = (L + max_part - 1) / max_part;
  const int by_keys = L >= 128 ? (L + 127) / 128 : 1;
  std::size_t ws = 0;
  for (int n = 1; n <= max_seqs; ++n) {
    const int splits = std::max(capped, std::min(wanted_splits(n, n_kv_heads, n_sms), by_keys));
    if (splits > 1) ws = std::max(ws, static_cast<std::size_t>(n) * n_heads * splits * (head_dim + 2));
  }
  return ws;
}

cudaError_t decode_attention_supports(int head_dim, int group) {
  KAIROS_DISPATCH_HEAD_DIM("decode_attention", head_dim, D,
                           KAIROS_DISPATCH_GROUP("decode_attention", group, G, (void)D; (void)G; return cudaSuccess));
  return cudaSuccess;
}

cudaError_t decode_attention(const decode_attention_params& p, const decode_attention_plan& plan,
                             cudaStream_t stream) {
  if (p.n_seqs == 0) return cudaSuccess;
  if (p.n_kv_heads <= 0 || p.n_heads % p.n_kv_heads != 0)
    return unsupported("decode_attention", "n_heads (not a multiple of n_kv_heads)", p.n_heads);
  if (plan.n_splits > 1 && p.workspace == nullptr)
    return unsupported("decode_attention", "n_splits without a workspace", plan.n_splits);
  const int group = p.n_heads / p.n_kv_heads;
  KAIROS_DISPATCH_HEAD_DIM("decode_attention", p.head_dim, D,
                           KAIROS_DISPATCH_GROUP("decode_attention", group, G, return launch<D, G>(p, plan, stream)));
  return cudaSuccess;
}

}  // namespace kairos::cuda::kernels
