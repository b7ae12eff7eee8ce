#include "gpu/kernels/thread_affinity.hpp"

#include <omp.h>
#include <sched.h>

#include <vector>

namespace kairos::kernels {

bool pin_openmp_threads(int threads) {
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof mask, &mask) != 0) return false;
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &mask)) cpus.push_back(c);
  if (cpus.empty()) return false;
  bool ok = true;
#pragma omp parallel num_threads(threads) reduction(&& : ok)
  {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus[static_cast<std::size_t>(omp_get_thread_num()) % cpus.size()], &one);
    ok = sched_setaffinity(0, sizeof one, &one) == 0;
  }
  return ok;
}

}  // namespace kairos::kernels
