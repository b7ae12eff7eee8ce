#pragma once
// Pinning the OpenMP team, for benchmarks and dedicated hosts.

namespace kairos::kernels {

// Pins the calling thread's OpenMP team of `threads` to distinct CPUs of the
// process's affinity mask (like OMP_PROC_BIND=true). On a shared machine,
// unpinned threads can land on one CPU, where libgomp's spinning barrier
// costs a scheduler time slice per parallel region. Returns false if the
// affinity could not be set.
bool pin_openmp_threads(int threads);

}  // namespace kairos::kernels
