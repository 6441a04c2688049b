#!/usr/bin/env bash
# ab.sh [N] - interleaved A/B timing of conduct against ninja (or any tools
# run.sh knows that check up-to-dateness) on one workload size N (default
# 10000).  See README.md in this folder.
#
# Why: on a shared 2-core VM the load drifts, so timing tool A's hyperfine batch
# and then tool B's gives ratios that move by up to 2x between runs.  Here every
# round builds with every tool once, back to back, in an order that alternates
# each round (round 1: A B, round 2: B A, ...), so each round pairs the tools
# under the same load and the per-round ratios can be compared directly.
#
# Env knobs (defaults in brackets):
#   TOOLS     tools to run; the first is the one compared with the others
#             ["conduct ninja"]; also make task snakemake doit turbo
#             (not just/just-par: they have no up-to-date checking)
#   SCENARIOS scenarios to time, in this order      ["noop leaf root cold"]
#             also available: touch restore (as in run.sh)
#   ROUNDS    rounds for every scenario             [noop/leaf 10, root/touch 5,
#                                                    cold/restore 3]
#   ROUNDS_<scenario>  rounds for one scenario, beats ROUNDS (e.g. ROUNDS_cold=3)
#   CONDUCT   conduct binary                   [<repo>/target/release/conduct if built, else `conduct`]
#   CONDUCT_ARGS  extra build arguments        ["-j 2"]
#   WORK      scratch dir                      [/tmp/bench-work]
#             template workload $WORK/wl/t<N> (shared with run.sh), one copy per
#             tool in $WORK/ab-wl/N<N>-<tool>
#   VENV, TURBO, JUST  where the peers are     [as in run.sh]
#   RES       results dir                      [$WORK/ab/<timestamp>-N<N>]
#
# Steps:
#   1. generate the workload template if needed (reused only if the same gen.py
#      made it), copy it once per tool, and do one untimed cold build per tool
#      (must exit 0);
#   2. for each scenario, ROUNDS rounds; in each round every tool runs its
#      prepare step (the same .prep-<scenario>.sh as run.sh: never timed, and
#      `.runlog` is truncated so its line count = tasks the tool ran) and then
#      its build command, timed alone with bash's $EPOCHREALTIME before and
#      after (a builtin, microsecond resolution, no process start inside the
#      timed window; `date +%s%N` costs a fork+exec, ~1-3 ms here, which would
#      be counted into every build).  After the last round of a scenario,
#      verify.py checks each tool's outputs;
#   3. $RES/ab.tsv gets one row per timed build (scenario round tool seconds
#      reruns exit expected), $RES/verify.tsv one row per scenario and tool,
#      and ab_report.py prints the Markdown report, saved as $RES/report.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
N=${1:-${N:-10000}}
WORK=${WORK:-/tmp/bench-work}
TOOLS=${TOOLS:-"conduct ninja"}
SCENARIOS=${SCENARIOS:-"noop leaf root cold"}
RES=${RES:-$WORK/ab/$(date +%Y%m%d-%H%M%S)-N$N}
VENV=${VENV:-$WORK/venv}
JUST=${JUST:-$WORK/cargo/bin/just}
TURBO=${TURBO:-$WORK/npm/node_modules/.bin/turbo}
if [ -z "${CONDUCT:-}" ]; then
  CONDUCT=$(cd "$HERE/.." && pwd)/target/release/conduct
  [ -x "$CONDUCT" ] || CONDUCT=conduct
