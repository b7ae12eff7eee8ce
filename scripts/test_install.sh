#!/usr/bin/env bash
# Installs the runtime package from a build tree and builds and runs the
# example host app (examples/embed) against the installed package only.
#   scripts/test_install.sh [BUILD_DIR]   (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --build "$build" --target kairos_actors -j2
cmake --install "$build" --prefix "$work/prefix" --component runtime > /dev/null
cmake -S "$root/examples/embed" -B "$work/embed" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" > /dev/null
cmake --build "$work/embed" -j2
OMP_WAIT_POLICY=passive "$work/embed/kairos_embed" | tail -1
echo "test_install: ok"
