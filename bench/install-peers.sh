#!/usr/bin/env bash
# install-peers.sh - install the tools run.sh compares conduct with (Debian 12, as
# root).  Everything but the apt packages goes under $WORK, where run.sh looks
# for it (same WORK for both).  INSTALL_JUST=1 also builds just (optional: it
# has no up-to-date checks, so it only gets a cold build).
set -euo pipefail
WORK=${WORK:-/tmp/bench-work}
mkdir -p "$WORK"
apt-get update -qq
# time: GNU /usr/bin/time for the counted runs; python3-venv: for the venv below
PKGS="make ninja-build hyperfine b3sum time python3-venv"
command -v npm > /dev/null || PKGS="$PKGS nodejs npm"   # turbo runs npm scripts
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PKGS
# go-task is not in Debian 12; PyPI `go-task-bin` ships the official static binary
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q snakemake doit go-task-bin
# turbo: the npm package ships a prebuilt binary via the optional dep turbo-linux-64
mkdir -p "$WORK/npm" && cd "$WORK/npm" && { [ -f package.json ] || npm init -y > /dev/null; } && npm install turbo
# just: not packaged in Debian 12 -> crates.io
if [ "${INSTALL_JUST:-0}" = 1 ]; then
  cargo install just --root "$WORK/cargo"
fi
