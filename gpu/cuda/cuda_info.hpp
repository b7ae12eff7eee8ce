#pragma once
// What the CUDA side of the build sees: runtime, cuBLAS, NCCL, devices.
#include <string>

namespace kairos::cuda {

// Number of visible CUDA devices; 0 when there is no GPU or no driver.
int device_count();
// One line: runtime, driver, cuBLAS and NCCL versions and the device count.
std::string runtime_summary();
// Runs a small kernel and a cuBLAS SGEMM on device 0 and checks them against
// the host. Returns "" on success, else what went wrong.
std::string smoke_test();

}  // namespace kairos::cuda
