// CUDA smoke test: exits 77 (CTest: skipped) when there is no GPU.
#include <cstdio>

#include "gpu/cuda/cuda_info.hpp"

int main() {
  std::printf("%s\n", kairos::cuda::runtime_summary().c_str());
  if (kairos::cuda::device_count() == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  std::string err = kairos::cuda::smoke_test();
  if (!err.empty()) {
    std::printf("FAILED: %s\n", err.c_str());
    return 1;
  }
  std::printf("cuda smoke: ok\n");
  return 0;
}
