#!/usr/bin/env bash
# Prints the sha256 of the model files a fixed set of short runs writes, so a refactor can
# show that it changed no output: run it with the deepiot binary from before and after,
# and diff the two listings (same machine, same thread count).
#
#   scripts/output-hashes.sh DEEPIOT_BIN OUT_DIR > hashes.txt
#
# Needs the MNIST and HAR data sets (DEEPIOT_DATA, or the usual places) and a board
# runtime (DEEPIOT_RUNTIME, or one the binary can build). About 6 minutes on 2 cores.
set -euo pipefail
bin=${1:?usage: output-hashes.sh DEEPIOT_BIN OUT_DIR}
out=${2:?usage: output-hashes.sh DEEPIOT_BIN OUT_DIR}
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-2}
bin=$(realpath "$bin")
mkdir -p "$out"
# Relative paths inside OUT_DIR: a model records its teacher's path in its provenance.
cd "$out"
out=.
run() { "$bin" "$@" >log.txt 2>&1 || { cat log.txt >&2; exit 1; }; }

run quickstart --out "$out/q"
short=(--max-train 3000 --seed 7)
run train --task mnist-lenet5 --epochs 2 "${short[@]}" -o "$out/t-lenet.safetensors"
run train --task mnist-lenet5 --epochs 2 "${short[@]}" --teacher "$out/t-lenet.safetensors" \
    --mixup 0.4 --average-from 1 --augment shift -o "$out/t-lenet-distil.safetensors"
run train --task har-deepsense --epochs 1 "${short[@]}" -o "$out/t-har.safetensors"
for method in deepiot magnitude l1-structured; do
    run compress "$out/t-lenet.safetensors" --method "$method" --target-kept 0.1 \
        --max-iterations 120 --eval-every 40 --period 30 --prune-epochs 0.5 \
        --finetune-epochs 1 "${short[@]}" -o "$out/c-$method.safetensors"
done
run compress "$out/t-har.safetensors" --target-kept 0.2 --max-iterations 60 --eval-every 30 \
    --period 20 --finetune-epochs 1 "${short[@]}" -o "$out/c-har.safetensors"
find . -name '*.safetensors' | sort | xargs sha256sum
