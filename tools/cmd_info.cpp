// `kairos info`: version, commit, compiled-in backends and library versions.
#include <cblas.h>
#include <omp.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "build_info.hpp"
#include "gpu/kernels/gemm.hpp"
#include "tools/subcommand.hpp"

#ifdef KAIROS_HAVE_CUDA
#include "gpu/cuda/cuda_info.hpp"
#endif

namespace {

int run_info(int, char**) {
  std::printf("kairos %s (commit %s, %s build)\n", kairos::build::version, kairos::build::git_commit,
              kairos::build::build_type);
  std::printf("compiler:  %s\n", kairos::build::cxx_compiler);
#ifdef KAIROS_HAVE_CUDA
  std::printf("backends:  cpu, cuda, sim\n");
#else
  std::printf("backends:  cpu, sim (cuda not compiled: nvcc was not found)\n");
#endif
  std::printf("cpu gemm:  %s, %d OpenMP threads\n", kairos::kernels::gemm_isa(), omp_get_max_threads());
  std::printf("libraries:\n");
  std::printf("  OpenBLAS        %s\n", openblas_get_config());
  std::printf("  nlohmann_json   %d.%d.%d\n", NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR,
              NLOHMANN_JSON_VERSION_PATCH);
  std::printf("  OpenMP          %d\n", _OPENMP);
#ifdef KAIROS_HAVE_CUDA
  std::printf("  CUDA compiler   %s\n", kairos::build::cuda_compiler);
  std::printf("  %s\n", kairos::cuda::runtime_summary().c_str());
#endif
  return 0;
}

}  // namespace

KAIROS_SUBCOMMAND("info", "print version, commit, backends and library versions", run_info);
