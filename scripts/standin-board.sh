#!/usr/bin/env bash
# A stand-in board on this machine: a local OpenSSH sshd on 127.0.0.1 with its own keys,
# for trying `deepiot deploy / bench / flash / board status` without an Edison.
#
#   scripts/standin-board.sh start [DIR] [PORT]   start it (default DIR: /tmp/deepiot-standin, PORT: 2222)
#   scripts/standin-board.sh stop  [DIR]          stop it (by its PID) and remove DIR
#   scripts/standin-board.sh status [DIR]
#
# Set STANDIN_ARCH=armv7l to make `uname -m` on the board lie (to see the wrong-architecture
# error). Only loopback is used. Needs openssh-server (`apt-get install openssh-server`).
set -euo pipefail

cmd=${1:-}
dir=${2:-${TMPDIR:-/tmp}/deepiot-standin}
port=${3:-2222}
sshd=/usr/sbin/sshd

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

case "$cmd" in
start)
  [ -x "$sshd" ] || { echo "error: $sshd is missing: apt-get install openssh-server" >&2; exit 1; }
  if [ -f "$dir/sshd.pid" ] && kill -0 "$(cat "$dir/sshd.pid")" 2>/dev/null; then
    echo "already running (pid $(cat "$dir/sshd.pid")); stop it with: $0 stop $dir" >&2; exit 1
  fi
  mkdir -p "$dir/board" /run/sshd
  dir=$(cd "$dir" && pwd)
  [ -f "$dir/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C deepiot-standin-host -f "$dir/host_key"
  [ -f "$dir/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C deepiot-standin-client -f "$dir/client_key"
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  # Sessions get their own HOME: this machine's ~/.bashrc would slow every command down,
  # which a busybox board does not do.
  mkdir -p "$dir/home"
  setenv="SetEnv HOME=$dir/home"
  if [ -n "${STANDIN_ARCH:-}" ]; then
    mkdir -p "$dir/shim"
    printf '#!/bin/sh\nif [ "$1" = -m ]; then echo %s; else exec /bin/uname "$@"; fi\n' "$STANDIN_ARCH" > "$dir/shim/uname"
    chmod 755 "$dir/shim/uname"
    setenv="$setenv PATH=$dir/shim:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  fi
  cat > "$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
$setenv
EOF
  "$sshd" -f "$dir/sshd_config" -E "$dir/sshd.log"
  # Wait (at most ~10 s) until it answers, and record its host key.
  for _ in $(seq 1 100); do
    if ssh-keyscan -T 2 -t ed25519 -p "$port" 127.0.0.1 > "$dir/known_hosts" 2>/dev/null && [ -s "$dir/known_hosts" ]; then
      break
    fi
    sleep 0.1
  done
  if [ ! -s "$dir/known_hosts" ]; then
    echo "error: sshd did not answer on 127.0.0.1:$port; see $dir/sshd.log" >&2
    [ -f "$dir/sshd.pid" ] && kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true
    exit 1
  fi
  cat > "$dir/ssh_config" <<EOF
Host standin
  HostName 127.0.0.1
  Port $port
  User root

Host *
  IdentityFile $dir/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  StrictHostKeyChecking yes
  LogLevel ERROR
EOF
  cat <<EOF
stand-in board running: sshd pid $(cat "$dir/sshd.pid"), 127.0.0.1:$port, files in $dir

log in:
  ssh -F $dir/ssh_config standin

point deepiot at it (install directory $dir/board/deepiot):
  export DEEPIOT_BOARD=root@127.0.0.1:$port
  export DEEPIOT_SSH_CONFIG=$dir/ssh_config
  export DEEPIOT_BOARD_DIR=$dir/board/deepiot
  deepiot deploy MODEL.safetensors
  deepiot board status

stop it:
  $0 stop $dir
EOF
  ;;
stop)
  if [ -f "$dir/sshd.pid" ]; then
    pid=$(cat "$dir/sshd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "stopped sshd (pid $pid)"
  else
    echo "no stand-in board in $dir"
  fi
  case "$dir" in
    /|"") ;;
    *) [ -f "$dir/sshd_config" ] && rm -rf "$dir" ;;
  esac
  ;;
status)
  if [ -f "$dir/sshd.pid" ] && kill -0 "$(cat "$dir/sshd.pid")" 2>/dev/null; then
    echo "running: pid $(cat "$dir/sshd.pid"); ssh -F $dir/ssh_config standin"
  else
    echo "not running"; exit 1
  fi
  ;;
*) usage ;;
esac
