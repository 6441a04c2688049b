#!/usr/bin/env bash
# slurm.sh - what a task costs on the Slurm executor (issue 17), on a single-node
# Slurm cluster started here on 127.0.0.1 (munged, slurmctld, slurmd; the config of
# tests/slurm_cluster.rs: batch_sched_delay=0, one node of 16 CPUs whatever the
# machine), against the local executor:
#
#   sbatch alone    20 `sbatch --wrap=true` calls, each timed: the client's share
#   A: 50 trivial   50 independent `echo N > out/N.txt` tasks, -j 50 on Slurm, then
#                   each attempt in the run record split into its stages:
#                     dispatch->submitted  attempt start_ms -> slurm.submitted_ms
#                                          (prep, job script; conduct takes
#                                          `submitted` just before it runs sbatch)
#                     submitted->started   sbatch, queue, until a poll sees it RUNNING
#                     started->ended       running, as polling sees it
#                     submitted->ended     both, for every task (started_ms is absent
#                                          when a job started and ended between polls)
#                     ended->done          status file read, outputs hashed, recorded
#                     dispatch->done       attempt end_ms - start_ms
#                   median, p10 and p90; then the same 50 tasks on a fresh copy with
#                   --executor local -j 2 (median of end_ms - start_ms)
#   B: 200 tasks    gen.py's layered DAG of 200 tasks (10 layers), a clean build
#                   (fresh copy, no .cache) with --executor local -j 2, --executor
#                   slurm -j 2 and --executor slurm (-j 100, the cluster default),
#                   wall clock, ROUNDS rounds (the three in turn), median; every
#                   build's outputs checked by verify.py
#
# The cluster runs its jobs on this machine (2 cores here, 16 CPUs as Slurm sees
# it), so a job's run competes with slurmctld, slurmd and conduct. Nothing leaves
# 127.0.0.1; at the end the cluster's jobs are cancelled and the daemons stopped by
# PID. Needs munged, slurmctld, slurmd and Slurm's clients (Debian: slurm-wlm, munge).
#
# Env: CONDUCT (binary) [target/release/conduct], WORK [/tmp/bench-slurm], ROUNDS [3],
# POLL ([slurm] poll) [100ms], N (scenario B's tasks) [200], SMALL (scenario A's) [50].
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
CONDUCT=${CONDUCT:-$REPO/target/release/conduct}
WORK=${WORK:-/tmp/bench-slurm}
ROUNDS=${ROUNDS:-3}
POLL=${POLL:-100ms}
N=${N:-200}
SMALL=${SMALL:-50}

[ -x "$CONDUCT" ] || { echo "no conduct at $CONDUCT (cargo build --release)" >&2; exit 2; }
find_prog() { command -v "$1" || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || true; }
MUNGED=$(find_prog munged)
SLURMCTLD=$(find_prog slurmctld)
SLURMD=$(find_prog slurmd)
for p in MUNGED SLURMCTLD SLURMD; do
    [ -n "${!p}" ] || { echo "no ${p,,}: apt-get install slurm-wlm munge" >&2; exit 2; }
done
for p in sbatch squeue sinfo scancel; do
    command -v "$p" >/dev/null || { echo "no $p: apt-get install slurm-wlm" >&2; exit 2; }
done

rm -rf "$WORK" && mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
RES=$WORK/results.tsv
: >"$RES"
T0=$EPOCHREALTIME

# --- the cluster ---------------------------------------------------------------------
D=$WORK/cluster
PARTITION=conduct
mkdir -p "$D/state" "$D/spool"
chmod 755 "$D" # munged refuses a socket in a directory others cannot enter
head -c 128 /dev/urandom >"$D/munge.key"
chmod 600 "$D/munge.key"
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
while [ "$SLURMD_PORT" = "$CTLD_PORT" ]; do SLURMD_PORT=$(free_port); done
U=$(id -u)
cat >"$D/slurm.conf" <<CONF
ClusterName=conduct
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=$U
SlurmdUser=$U
AuthType=auth/munge
AuthInfo=socket=$D/munge.sock
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
SlurmdParameters=config_overrides
ReturnToService=2
MessageTimeout=5
KillWait=2
MpiDefault=none
MailProg=/bin/true
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
NodeName=node1 NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=16 RealMemory=4096 State=UNKNOWN
PartitionName=$PARTITION Nodes=node1 Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$D/slurm.conf

