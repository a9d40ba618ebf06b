#!/usr/bin/env bash
# The peer benchmark: deepiot's runtime against tract on every reference model, original
# and compressed, and deepiot's runtime on each model's int8 file, interleaved in one i686
# process (static musl, target-cpu=silvermont,
# the board's build), and onnxruntime's figure on the same ONNX files as a reference line
# when its Python venv exists (x86-64, not the board's instruction set).
#
#   scripts/peer-bench.sh [OUT_DIR] [-- extra deepiot-peer-bench options]
#
# The first run builds tract-onnx for i686 (several minutes on 2 cores); the models are
# written by `cargo run --example reference_models` (random weights at the exact shapes:
# latency does not depend on the values).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/peer-models}
shift || true
[[ "${1:-}" == "--" ]] && shift
triple=i686-unknown-linux-musl
cpu=$(sed -n 's/^target_cpu *= *"\(.*\)"/\1/p' targets/edison.toml)
rustup target add "$triple" >/dev/null 2>&1 || true
cargo run --quiet --release -p deepiot --example reference_models -- "$out" >&2
var=CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_RUSTFLAGS
env -u RUSTFLAGS "$var=-C target-cpu=$cpu" \
    cargo build --quiet --release --manifest-path bench/peer/Cargo.toml --target "$triple"
bin=bench/peer/target/$triple/release/deepiot-peer-bench
cases=()
for m in lenet5 userid har bilstm vgg; do
    for v in "" .small; do
        cases+=("$m$v=$out/$m$v.safetensors,$out/$m$v.onnx,$out/$m$v.int8.safetensors")
    done
done
echo "deepiot-run's runtime against tract $(grep -A1 'name = "tract-onnx"' bench/peer/Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p'), $triple, target-cpu=$cpu"
"$bin" "$@" "${cases[@]}"
venv=${DEEPIOT_ONNX_VENV:-$HOME/.cache/deepiot/onnx-venv}
if [[ -x "$venv/bin/python" ]]; then
    echo
    echo "reference: onnxruntime $("$venv/bin/python" -c 'import onnxruntime as o; print(o.__version__)'), x86-64, 1 thread"
    "$venv/bin/python" scripts/ort-bench.py "$@" "${cases[@]}"
fi
