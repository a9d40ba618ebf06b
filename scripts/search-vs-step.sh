#!/usr/bin/env bash
# A DeepIoT search iteration against a plain training step (LeNet-5, batch 64), measured
# alternately in one run so that both see the same load: ROUNDS rounds of
# `deepiot bench-train` (mean step) then a 300-iteration search (ms per iteration).
#
# The iteration time excludes the search's evaluations on held-out data (the report
# gives them apart as `evaluation_seconds`).
#
#   scripts/search-vs-step.sh DEEPIOT_BIN LENET5_MODEL [THREADS] [ROUNDS]
#
# Needs full MNIST (DEEPIOT_DATA or the usual places). About 1 minute per round.
set -euo pipefail
bin=${1:?usage: search-vs-step.sh DEEPIOT_BIN LENET5_MODEL [THREADS] [ROUNDS]}
model=${2:?usage: search-vs-step.sh DEEPIOT_BIN LENET5_MODEL [THREADS] [ROUNDS]}
export RAYON_NUM_THREADS=${3:-1}
rounds=${4:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "threads $RAYON_NUM_THREADS"
for r in $(seq "$rounds"); do
  step=$("$bin" bench-train --only im2col --threads "$RAYON_NUM_THREADS" -n 40 --json 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["results"][0]["mean_ms"])')
  iter=$("$bin" compress "$model" --target-kept 0.05 --max-iterations 300 --eval-every 1000 \
    --finetune-epochs 0 -o "$tmp/c.safetensors" 2>/dev/null >/dev/null;
    python3 -c 'import json,sys; print(1000*json.load(open(sys.argv[1]))["seconds_per_iteration"])' "$tmp/c.report.json")
  python3 -c "import sys; s,i=float(sys.argv[1]),float(sys.argv[2]); print(f'round {sys.argv[3]}: training step {s:.1f} ms, search iteration {i:.1f} ms, ratio {i/s:.2f}')" "$step" "$iter" "$r"
done
