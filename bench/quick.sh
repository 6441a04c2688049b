#!/usr/bin/env bash
# quick.sh [N] - a fast before/after check during development: conduct against
# ninja at one size (default 10000), scenarios noop, leaf, root, touch and
# restore (the cold build runs once, to set up, and is not repeated), then
# report.py's tables.  Compare the ratios, which hold better than raw times
# from run to run.  Any run.sh knob can be set (CONDUCT, BUDGET, RMAX, WORK, ...);
# results go to a new directory under $WORK/quick/ unless RES is set.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
N=${1:-${N:-10000}}
WORK=${WORK:-/tmp/bench-work}
RES=${RES:-$WORK/quick/$(date +%Y%m%d-%H%M%S)-N$N}
export WORK RES
SIZES=$N TOOLS="conduct ninja" SCENARIOS="noop leaf root touch restore" \
  BUDGET=${BUDGET:-20} "$HERE/run.sh"
echo
python3 "$HERE/report.py" "$RES"
