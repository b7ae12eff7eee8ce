#pragma once
// Dense matmul against a weight matrix that is packed once at load time.
// The engine's hot path: every Linear layer of prefill and decode goes here.
// Knows nothing of the model: raw pointers and sizes only.
//
// Determinism contract: for a given ISA path, y[i, j] depends only on x row i,
// W row j, bias[j] and the old y[i, j]. It is computed as
//   acc = 0; for t in 0..k-1: acc = fma(x[i,t], W[j,t], acc)   (one chain, in order)
//   r = acc (+ bias[j]);  y[i,j] = r  or  y[i,j] + r  (accumulate)
// whatever m is, however rows and columns are blocked and however the work is
// split among threads. So row i of a batched call is bitwise equal to a call
// with that row alone. (The scalar fallback uses a separate multiply and add
// instead of fma; it is equally order-stable.) The AVX-512 and AVX2 paths give
// bitwise-identical results to each other.
#include <cstddef>
#include <cstdint>
#include <memory>

namespace kairos::kernels {

// Output columns per packed panel: the weights are stored as ceil(n/32) panels,
// each k-major ([k][32] elements, contiguous), the last one zero-padded.
inline constexpr int gemm_panel_width = 32;

// Element type of the packed panels. The arithmetic is F32 whatever it is: a
// 16-bit element is widened exactly as it is loaded (bf16 by a shift, f16 by
// the hardware conversion), so weights whose values are bf16 (or f16) give
// bitwise the results of their f32 packing while streaming half the bytes,
// which is what a decode step, bound by memory bandwidth, is paid for.
// q8_0 (GGUF's Q8_0: blocks of 32 int8 along k with an f16 scale) is widened
// the same way, scale * q being exact in f32: 36 bytes per 32 weights
// (int8 and an f32 scale) instead of 128, and again bitwise the results of
// the dequantized matrix packed as f32.
enum class weight_dtype : std::uint8_t { f32, bf16, f16, q8_0 };

// W [n, k] row-major (n outputs, k inputs: the layout of a Hugging Face
// Linear weight), repacked for the micro-kernel. Move-only, owns its memory.
class packed_weight {
 public:
  packed_weight() = default;
  // w: [n, k] F32, stored as dt: f32, bf16 or f16, rounded to nearest even
  // (exact for values that are already of that type). q8_0 packs from its
  // blocks (pack_q8_0) and here gives an empty weight. Copies; w may be
  // freed afterwards. Uses the caller's OpenMP threads.
  static packed_weight pack(const float* w, int n, int k, weight_dtype dt = weight_dtype::f32);
  // A SwiGLU MLP's gate and up projections, gate and up: [f, k] each, packed
  // together for gemm_swiglu: each panel holds 16 gate rows and the same 16
  // up rows, so one micro-kernel call has both halves of its outputs at hand.
  // n() is f, the number of outputs.
  static packed_weight pack_swiglu(const float* gate, const float* up, int f, int k,
                                   weight_dtype dt = weight_dtype::f32);
  // The same from Q8_0 rows as a GGUF file holds them: rows[j] is output j's
  // k/32 blocks of 34 bytes (an f16 scale, 32 int8). k must be a multiple
  // of 32 (else, or on a null rows, the result is empty).
  static packed_weight pack_q8_0(const void* const* rows, int n, int k);
  static packed_weight pack_swiglu_q8_0(const void* const* gate_rows, const void* const* up_rows, int f, int k);

  int n() const { return n_; }
  bool swiglu() const { return swiglu_; }
  int k() const { return k_; }
  weight_dtype dtype() const { return dtype_; }
  // Bytes of packed data (ceil(n/32) panels, ceil(f/16) for pack_swiglu,
  // including the zero padding and Q8_0's scales): what one call streams
  // from memory.
  std::size_t bytes() const { return bytes_; }
  const void* data() const { return data_.get(); }

 private:
  struct free_deleter {
    void operator()(float* p) const;
  };
  // Storage for `panels` panels of k rows (n_ unset); empty on out of memory.
  static packed_weight allocate(int panels, int k, weight_dtype dt);
  int n_ = 0;
  int k_ = 0;
  bool swiglu_ = false;
  weight_dtype dtype_ = weight_dtype::f32;
  std::size_t bytes_ = 0;
  std::unique_ptr<float[], free_deleter> data_;
};

// y[m, n] = x[m, k] · Wᵀ (+ bias[n] if bias) (+ y if accumulate).
// x rows are contiguous with stride k; y rows with stride ldy (0: n, else at
// least n; a smaller one does nothing). x and y must not overlap. A wide y
// whose row stride in bytes is a multiple of 2 KiB puts a slice's output rows
// on a few L1 sets (and L2 sets), and their stores evict the weight panels
// being streamed: a caller that can choose ldy should pad such rows (see
// padded_row_stride).
// Uses the OpenMP threads of the caller's setting (omp_set_num_threads).
// No heap allocation in the steady state (a per-calling-thread scratch for
// packing x grows to the largest m*k seen).
void gemm(const float* x, int m, const packed_weight& w, float* y, const float* bias = nullptr,
          bool accumulate = false, std::ptrdiff_t ldy = 0);

// A row stride (in floats) of at least n for a y of n columns, padded by 16
// floats where n's own stride would be a multiple of 2 KiB (vocabularies of
// 32768, 49152 or 256000 entries; at 2 KiB, 6 of a slice's rows would share
// each L1 set): consecutive rows then start 64 bytes apart in the cache sets.
// Measured on the LM head of smollm2-135m (n 49152) at 16 and 32 rows: 2-7%
// faster (docs/benchmarks.md).
std::ptrdiff_t padded_row_stride(int n);

// y[m, f] = silu(x · gateᵀ) ⊙ (x · upᵀ), with w from pack_swiglu: the MLP's
// first half in one pass, the gate and up products never written out. Each
// product is gemm's in-order chain, and silu(g) = g / (1 + exp(-g)) is
// evaluated by the same sequence of IEEE operations on every path
// (swiglu_exact in gemm_internal.hpp), so the determinism contract above holds
// here too. w must come from pack_swiglu (and gemm's from pack): a debug build
// asserts it, a release build does nothing.
void gemm_swiglu(const float* x, int m, const packed_weight& w, float* y);

// Which instruction set the kernels dispatch to ("avx512", "avx2", "scalar"),
// taking a forced override into account.
const char* gemm_isa();

// Instruction-set paths, for tests and benchmarks.
enum class gemm_path : int { automatic = 0, avx512 = 1, avx2 = 2, scalar = 3 };

// Forces a path for all later gemm calls (process-wide; automatic = best the
// CPU supports). Returns false, and changes nothing, if the CPU lacks it.
bool set_gemm_isa_override(gemm_path path);

// Whether this CPU can run a path (automatic and scalar: always).
bool gemm_path_supported(gemm_path path);

}  // namespace kairos::kernels
