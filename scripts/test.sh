#!/usr/bin/env bash
# The README's test command. Sets up what a fresh machine lacks, then runs every test:
#   - the board's Rust target (the tests build and run the real static i686 runtime);
#   - qemu-user (qemu-i386 checks the binary's instruction set), binutils (objdump checks
#     it has no AVX) and openssh-server (a local sshd is the stand-in board), with apt-get,
#     through sudo when not root;
#   - onnxruntime and numpy, for the engine check of `deepiot export`: a venv at
#     ${XDG_CACHE_HOME:-~/.cache}/deepiot/onnx-venv (pip, about 20 s the first time), whose
#     python is exported as DEEPIOT_ONNX_PYTHON for the tests.
# Tests whose tool or data is still missing say so and skip; CI sets DEEPIOT_REQUIRE_TOOLS=1
# and DEEPIOT_REQUIRE_DATA=1 so that nothing it needs can be skipped.
# Extra arguments go to `cargo test` (e.g. scripts/test.sh -p deepiot-runtime).
set -euo pipefail
cd "$(dirname "$0")/.."

triple=i686-unknown-linux-musl
say() { echo "test.sh: $*" >&2; }

if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx "$triple"; then
    say "adding the board target: rustup target add $triple"
    rustup target add "$triple"
  fi
else
  say "rustup is not on the PATH; the $triple target must already be installed"
fi

missing=()
command -v qemu-i386 >/dev/null 2>&1 || missing+=(qemu-user)
command -v objdump >/dev/null 2>&1 || missing+=(binutils)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
if command -v python3 >/dev/null 2>&1 && [ -z "${DEEPIOT_ONNX_PYTHON:-}" ]; then
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      say "not root and no sudo: cannot install ${missing[*]}; the tests that need them will skip"
      missing=()
    fi
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
      say "installing ${missing[*]} with apt-get"
      if ! { "${sudo[@]}" apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
        say "apt-get could not install ${missing[*]}; the tests that need them will skip"
      fi
    else
      say "no apt-get: install ${missing[*]} by hand; the tests that need them will skip"
    fi
  fi
fi

# The ONNX engine check runs onnxruntime from Python (scripts/onnx-run.py): a wheel installs
# in seconds, where a Rust engine (tract-onnx, candle-onnx) would be compiled in every run.
if [ -z "${DEEPIOT_ONNX_PYTHON:-}" ]; then
  venv="${XDG_CACHE_HOME:-$HOME/.cache}/deepiot/onnx-venv"
  if ! "$venv/bin/python" -c 'import numpy, onnxruntime' >/dev/null 2>&1; then
    say "installing onnxruntime and numpy into $venv"
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q onnxruntime numpy; }; then
      say "could not install onnxruntime (python3-venv and network needed); the ONNX engine tests will skip"
    fi
  fi
  if "$venv/bin/python" -c 'import numpy, onnxruntime' >/dev/null 2>&1; then
    export DEEPIOT_ONNX_PYTHON="$venv/bin/python"
  fi
fi

cargo test --workspace "$@"
