// GEMM driver: weight packing, ISA dispatch, blocking and the thread split.
// The micro-kernels live in gemm_avx512.cpp, gemm_avx2.cpp and gemm_scalar.cpp.
//
// Blocking. x is cut into "slices" of at most mr_max rows (sizes balanced so
// that no slice is tiny), slices are grouped into m-blocks whose x fits
// comfortably in L2, and the work is the grid of (m-block, panel) units. Each
// thread owns a contiguous range of units (weighted by rows), and for each
// group of np panels runs every slice of the m-block against it, so a weight
// panel is read from memory once per m-block and then reused from cache (the
// slices prefetch the next group meanwhile, each its share). For decode (small m) there
// is a single m-block: the weights are read exactly once and the threads split
// the panels. x is read in place (row stride k), or packed k-major per slice
// where k would put a slice's rows on the same L1 sets. Nothing splits k, so
// every output element is one in-order chain over k (see gemm.hpp).
#include "gpu/kernels/gemm.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <new>

#include "gpu/kernels/gemm_internal.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace kairos::kernels {

using detail::isa_kernels;
using detail::ukr_args;
using detail::ukr_fn;

namespace {

constexpr int kNr = gemm_panel_width;
// Target size of one m-block of x (kept in L2 next to the weight panels).
constexpr std::size_t kABlockBytes = 256 * 1024;
// Packed weights of at least kHugeThreshold bytes go on (transparent) huge pages.
constexpr std::size_t kHugePage = std::size_t(2) << 20;
constexpr std::size_t kHugeThreshold = std::size_t(4) << 20;
// Below this many multiply-adds per thread, fewer threads are used.
constexpr long long kMinMacsPerThread = 1 << 16;

std::atomic<int> g_override{0};

bool cpu_has(gemm_path p) {
  switch (p) {
    case gemm_path::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    case gemm_path::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    default:
      return true;
  }
}

gemm_path best_path() {
  static const gemm_path best = cpu_has(gemm_path::avx512) ? gemm_path::avx512
                                : cpu_has(gemm_path::avx2) ? gemm_path::avx2
                                                           : gemm_path::scalar;
  return best;
}

gemm_path current_path() {
  const int o = g_override.load(std::memory_order_relaxed);
  return o ? static_cast<gemm_path>(o) : best_path();
}

const isa_kernels& kernels_for(gemm_path p) {
  switch (p) {
    case gemm_path::avx512:
      return detail::avx512_kernels();
    case gemm_path::avx2:
      return detail::avx2_kernels();
    default:
      return detail::scalar_kernels();
  }
}

// Scratch for packed x, one per calling thread; grows, never shrinks.
struct scratch {
  float* p = nullptr;
  std::size_t cap = 0;  // floats
  ~scratch() { std::free(p); }
  float* get(std::size_t n) {
    if (n > cap) {
      std::free(p);
      const std::size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      cap = p ? n : 0;
    }
    return p;
  }
};
thread_local scratch tl_scratch;

struct plan {
  const float* x;
  int m, n, k;
  const char* w;              // packed panels
  std::ptrdiff_t panel_bytes;  // one panel: k steps of 32 elements (detail::panel_bytes)
  weight_dtype wt;
  float* y;
  std::ptrdiff_t ldy;  // y's row stride, >= n
  const float* bias;
  bool accumulate;
  bool swiglu;      // pack_swiglu weights: 16 outputs per panel
  int outs;         // outputs per panel: 32, or 16 for swiglu
  const isa_kernels* isa;
  int panels;       // ceil(n / outs)
  int slices;       // ceil(m / mr_max)
  int base, extra;  // slice s has base + (s < extra) rows
  int np;           // panels per group
  int spb;          // slices per m-block
  int blocks;       // m-blocks
  bool packed;      // x packed per slice (k-major)
  float* apack;

