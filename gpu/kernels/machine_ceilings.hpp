#pragma once
// The machine's ceilings, measured on the spot, so benchmarks can print their
// numbers beside what this host can do right now (its state changes over time:
// measure in the same run as what you compare).
namespace kairos::kernels {

// OpenBLAS cblas_sgemm on 2048^3 (row-major, B transposed like a Linear),
// best of 3 to 10 runs (~2 s), in GFLOP/s, with `threads` BLAS threads (restored after).
double measure_sgemm_gflops(int threads);

// STREAM triad a[i] = b[i] + s*c[i] over three 64 MiB arrays (far larger than
// L3), `threads` OpenMP threads, best of 7 passes (per segment of the arrays),
// in GB/s counted as STREAM does: 3 arrays x 4 bytes per element (read b, c;
// write a). Takes about a second.
double measure_triad_gbps(int threads);

}  // namespace kairos::kernels
