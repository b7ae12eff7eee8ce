#!/usr/bin/env bash
# The main job: build, then serve Kairos on the embedded default config
# (configs/default.yaml: a tiny random-weight model on the CPU backend, one
# prefill and one decode device, the Kairos policies) at 127.0.0.1:8080.
# Extra arguments go to `kairos serve` (e.g. --port 9000). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
exec build/bin/kairos serve --config configs/default.yaml "$@"
