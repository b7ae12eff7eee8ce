#!/usr/bin/env bash
# One-shot GPU check of the CUDA backend, for a GPU machine that has CUDA
# (nvcc, cuBLAS), CMake and g++ but not CAF, Boost, yaml-cpp, CLI11, PCRE2,
# OpenBLAS or doctest, and no internet. Configures with -DKAIROS_GPU_CHECK=ON
# (gpu/ and the CUDA tests/bench only), builds, runs the CUDA tests and the
# bench, and writes under $OUT (default build-gpu/out):
#   results.md   markdown for docs/benchmarks.md (card, date, command, tests, bench table)
#   env.txt, configure.log, build.log, tests.log, bench.log
# Without a GPU it still configures and builds; tests and bench report "skipped".
#
#   bash tools/gpu_check.sh --prepare   # on the build host: copies the nlohmann
#                                       # json headers to build-gpu-deps/include
#   bash tools/gpu_check.sh [--no-bench] [bench args...]
# Budget: about 2 min build at -j16, 1 min tests, 1-2 min bench on an H100.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ "${1:-}" == "--prepare" ]]; then
  src=""
  for d in /usr/include /usr/local/include; do [[ -f $d/nlohmann/json.hpp ]] && src=$d && break; done
  [[ -n $src ]] || { echo "no nlohmann/json.hpp here to copy"; exit 1; }
  mkdir -p "$ROOT/build-gpu-deps/include"
  cp -r "$src/nlohmann" "$ROOT/build-gpu-deps/include/"
  echo "copied $src/nlohmann to build-gpu-deps/include (carry build-gpu-deps to the GPU machine)"
  exit 0
fi
RUN_BENCH=1
if [[ "${1:-}" == "--no-bench" ]]; then RUN_BENCH=0; shift; fi

BUILD=${KAIROS_GPU_BUILD:-$ROOT/build-gpu}
OUT=${OUT:-$BUILD/out}
mkdir -p "$OUT"
JOBS=${JOBS:-$(nproc)}
START=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - START )) s)"; }

NVCC=${CUDACXX:-$(command -v nvcc || true)}
[[ -z $NVCC && -x /usr/local/cuda/bin/nvcc ]] && NVCC=/usr/local/cuda/bin/nvcc
CARD=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
[[ -n $CARD ]] || CARD="no GPU"

step "environment"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "card: $CARD"
  echo "nvcc: $NVCC"; [[ -n $NVCC ]] && "$NVCC" --version | tail -2
  cmake --version | head -1
  g++ --version | head -1
  nproc
  nvidia-smi 2>/dev/null | head -15
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# nlohmann/json: system, build-gpu-deps (carried), or PyTorch's bundled copy.
EXTRA=()
if ! [[ -f /usr/include/nlohmann/json.hpp || -f /usr/local/include/nlohmann/json.hpp || -f $ROOT/build-gpu-deps/include/nlohmann/json.hpp ]]; then
  TI=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "include"))' 2>/dev/null || true)
  [[ -n $TI && -f $TI/nlohmann/json.hpp ]] && EXTRA=(-DKAIROS_EXTRA_INCLUDE="$TI") && echo "json from $TI"
fi
GEN=()
command -v ninja > /dev/null && GEN=(-G Ninja)
[[ -f $BUILD/CMakeCache.txt ]] && GEN=()  # keep the generator of an existing build

step "configure"
if ! cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DKAIROS_GPU_CHECK=ON \
     ${NVCC:+-DCMAKE_CUDA_COMPILER="$NVCC"} "${EXTRA[@]}" > "$OUT/configure.log" 2>&1; then
  tail -30 "$OUT/configure.log"; echo "configure FAILED"; exit 1
fi
step "build (-j$JOBS)"
if ! cmake --build "$BUILD" -j "$JOBS" > "$OUT/build.log" 2>&1; then
  grep -E "error|Error" "$OUT/build.log" | head -40; echo "build FAILED"; exit 1
fi
grep -i "warning" "$OUT/build.log" | head -20

step "tests"
ctest --test-dir "$BUILD" --output-on-failure --timeout 300 > "$OUT/tests.log" 2>&1
TEST_RC=$?
cat "$OUT/tests.log"
TEST_SUMMARY=$(grep -E "tests passed|tests failed" "$OUT/tests.log" | tail -1)
SKIPPED=$(grep -c "\*\*\*Skipped" "$OUT/tests.log" || true)

BENCH_RC=0
if [[ $RUN_BENCH == 1 ]]; then
  step "bench"
  timeout 300 "$BUILD/bin/kairos_cuda_bench" "$@" > "$OUT/bench.log" 2>&1
  BENCH_RC=$?
  cat "$OUT/bench.log"
fi

step "results"
{
  echo "### CUDA backend on $CARD ($(date -u +%Y-%m-%d))"
  echo
  echo "Command: \`bash tools/gpu_check.sh $*\` (configure -DKAIROS_GPU_CHECK=ON, Release, build -j$JOBS)."
  echo
  echo "Tests: ${TEST_SUMMARY:-no summary} (ctest exit $TEST_RC; $SKIPPED skipped)."
  grep -E "rel L2|total variation|plan:" "$OUT/tests.log" | sed 's/^/    /' | head -80
  echo
  if [[ $RUN_BENCH == 1 ]]; then
    if [[ $BENCH_RC == 77 ]]; then
      echo "Bench: skipped (no GPU)."
    elif [[ $BENCH_RC != 0 ]]; then
      echo "Bench: FAILED (exit $BENCH_RC), see bench.log."
    else
      grep -E "^device:|^copy bandwidth|weights on the device" "$OUT/bench.log"
      echo
      sed -n '/^| /p' "$OUT/bench.log"
      echo
      grep -E "^ceilings" "$OUT/bench.log"
    fi
  fi
} > "$OUT/results.md"
cat "$OUT/results.md"
step "done"
[[ $TEST_RC == 0 && ( $BENCH_RC == 0 || $BENCH_RC == 77 ) ]]
