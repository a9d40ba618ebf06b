#!/usr/bin/env bash
# int8 against f32 on trained models: quantizes every MODEL.safetensors given (skipping
# files that are already int8), scores both files on the test split in the board runtime's
# own kernels (`deepiot eval --engine runtime`, the arithmetic the board does), and prints
# one Markdown row per model: test accuracy of each, the difference in points, and the
# file sizes.
#
#   scripts/int8-accuracy.sh [--data DIR] MODEL.safetensors...
#
# The int8 files are written beside the models (MODEL.int8.safetensors). The data set is
# the one each model's provenance names ($DEEPIOT_DATA or ../shared/data, as for `eval`).
set -euo pipefail
cd "$(dirname "$0")/.."
data=()
if [[ "${1:-}" == "--data" ]]; then
    data=(--data "$2")
    shift 2
fi
cargo build --quiet --release -p deepiot
bin=target/release/deepiot
acc() { "$bin" eval "$1" --engine runtime --json "${data[@]}" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["test_accuracy"], d["test_examples"])'; }
echo "| model | test examples | f32 accuracy | int8 accuracy | int8 - f32 (points) | f32 bytes | int8 bytes | int8 / f32 size |"
echo "|---|---|---|---|---|---|---|---|"
for m in "$@"; do
    q="${m%.safetensors}.int8.safetensors"
    "$bin" quantize "$m" -o "$q" >/dev/null
    read -r a n < <(acc "$m")
    read -r b _ < <(acc "$q")
    sa=$(stat -c %s "$m")
    sb=$(stat -c %s "$q")
    python3 -c "
a, b, sa, sb = $a, $b, $sa, $sb
print(f'| $(basename "$m" .safetensors) | $n | {100*a:.2f} % | {100*b:.2f} % | {100*(b-a):+.2f} | {sa:,} | {sb:,} | {sb/sa:.3f} |')"
done