PIDS=() # munged, slurmctld, slurmd
queue_empty() { [ -z "$(timeout 10 squeue -h -o %i 2>/dev/null)" ]; }
stop_cluster() {
    if [ "${#PIDS[@]}" -ge 2 ] && kill -0 "${PIDS[1]}" 2>/dev/null; then
        # a job's slurmstepd outlives slurmd: cancel first, then wait (bounded)
        timeout 10 scancel --partition="$PARTITION" 2>/dev/null || true
        for _ in $(seq 100); do queue_empty && break; sleep 0.1; done
    fi
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[i]}" 2>/dev/null || continue
        for _ in $(seq 50); do kill -0 "${PIDS[i]}" 2>/dev/null || break; sleep 0.1; done
        kill -9 "${PIDS[i]}" 2>/dev/null || true
        wait "${PIDS[i]}" 2>/dev/null || true
    done
}
trap stop_cluster EXIT
alive() {
    local p
    for p in "${PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null || { echo "a Slurm daemon exited; logs in $D" >&2; tail -n 20 "$D"/*.out "$D"/*.log >&2 2>/dev/null; exit 1; }
    done
}

"$MUNGED" --foreground --socket="$D/munge.sock" --key-file="$D/munge.key" \
    --pid-file="$D/munged.pid" --seed-file="$D/munged.seed" >"$D/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do [ -S "$D/munge.sock" ] && break; alive; sleep 0.01; done
[ -S "$D/munge.sock" ] || { echo "munged made no socket" >&2; exit 1; }
"$SLURMCTLD" -D >"$D/slurmctld.out" 2>&1 &
PIDS+=($!)
"$SLURMD" -D -N node1 >"$D/slurmd.out" 2>&1 &
PIDS+=($!)
for i in $(seq 300); do
    [ "$(timeout 5 sinfo -h -o %T 2>/dev/null)" = idle ] && break
    alive
    [ "$i" -lt 300 ] || { echo "the node is not idle after 30 s; logs in $D" >&2; exit 1; }
    sleep 0.1
done
echo "Slurm cluster up on 127.0.0.1:$CTLD_PORT in $(python3 -c "print(f'{$EPOCHREALTIME - $T0:.1f}')") s" >&2

wait_queue_empty() {
    for _ in $(seq 600); do queue_empty && return; sleep 0.1; done
    echo "jobs still queued after 60 s" >&2
    exit 1
}
# seconds since $1 (an $EPOCHREALTIME)
since() { python3 -c "print(f'{$EPOCHREALTIME - $1:.3f}')"; }

# --- sbatch alone --------------------------------------------------------------------
mkdir -p "$WORK/sbatch"
for _ in $(seq 20); do
    s=$EPOCHREALTIME
    sbatch --parsable --job-name=bench-sbatch --output=/dev/null --wrap=true >/dev/null
    printf 'sbatch\t%s\n' "$(since "$s")" >>"$RES"
done
wait_queue_empty

# --- scenario A: SMALL trivial tasks -------------------------------------------------
A=$WORK/a-template
mkdir -p "$A/out"
{
    printf '[project]\nname = "bench"\nexecutor = "slurm"\n\n[slurm]\npoll = "%s"\n' "$POLL"
    for i in $(seq 0 $((SMALL - 1))); do
        printf '\n[tasks.t%d]\noutputs = ["out/%d.txt"]\nrun = "echo %d > out/%d.txt"\n' \
            "$i" "$i" "$i" "$i"
    done
} >"$A/tasks.toml"

# a fresh copy ($2) of template $1, flushed so that its writeback misses the build
checkout() { rm -rf "$2" && cp -r "$1" "$2" && sync; }
# wall seconds of `conduct build -q` in dir $1 with the rest as arguments; the build
# must succeed
timed() {
    local dir=$1 s
    shift
    s=$EPOCHREALTIME
    (cd "$dir" && "$CONDUCT" build -q "$@" >"$dir.out" 2>&1) ||
        { echo "conduct build $* failed in $dir:" >&2; tail -20 "$dir.out" >&2; exit 1; }
    since "$s"
}
# the stages of every attempt in dir $1's newest run record, as TSV rows tagged $2
stages() {
    python3 - "$1" "$2" >>"$RES" <<'PY'
import glob, json, os, sys
d, tag = sys.argv[1], sys.argv[2]
record = max(glob.glob(os.path.join(d, ".cache/runs/*.json")), key=os.path.getmtime)
with open(record) as f:
    run = json.load(f)
tasks = run["tasks"]
tasks = tasks.values() if isinstance(tasks, dict) else tasks
for t in tasks:
    for a in t.get("attempts", [])[:1]:
        row = lambda stage, ms: print(f"{tag}\t{stage}\t{ms}")
        row("dispatch->done", a["end_ms"] - a["start_ms"])
        s = a.get("slurm")
        if not s:
            continue
        row("dispatch->submitted", s["submitted_ms"] - a["start_ms"])
        if "started_ms" in s:
            row("submitted->started", s["started_ms"] - s["submitted_ms"])
            row("started->ended", s["ended_ms"] - s["started_ms"])
        else:
            row("started_ms absent", 1)
        row("submitted->ended", s["ended_ms"] - s["submitted_ms"])
        row("ended->done", a["end_ms"] - s["ended_ms"])
PY
}