  int slice_start(int s) const { return s * base + std::min(s, extra); }
  int slice_rows(int s) const { return base + (s < extra ? 1 : 0); }
  int block_first(int mb) const { return mb * spb; }
  int block_end(int mb) const { return std::min(slices, (mb + 1) * spb); }
  int block_rows(int mb) const { return slice_start(block_end(mb)) - slice_start(block_first(mb)); }
  long long units() const { return static_cast<long long>(blocks) * panels; }
};

void pack_slice(const plan& pl, int s) {
  const int r0 = pl.slice_start(s), mr = pl.slice_rows(s), k = pl.k;
  float* dst = pl.apack + static_cast<std::ptrdiff_t>(r0) * k;
  constexpr int kT = 64;  // columns per step: the written window stays in L1
  for (int t0 = 0; t0 < k; t0 += kT) {
    const int t1 = std::min(k, t0 + kT);
    for (int i = 0; i < mr; ++i) {
      const float* src = pl.x + static_cast<std::ptrdiff_t>(r0 + i) * k;
      for (int t = t0; t < t1; ++t) dst[static_cast<std::ptrdiff_t>(t) * mr + i] = src[t];
    }
  }
}

// First unit of thread t of nt: the units are weighted by the rows of their m-block.
long long unit_start(const plan& pl, int t, int nt) {
  if (t <= 0) return 0;
  if (t >= nt) return pl.units();
  const long long total = static_cast<long long>(pl.m) * pl.panels;
  const long long target = total * t / nt;
  long long cum = 0;
  for (int mb = 0; mb < pl.blocks; ++mb) {
    const long long rows = pl.block_rows(mb);
    const long long c = rows * pl.panels;
    if (cum + c > target) {
      const long long p = (target - cum + rows / 2) / rows;
      return static_cast<long long>(mb) * pl.panels + p;
    }
    cum += c;
  }
  return pl.units();
}

// Runs units [u0, u1). Next-group prefetch may look ahead up to pf_end.
void run_units(const plan& pl, long long u0, long long u1, long long pf_end) {
  const int P = pl.panels;
  const std::ptrdiff_t pbytes = pl.panel_bytes;
  ukr_args g{};
  g.k = pl.k;
  g.ldy = pl.ldy;
  g.accumulate = pl.accumulate;
  g.swiglu = pl.swiglu;
  g.bstride = pbytes;
  g.lda = pl.k;
  for (long long u = u0; u < u1;) {
    const int mb = static_cast<int>(u / P);
    const int p0 = static_cast<int>(u % P);
    const int p1 = static_cast<int>(std::min<long long>(P, p0 + (u1 - u)));
    const int s0 = pl.block_first(mb), s1 = pl.block_end(mb);
    for (int p = p0; p < p1; p += pl.np) {
      const int gnp = std::min(pl.np, p1 - p);
      const int col0 = p * pl.outs;
      const char* const b = pl.w + static_cast<std::ptrdiff_t>(p) * pbytes;
      g.b = b;
      g.ncols = pl.n - col0;
      g.bias = pl.bias ? pl.bias + col0 : nullptr;
      // Software prefetch: one slice streams its own panels ahead; with several
      // slices each pulls its share of the next group into L2 while computing,
      // so that the stream from memory runs at an even rate. (The first slice
      // alone pulling it all asked for 3x the average bandwidth for a third
      // of the time, and the GEMMs of a 32-row decode step ran ~10% slower.)
      const int next_np = std::min<long long>({pl.np, P - (p + gnp), pf_end - (static_cast<long long>(mb) * P + p + gnp)});
      const char* next = next_np > 0 ? b + gnp * pbytes : nullptr;
      const int n_slices = s1 - s0;
      const int next_lines = next_np > 0 ? static_cast<int>(next_np * pbytes / 64) : 0;  // 64-byte lines
      const int share = (next_lines + n_slices - 1) / n_slices;
      for (int s = s0; s < s1; ++s) {
        if (n_slices == 1) {
          g.prefetch = g.b;
        } else {
          const int first = (s - s0) * share;
          const int lines = std::min(share, next_lines - first);
          g.prefetch = lines > 0 ? next + static_cast<std::ptrdiff_t>(first) * 64 : nullptr;
          g.prefetch_lines = lines;
        }
        const int r0 = pl.slice_start(s), mr = pl.slice_rows(s);
        const std::ptrdiff_t off = static_cast<std::ptrdiff_t>(r0) * pl.k;
        const bool packed = pl.packed || mr == 1;  // one row: x itself is the packed layout
        g.a = (pl.packed ? pl.apack : pl.x) + off;
        g.y = pl.y + static_cast<std::ptrdiff_t>(r0) * pl.ldy + col0;
        const ukr_fn fn = pl.isa->get(mr, gnp, packed, pl.wt);
        fn(g);
      }
    }
    u = static_cast<long long>(mb) * P + p1;
  }
}

// Each thread owns a contiguous range of units (the static split) and claims
// chunks of it front to back; when its range is done it steals the remaining
// chunks of the others. On a quiet machine this is the static split; when a
// thread is descheduled (shared CPUs) the others finish its work. Who computes
// a unit never changes its result.
struct alignas(64) claim {
  std::atomic<long long> next{0};
  long long end = 0;
};

struct claims_scratch {
  std::unique_ptr<claim[]> c;
  int cap = 0;
  claim* get(int n) {
    if (n > cap) {
      c.reset(new (std::nothrow) claim[n]);
      cap = c ? n : 0;
    }
    return c.get();
  }
};
thread_local claims_scratch tl_claims;

void run_thread(const plan& pl, int t, int nt, claim* claims, long long chunk) {
  if (pl.packed) {
    for (int s = t; s < pl.slices; s += nt) pack_slice(pl, s);
    if (nt > 1) {
#pragma omp barrier
    }
  }
  if (!claims) {
    run_units(pl, unit_start(pl, t, nt), unit_start(pl, t + 1, nt), unit_start(pl, t + 1, nt));
    return;
  }
  for (int v = 0; v < nt; ++v) {
    claim& c = claims[(t + v) % nt];
    for (;;) {
      const long long u = c.next.fetch_add(chunk, std::memory_order_relaxed);
      if (u >= c.end) break;
      run_units(pl, u, std::min(u + chunk, c.end), c.end);
    }
  }
}

}  // namespace

