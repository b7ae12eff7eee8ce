#!/usr/bin/env bash
# The main job: build, then run Kairos on the embedded default setup.
# Until the server lands this is the generation demo: a random-weight tiny
# model (made once with `kairos mkmodel`) generating from a prompt on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
model=models/tiny
if [ ! -f "$model/model.safetensors" ]; then
  build/bin/kairos mkmodel --shape tiny --dtype f32 --seed 0 --out "$model"
fi
exec build/bin/kairos generate --model "$model" --prompt "${KAIROS_PROMPT:-The quick brown fox}" --max-tokens 48 --temperature 0.8 --seed 1 "$@"
