#!/usr/bin/env bash
# noop.sh [ROUNDS] - conduct against ninja on a 33-file C project (gen.py): the
# no-op build, and a one-source edit ("leaf"), in interleaved rounds.
#
# Why: bench/ab.sh times thousands of trivial tasks; this is the build a C
# programmer runs a hundred times a day, where what counts is how fast "nothing
# to do" comes back, header dependencies included (ninja `deps = gcc`, conduct
# `depfile`).  Rounds are interleaved as in ab.sh (every round builds once with
# each tool, the order alternating: ninja conduct, conduct ninja, ...), so both
# tools of a round see the same load, and the per-round ratio is the figure to
# trust.  Timing as in ab.sh: bash's $EPOCHREALTIME just before and after the
# build command, no process start inside the timed window.
#
# Steps: generate the project twice under $WORK (one copy per tool), one cold
# build with each (must exit 0, and both programs must print the same line),
# then ROUNDS rounds per scenario:
#   noop  nothing changed
#   leaf  a comment appended to src/$LEAF.c (different text every round).
#         ninja recompiles it and relinks; conduct recompiles it and, the
#         object being byte-identical, leaves the link fresh
# and print each tool's median, the median of per-round ratios conduct/ninja,
# and the line counts of both build files.
#
# Env knobs [defaults]:
#   ROUNDS      rounds per scenario                       [30]
#   SCENARIOS   scenarios, in this order                  ["noop leaf"]
#   JOBS        -j for both tools                         [nproc]
#   LEAF        the source edited by `leaf`               [vm_dispatch]
#   CONDUCT     conduct binary   [<repo>/target/release/conduct if built, else `conduct`]
#   NINJA       ninja binary                              [ninja]
#   NO_DEPFILE  1: drop the `depfile` line from conduct's tasks.toml, for a
#               conduct that does not know the key yet (headers then go
#               unseen by conduct, and its no-op stats fewer files)  [0]
#   WORK        scratch dir; the copies are $WORK/c33/{ninja,conduct}  [/tmp/bench-work]
# Rows (scenario round tool seconds ran exit) go to $WORK/c33/times.tsv.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${1:-${ROUNDS:-30}}
SCENARIOS=${SCENARIOS:-"noop leaf"}
JOBS=${JOBS:-$(nproc)}
LEAF=${LEAF:-vm_dispatch}
NINJA=${NINJA:-ninja}
NO_DEPFILE=${NO_DEPFILE:-0}
WORK=${WORK:-/tmp/bench-work}/c33
if [ -z "${CONDUCT:-}" ]; then
  CONDUCT=$(cd "$HERE/../.." && pwd)/target/release/conduct
  [ -x "$CONDUCT" ] || CONDUCT=conduct
fi
case $CONDUCT in */*) CONDUCT=$(cd "$(dirname "$CONDUCT")" && pwd)/$(basename "$CONDUCT") ;; esac
case $ROUNDS in ''|0|*[!0-9]*) echo "noop.sh: ROUNDS must be a positive number, got '$ROUNDS'" >&2; exit 1 ;; esac
for sc in $SCENARIOS; do
  case $sc in noop|leaf) ;; *) echo "noop.sh: unknown scenario '$sc' (noop, leaf)" >&2; exit 1 ;; esac
done
command -v "$NINJA" > /dev/null || { echo "noop.sh: $NINJA not found" >&2; exit 1; }
command -v "$CONDUCT" > /dev/null || { echo "noop.sh: $CONDUCT not found" >&2; exit 1; }

now_us() {        # NOW = wall clock in microseconds (as in ab.sh)
  local t=${EPOCHREALTIME//[.,]/}
  NOW=${t#"${t%%[1-9]*}"}
}
build_cmd() {     # the build command of one tool, word-split by the caller
  case $1 in
    ninja) echo "$NINJA -j $JOBS" ;;
    conduct) echo "$CONDUCT build -j $JOBS" ;;
  esac
}
ran() {           # RAN = what the last build of $1 ran, from its output file $2
  case $1 in
    ninja) RAN=$(grep -c '^\[[0-9]*/[0-9]*\]' "$2" || true) ;;
    conduct) RAN=$(sed -n 's/^\([0-9]*\) ran, .*/\1/p' "$2" | tail -1) ;;
  esac
}

