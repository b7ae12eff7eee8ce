#!/usr/bin/env bash
# Build, then run the whole test suite: the host-app example built against the
# installed package, then CTest. GPU tests report "skipped" where there is no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
bash scripts/test_install.sh build
cd build
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" "$@"
