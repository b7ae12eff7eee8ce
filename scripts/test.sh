#!/usr/bin/env bash
# Build, then run the whole test suite (CTest). GPU tests report "skipped"
# where there is no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" "$@"