# run_build TOOL SCENARIO ROUND: prepare (untimed), time the build alone; sets EL RAN RC.
run_build() {
  local tool=$1 sc=$2 round=$3 t0 t1
  cd "$WORK/$tool"
  [ "$sc" = leaf ] && printf '/* edit %s */\n' "$round" >> "src/$LEAF.c"
  # shellcheck disable=SC2046   # word splitting of the build command is wanted
  set -- $(build_cmd "$tool")
  now_us; t0=$NOW
  if "$@" > ".out-$sc" 2>&1; then RC=0; else RC=$?; fi
  now_us; t1=$NOW
  EL=$(printf '%d.%06d' $(( (t1 - t0) / 1000000 )) $(( (t1 - t0) % 1000000 )))
  ran "$tool" ".out-$sc"
  if [ "$RC" != 0 ]; then
    echo "noop.sh: $tool $sc exited $RC; the end of $WORK/$tool/.out-$sc:" >&2
    tail -5 ".out-$sc" | sed 's/^/    /' >&2
  fi
  cd "$HERE"
}

# ---- 1. two copies of the project, one cold build each
rm -rf "$WORK/ninja" "$WORK/conduct"
mkdir -p "$WORK"
for tool in ninja conduct; do python3 "$HERE/gen.py" "$WORK/$tool" > /dev/null; done
[ "$NO_DEPFILE" = 1 ] && sed -i '/^depfile/d' "$WORK/conduct/tasks.toml"
for tool in ninja conduct; do
  run_build "$tool" cold 0
  [ "$RC" = 0 ] || { echo "noop.sh: the cold build of $tool failed" >&2; exit 1; }
  echo "$tool: cold build ${EL}s, $RAN ran: $("$WORK/$tool/c33")"
done
[ "$("$WORK/ninja/c33")" = "$("$WORK/conduct/c33")" ] || { echo "noop.sh: the two programs differ" >&2; exit 1; }

# ---- 2. interleaved rounds
TSV=$WORK/times.tsv
printf 'scenario\tround\ttool\tseconds\tran\texit\n' > "$TSV"
for sc in $SCENARIOS; do
  for ((round = 1; round <= ROUNDS; round++)); do
    if (( round % 2 )); then order="ninja conduct"; else order="conduct ninja"; fi
    for tool in $order; do
      run_build "$tool" "$sc" "$round"
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$round" "$tool" "$EL" "$RAN" "$RC" >> "$TSV"
    done
  done
done

# ---- 3. medians, the per-round ratio, line counts
echo
echo "$ROUNDS rounds, -j $JOBS, $(uname -srm), $(nproc) cores; $("$NINJA" --version | sed 's/^/ninja /'), $("$CONDUCT" --version)$( [ "$NO_DEPFILE" = 1 ] && echo ', conduct WITHOUT depfile')"
awk -F'\t' '
  function median(a, n,   i, j, t) {          # sorts a[1..n] in place
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  NR == 1 { next }
  { t[$1, $2, $3] = $4; ran[$1, $3] = ran[$1, $3] " " $5; if ($6 != 0) bad[$1, $3]++
    if (!($1 in seen)) { seen[$1] = 1; order[++ns] = $1 }
    if ($2 > rounds[$1]) rounds[$1] = $2 }
  END {
    printf "%-6s %11s %13s %15s %14s  %s\n", "", "ninja (ms)", "conduct (ms)", "conduct/ninja", "(min-max)", "tasks run per round (ninja; conduct)"
    for (s = 1; s <= ns; s++) {
      sc = order[s]; n = rounds[sc]
      for (r = 1; r <= n; r++) { a[r] = t[sc, r, "ninja"]; b[r] = t[sc, r, "conduct"]; q[r] = b[r] / a[r] }
      mq = median(q, n); mn = median(a, n); mc = median(b, n)   # median() sorted q
      printf "%-6s %11.1f %13.1f %14.2fx %14s  %s;%s%s\n", sc, 1000 * mn, 1000 * mc, mq,
        sprintf("(%.2f-%.2f)", q[1], q[n]),
        distinct(ran[sc, "ninja"]), distinct(ran[sc, "conduct"]),
        (bad[sc, "ninja"] + bad[sc, "conduct"]) ? "  FAILED BUILDS" : ""
    }
  }
  function distinct(s,   w, n, i, out, had) {   # " 0 0 0" -> " 0"
    n = split(s, w, " "); out = ""
    for (i = 1; i <= n; i++) if (!(w[i] in had)) { had[w[i]] = 1; out = out " " w[i] }
    return out
  }' "$TSV"
echo
echo "build files (all lines / non-blank non-comment lines):"
for f in build.ninja tasks.toml; do
  printf '  %-12s %3d / %3d\n' "$f" "$(wc -l < "$WORK/ninja/$f")" "$(grep -cv '^[[:space:]]*\(#\|$\)' "$WORK/ninja/$f")"
done
echo "rows: $TSV"