fi
# builds run inside the workload dirs: make a path to conduct absolute
case $CONDUCT in */*) CONDUCT=$(cd "$(dirname "$CONDUCT")" && pwd)/$(basename "$CONDUCT") ;; esac
CONDUCT_ARGS=${CONDUCT_ARGS:-"-j 2"}
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 TURBO_NO_UPDATE_NOTIFIER=1
command -v python3 > /dev/null || { echo "ab.sh: python3 not found" >&2; exit 1; }
case $N in ''|*[!0-9]*) echo "ab.sh: N must be a number, got '$N'" >&2; exit 1 ;; esac

# build_cmd, tool_exe, installed, tool_version, state_files, has_cache (shared with run.sh)
. "$HERE/tools.sh"

default_rounds() {
  case $1 in noop|leaf) echo 10 ;; root|touch) echo 5 ;; *) echo 3 ;; esac
}
rounds() {        # ROUNDS_<scenario> > ROUNDS > default
  local v=ROUNDS_$1
  echo "${!v:-${ROUNDS:-$(default_rounds "$1")}}"
}
now_us() {        # NOW = wall clock in microseconds; no subshell, no process
  if [ -n "${EPOCHREALTIME:-}" ]; then
    local t=${EPOCHREALTIME//[.,]/}   # the decimal point follows the locale
    NOW=${t#"${t%%[1-9]*}"}
  else
    NOW=$(( $(date +%s%N) / 1000 ))
  fi
}

for tool in $TOOLS; do
  [ -n "$(build_cmd "$tool")" ] || { echo "ab.sh: unknown tool '$tool'" >&2; exit 1; }
  case $tool in just|just-par) echo "ab.sh: $tool has no up-to-date checking (cold only); use run.sh" >&2; exit 1 ;; esac
  installed "$tool" || { echo "ab.sh: $tool not installed (see install-peers.sh)" >&2; exit 1; }
done
for sc in $SCENARIOS; do
  case $sc in cold|noop|leaf|root|touch|restore) ;; *) echo "ab.sh: unknown scenario '$sc'" >&2; exit 1 ;; esac
  case $(rounds "$sc") in ''|0|*[!0-9]*) echo "ab.sh: rounds for $sc must be a positive number, got '$(rounds "$sc")'" >&2; exit 1 ;; esac
done
read -r -a TOOL_LIST <<< "$TOOLS"

mkdir -p "$RES" "$WORK/wl" "$WORK/ab-wl"
LOG=$RES/ab.log
log() { echo "[$(date +%T)] $*" | tee -a "$LOG" >&2; }
{
  echo "date	$(date -Is)"
  echo "host	$(uname -srm), $(nproc) cores"
  echo "n	$N"
  for tool in $TOOLS; do echo "$tool	$(tool_version "$tool" 2>&1 | sed -n 1p)"; done
} > "$RES/versions.tsv"
TSV=$RES/ab.tsv
printf 'scenario\tround\ttool\tseconds\treruns\texit\texpected\n' > "$TSV"
VER=$RES/verify.tsv
printf 'scenario\ttool\tverify\n' > "$VER"

# ---- 1. workload template (same reuse rule as run.sh), one copy per tool
GEN_SUM=$(sha1sum "$HERE/gen.py" | cut -c1-40)
TPL=$WORK/wl/t$N
if [ ! -f "$TPL/manifest.json" ] || [ "$(cat "$TPL/.gen-sha1" 2>/dev/null)" != "$GEN_SUM" ]; then
  rm -rf "$TPL"
  log "generating N=$N in $TPL"
  NPM_VERSION=$(npm --version 2>/dev/null || true) python3 "$HERE/gen.py" "$TPL" --n "$N" > /dev/null
  echo "$GEN_SUM" > "$TPL/.gen-sha1"
fi
man() { python3 -c "import json,sys; print(json.load(open('$TPL/manifest.json'))[sys.argv[1]])" "$1"; }
ROOT_SRC=$(man root_src); LEAF_SRC=$(man leaf_src); ROOT_CONE=$(man root_cone)

wl() { echo "$WORK/ab-wl/N$N-$1"; }
for tool in $TOOLS; do
  D=$(wl "$tool")
  rm -rf "$D"; cp -a "$TPL" "$D"
  # prepare scripts (run by sh, from inside $D): the same as run.sh's
  STATE=$(state_files "$tool")
  printf 'rm -rf out %s && mkdir out && : > .runlog\n' "$STATE" > "$D/.prep-cold.sh"
  printf ': > .runlog\n' > "$D/.prep-noop.sh"
  printf 'date +%%s%%N >> %s && : > .runlog\n' "$LEAF_SRC" > "$D/.prep-leaf.sh"
  printf 'date +%%s%%N >> %s && : > .runlog\n' "$ROOT_SRC" > "$D/.prep-root.sh"
  printf 'touch %s && : > .runlog\n' "$ROOT_SRC" > "$D/.prep-touch.sh"
  printf 'rm -rf out && mkdir out && : > .runlog\n' > "$D/.prep-restore.sh"
done

# run_build TOOL SCENARIO: prepare (untimed), then time the build command alone.
# Sets EL (seconds), RERUNS, RC; the build's output goes to $D/.out-<scenario>.
run_build() {
  local tool=$1 sc=$2 D t0 t1
  D=$(wl "$tool")
  cd "$D"
  sh ".prep-$sc.sh"
  # word splitting of the build command is wanted (as in run.sh)
  # shellcheck disable=SC2046
  set -- $(build_cmd "$tool")
  now_us; t0=$NOW
  if "$@" > ".out-$sc" 2>&1; then RC=0; else RC=$?; fi
  now_us; t1=$NOW
  cd "$HERE"
  EL=$(printf '%d.%06d' $(( (t1 - t0) / 1000000 )) $(( (t1 - t0) % 1000000 )))
  RERUNS=$(wc -l < "$D/.runlog")
  if [ "$RC" != 0 ]; then
    log "$tool $sc: exit $RC; last lines of $D/.out-$sc:"
    tail -5 "$D/.out-$sc" | sed 's/^/    /' | tee -a "$LOG" >&2
  fi
}

log "N=$N tools: $TOOLS; scenarios: $SCENARIOS; results in $RES"
for tool in $TOOLS; do
  run_build "$tool" cold
  log "$tool: setup cold build ${EL}s, $RERUNS tasks run, exit $RC"
  [ "$RC" = 0 ] || { echo "ab.sh: the setup cold build of $tool failed (exit $RC)" >&2; exit 1; }
done

# ---- 2. interleaved rounds
for sc in $SCENARIOS; do
  case $sc in
    cold) exp=$N ;; noop) exp=0 ;; leaf) exp=1 ;; root) exp=$ROOT_CONE ;; touch) exp=0 ;;
    restore) exp=$N ;;
  esac
  R=$(rounds "$sc")
  for ((round = 1; round <= R; round++)); do
    order=("${TOOL_LIST[@]}")
    if (( round % 2 == 0 )); then      # even rounds: reversed order
      order=()
      for ((i = ${#TOOL_LIST[@]} - 1; i >= 0; i--)); do order+=("${TOOL_LIST[i]}"); done
    fi
    line=""
    for tool in "${order[@]}"; do
      e=$exp; [ "$sc" = restore ] && has_cache "$tool" && e=0
      run_build "$tool" "$sc"
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$round" "$tool" "$EL" "$RERUNS" "$RC" "$e" >> "$TSV"
      line+=" $tool ${EL}s ($RERUNS)$( [ "$RC" = 0 ] || echo " exit $RC")"
    done
    log "$sc round $round/$R:$line"
  done
  for tool in $TOOLS; do
    v=$(python3 "$HERE/verify.py" "$(wl "$tool")" > /dev/null 2>&1 && echo ok || echo FAIL)
    printf '%s\t%s\t%s\n' "$sc" "$tool" "$v" >> "$VER"
    [ "$v" = ok ] || log "$tool $sc: verify.py FAILED ($(python3 "$HERE/verify.py" "$(wl "$tool")" 2>&1 | tail -1))"
  done
done

# ---- 3. report
echo
python3 "$HERE/ab_report.py" "$RES" | tee "$RES/report.md"
log "done; rows in $TSV, report in $RES/report.md"