checkout "$A" "$WORK/a-slurm"
seconds=$(timed "$WORK/a-slurm" -j "$SMALL")
printf 'A-wall\tslurm -j %s\t%s\n' "$SMALL" "$seconds" >>"$RES"
stages "$WORK/a-slurm" "A-slurm"
wait_queue_empty
checkout "$A" "$WORK/a-local"
seconds=$(timed "$WORK/a-local" --executor local -j 2)
printf 'A-wall\tlocal -j 2\t%s\n' "$seconds" >>"$RES"
stages "$WORK/a-local" "A-local"

# --- scenario B: N tasks, gen.py's layered DAG ---------------------------------------
B=$WORK/b-template
python3 "$HERE/gen.py" "$B" --n "$N" >/dev/null
printf '\n[slurm]\npoll = "%s"\n' "$POLL" >>"$B/tasks.toml"
CONFIGS=("local -j 2|--executor local -j 2" "slurm -j 2|--executor slurm -j 2"
    "slurm -j 100 (default)|--executor slurm")
for r in $(seq "$ROUNDS"); do
    for k in "${!CONFIGS[@]}"; do
        IFS='|' read -r name args <<<"${CONFIGS[k]}"
        dir=$WORK/b-$r-$k
        checkout "$B" "$dir"
        # shellcheck disable=SC2086 # args are words
        seconds=$(timed "$dir" $args)
        ran=$(wc -l <"$dir/.runlog")
        [ "$ran" = "$N" ] || { echo "$name ran $ran tasks, not $N" >&2; exit 1; }
        python3 "$HERE/verify.py" "$dir" >/dev/null || { echo "$name: outputs wrong in $dir" >&2; exit 1; }
        printf 'B-wall\t%s\t%s\n' "$name" "$seconds" >>"$RES"
        wait_queue_empty
        echo "round $r: $name ${seconds}s" >&2
    done
done

# --- the tables ----------------------------------------------------------------------
python3 - "$RES" "$SMALL" "$N" "$POLL" "$ROUNDS" "$(since "$T0")" <<'PY'
import statistics, sys
from collections import defaultdict
res, small, n, poll, rounds, total = sys.argv[1:]
rows = defaultdict(list)
with open(res) as f:
    for line in f:
        *key, value = line.rstrip("\n").split("\t")
        rows[tuple(key)].append(float(value))

def q(xs):
    xs = sorted(xs)
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    d = statistics.quantiles(xs, n=10, method="inclusive")
    return d[0], statistics.median(xs), d[8]

print(f"[slurm] poll = {poll}; cluster on 127.0.0.1, jobs on this machine\n")
p10, med, p90 = q([s * 1000 for s in rows[("sbatch",)]])
print(f"`sbatch --wrap=true` alone: median {med:.0f} ms (p10 {p10:.0f}, p90 {p90:.0f}; "
      f"{len(rows[('sbatch',)])} calls)\n")
print(f"A: {small} trivial tasks, per task (ms)\n")
print("| stage | median | p10 | p90 | tasks |")
print("|---|---|---|---|---|")
stages = ["dispatch->submitted", "submitted->started", "started->ended",
          "submitted->ended", "ended->done", "dispatch->done"]
for stage in stages:
    xs = rows[("A-slurm", stage)]
    if xs:
        p10, med, p90 = q(xs)
        print(f"| slurm -j {small}: {stage} | {med:.0f} | {p10:.0f} | {p90:.0f} | {len(xs)} |")
xs = rows[("A-local", "dispatch->done")]
p10, med, p90 = q(xs)
print(f"| local -j 2: dispatch->done | {med:.0f} | {p10:.0f} | {p90:.0f} | {len(xs)} |")
absent = len(rows[("A-slurm", "started_ms absent")])
print(f"\nstarted_ms absent (never seen RUNNING) for {absent} of {small} jobs")
print(f"wall: slurm -j {small} {rows[('A-wall', f'slurm -j {small}')][0]:.2f} s, "
      f"local -j 2 {rows[('A-wall', 'local -j 2')][0]:.2f} s\n")
print(f"B: {n} tasks (gen.py, 10 layers), clean build, wall seconds, {rounds} rounds\n")
print("| executor | median | min | max |")
print("|---|---|---|---|")
for key, xs in rows.items():
    if key[0] == "B-wall":
        print(f"| {key[1]} | {statistics.median(xs):.2f} | {min(xs):.2f} | {max(xs):.2f} |")
print(f"\nscript: {float(total):.0f} s")
PY