void packed_weight::free_deleter::operator()(float* p) const { std::free(p); }

packed_weight packed_weight::allocate(int panels, int k, weight_dtype dt) {
  packed_weight pw;
  pw.k_ = k;
  pw.dtype_ = dt;
  pw.bytes_ = static_cast<std::size_t>(panels) * static_cast<std::size_t>(detail::panel_bytes(dt, k));
  // Large weights are 2 MiB aligned and asked to live on huge pages: the decode
  // path streams them, and fewer TLB misses help it keep up with memory.
  const std::size_t align = pw.bytes_ >= kHugeThreshold ? kHugePage : 64;
  const std::size_t alloc = std::max<std::size_t>(64, (pw.bytes_ + align - 1) / align * align);
  pw.data_.reset(static_cast<float*>(std::aligned_alloc(align, alloc)));
  if (!pw.data_) return packed_weight{};
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (align == kHugePage) madvise(pw.data_.get(), alloc, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
  return pw;
}

namespace {

std::uint16_t to_f16(float f) {
  const _Float16 h = static_cast<_Float16>(f);  // round to nearest even
  std::uint16_t u;
  std::memcpy(&u, &h, 2);
  return u;
}

// Writes `panels` k-major panels of 32 columns of element type E (float or
// the 16-bit patterns that convert() makes): column c of panel p is the row
// row_of(p, c) ([k] floats), or zeros where that is nullptr.
template <class E, class Convert, class RowOf>
void fill_panels_as(E* dst, int panels, int k, std::size_t bytes, Convert convert, RowOf row_of) {
  const std::ptrdiff_t pstride = static_cast<std::ptrdiff_t>(k) * kNr;
#pragma omp parallel for schedule(static) if (bytes > (1u << 20))
  for (int p = 0; p < panels; ++p) {
    E* d = dst + p * pstride;
    for (int c = 0; c < kNr; ++c) {
      const float* src = row_of(p, c);
      for (int t = 0; t < k; ++t) d[static_cast<std::ptrdiff_t>(t) * kNr + c] = src ? convert(src[t]) : convert(0.f);
    }
  }
}

template <class RowOf>
void fill_panels(void* dst, weight_dtype dt, int panels, int k, std::size_t bytes, RowOf row_of) {
  switch (dt) {
    case weight_dtype::f32:
      fill_panels_as(static_cast<float*>(dst), panels, k, bytes, [](float v) { return v; }, row_of);
      break;
    case weight_dtype::bf16:
      fill_panels_as(static_cast<std::uint16_t*>(dst), panels, k, bytes, f32_to_bf16, row_of);
      break;
    case weight_dtype::f16:
      fill_panels_as(static_cast<std::uint16_t*>(dst), panels, k, bytes, to_f16, row_of);
      break;
    case weight_dtype::q8_0:  // from raw blocks only (fill_panels_q8); pack() refuses it
      assert(false && "fill_panels: q8_0 packs from its blocks");
      break;
  }
}

// Q8_0 panels (detail::q8_t's layout): column c of panel p is the Q8_0 row
// row_of(p, c) (k/32 blocks of an f16 scale and 32 int8), or zeros.
template <class RowOf>
void fill_panels_q8(char* dst, int panels, int k, std::size_t bytes, RowOf row_of) {
  const std::ptrdiff_t pb = detail::panel_bytes(weight_dtype::q8_0, k);
  const int nb = k / detail::q8_block_steps;
  constexpr int kSrcBlock = 2 + 32;  // bytes of a GGUF Q8_0 block
#pragma omp parallel for schedule(static) if (bytes > (1u << 20))
  for (int p = 0; p < panels; ++p) {
    for (int c = 0; c < kNr; ++c) {
      const unsigned char* src = row_of(p, c);
      for (int b = 0; b < nb; ++b) {
        char* blk = dst + p * pb + b * detail::q8_block_bytes;
        float scale = 0.f;
        const unsigned char* q = nullptr;
        if (src) {
          std::uint16_t d;
          std::memcpy(&d, src + static_cast<std::ptrdiff_t>(b) * kSrcBlock, 2);
          scale = detail::f16_bits_to_f32(d);
          q = src + static_cast<std::ptrdiff_t>(b) * kSrcBlock + 2;
        }
        std::memcpy(blk + c * 4, &scale, 4);
        for (int t = 0; t < detail::q8_block_steps; ++t) blk[32 * 4 + t * 32 + c] = q ? static_cast<char>(q[t]) : 0;
      }
    }
  }
}

}  // namespace

packed_weight packed_weight::pack(const float* w, int n, int k, weight_dtype dt) {
  if (n < 0 || k < 0 || dt == weight_dtype::q8_0) return packed_weight{};
  const int panels = (n + kNr - 1) / kNr;
  packed_weight pw = allocate(panels, k, dt);
  if (!pw.data_) return pw;
  pw.n_ = n;
  fill_panels(pw.data_.get(), dt, panels, k, pw.bytes_, [&](int p, int c) -> const float* {
    const int j = p * kNr + c;
    return j < n ? w + static_cast<std::ptrdiff_t>(j) * k : nullptr;
  });
  return pw;
}

packed_weight packed_weight::pack_swiglu(const float* gate, const float* up, int f, int k, weight_dtype dt) {
  // Columns 0-15 of panel p are gate rows 16p..16p+15, columns 16-31 the same
  // up rows (zeros past f): the layout the SwiGLU epilogue reads.
  if (f < 0 || k < 0 || dt == weight_dtype::q8_0) return packed_weight{};
  const int panels = (f + kNr / 2 - 1) / (kNr / 2);
  packed_weight pw = allocate(panels, k, dt);
  if (!pw.data_) return pw;
  pw.n_ = f;
  pw.swiglu_ = true;
  fill_panels(pw.data_.get(), dt, panels, k, pw.bytes_, [&](int p, int c) -> const float* {
    const int j = p * (kNr / 2) + c % (kNr / 2);
    if (j >= f) return nullptr;
    return (c < kNr / 2 ? gate : up) + static_cast<std::ptrdiff_t>(j) * k;
  });
  return pw;
}

packed_weight packed_weight::pack_q8_0(const void* const* rows, int n, int k) {
  if (n < 0 || k < 0 || k % detail::q8_block_steps != 0 || (n > 0 && !rows)) return packed_weight{};
  const int panels = (n + kNr - 1) / kNr;
  packed_weight pw = allocate(panels, k, weight_dtype::q8_0);
  if (!pw.data_) return pw;
  pw.n_ = n;
  fill_panels_q8(reinterpret_cast<char*>(pw.data_.get()), panels, k, pw.bytes_,
                 [&](int p, int c) -> const unsigned char* {
                   const int j = p * kNr + c;
                   return j < n ? static_cast<const unsigned char*>(rows[j]) : nullptr;
                 });
  return pw;
}

packed_weight packed_weight::pack_swiglu_q8_0(const void* const* gate_rows, const void* const* up_rows, int f,
                                              int k) {
  if (f < 0 || k < 0 || k % detail::q8_block_steps != 0 || (f > 0 && (!gate_rows || !up_rows)))
    return packed_weight{};
  const int panels = (f + kNr / 2 - 1) / (kNr / 2);
  packed_weight pw = allocate(panels, k, weight_dtype::q8_0);
  if (!pw.data_) return pw;
  pw.n_ = f;
  pw.swiglu_ = true;
  fill_panels_q8(reinterpret_cast<char*>(pw.data_.get()), panels, k, pw.bytes_,
                 [&](int p, int c) -> const unsigned char* {
                   const int j = p * (kNr / 2) + c % (kNr / 2);
                   if (j >= f) return nullptr;
                   return static_cast<const unsigned char*>((c < kNr / 2 ? gate_rows : up_rows)[j]);
                 });
  return pw;
}

namespace {

void gemm_run(const float* x, int m, const packed_weight& w, float* y, const float* bias, bool accumulate,
              std::ptrdiff_t ldy) {
  const int n = w.n(), k = w.k();
  if (m <= 0 || n <= 0) return;
  if (k > 0 && !w.data()) return;
  if (ldy != 0 && ldy < n) return;  // asserted in gemm(): rows would overlap

  plan pl{};
  pl.x = x;
  pl.m = m;
  pl.n = n;
  pl.k = k;
  pl.w = static_cast<const char*>(w.data());
  pl.wt = w.dtype();
  pl.panel_bytes = detail::panel_bytes(w.dtype(), k);
  pl.y = y;
  pl.ldy = ldy != 0 ? ldy : n;
  pl.bias = bias;
  pl.accumulate = accumulate;
  pl.swiglu = w.swiglu();
  pl.outs = pl.swiglu ? kNr / 2 : kNr;
  pl.isa = &kernels_for(current_path());
  pl.panels = (n + pl.outs - 1) / pl.outs;
  const int mr_max = pl.isa->mr_max;
  pl.slices = (m + mr_max - 1) / mr_max;
  pl.base = m / pl.slices;
  pl.extra = m % pl.slices;
  const int mr_big = pl.base + (pl.extra ? 1 : 0);
  pl.np = pl.isa->np_for(mr_big);
  const std::size_t slice_bytes = static_cast<std::size_t>(mr_big) * std::max(k, 1) * sizeof(float);
  pl.spb = static_cast<int>(std::max<std::size_t>(1, kABlockBytes / slice_bytes));
  pl.blocks = (pl.slices + pl.spb - 1) / pl.spb;
  // x is read in place (row stride k) except where k puts the rows of a slice
  // on the same few L1 sets (multiples of 1024) or is large, for big m.
  pl.packed = m > 16 && k > 0 && (k % 1024 == 0 || k > 2048);
  if (pl.packed) {
    pl.apack = tl_scratch.get(static_cast<std::size_t>(m) * k);
    if (!pl.apack) pl.packed = false;  // out of memory: run on x in place
  }

  // Multiply-adds: a SwiGLU output is two products (gate and up).
  const long long macs = static_cast<long long>(m) * n * std::max(k, 1) * (pl.swiglu ? 2 : 1);
  long long nt = std::min<long long>(omp_get_max_threads(), pl.units());
  nt = std::min<long long>(nt, std::max<long long>(1, macs / kMinMacsPerThread));
  if (nt <= 1) {
    run_thread(pl, 0, 1, nullptr, 0);
    return;
  }
  // Claims: a chunk is a whole number of panel groups, about 1/16 of a thread's share.
  const long long chunk = pl.np * std::max<long long>(1, pl.units() / (pl.np * nt * 16));
  claim* claims = tl_claims.get(static_cast<int>(nt));
  const int nti = static_cast<int>(nt);
  if (claims)
    for (int t = 0; t < nti; ++t) {
      claims[t].next.store(unit_start(pl, t, nti), std::memory_order_relaxed);
      claims[t].end = unit_start(pl, t + 1, nti);
    }
#pragma omp parallel num_threads(nti)
  {
    // Fewer threads than asked for (a thread limit): plain static split.
    const int T = omp_get_num_threads();
    run_thread(pl, omp_get_thread_num(), T, T == nti ? claims : nullptr, chunk);
  }
}

}  // namespace

void gemm(const float* x, int m, const packed_weight& w, float* y, const float* bias, bool accumulate,
          std::ptrdiff_t ldy) {
  assert(!w.swiglu() && "a pack_swiglu weight goes to gemm_swiglu");
  assert((ldy == 0 || ldy >= w.n()) && "ldy is 0 or at least n");
  if (w.swiglu()) return;
  gemm_run(x, m, w, y, bias, accumulate, ldy);
}

std::ptrdiff_t padded_row_stride(int n) {
  const std::ptrdiff_t s = n < 0 ? 0 : n;
  return s > 0 && (s * static_cast<std::ptrdiff_t>(sizeof(float))) % 2048 == 0 ? s + 16 : s;
}

void gemm_swiglu(const float* x, int m, const packed_weight& w, float* y) {
  assert(w.swiglu() && "gemm_swiglu needs a pack_swiglu weight");
  if (!w.swiglu()) return;
  gemm_run(x, m, w, y, nullptr, false, 0);
}

const char* gemm_isa() { return kernels_for(current_path()).name; }

bool gemm_path_supported(gemm_path path) { return cpu_has(path); }

bool set_gemm_isa_override(gemm_path path) {
  if (!cpu_has(path)) return false;
  g_override.store(static_cast<int>(path), std::memory_order_relaxed);
  return true;
}

}  // namespace kairos::kernels
