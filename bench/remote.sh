#!/usr/bin/env bash
# remote.sh [N] - what the remote cache costs and saves on an N-task workload
# (default 1000; gen.py's layered DAG), against real servers on loopback:
#
#   run             a fresh checkout builds everything, no remote
#   local restore   a fresh checkout given a copy of the first one's .cache
# and for each store, S3 (moto's server) and WebDAV (nginx, when installed):
#   run+upload      a fresh checkout builds with --remote-cache-mode=readwrite
#                   (the build waits for its uploads at the end)
#   restore         another fresh checkout, no .cache, restores everything from
#                   the remote (read mode): time, requests by method (the server's
#                   log), bytes down (conduct's summary)
#
# Restores are repeated ROUNDS times (default 5), each on a new copy; the table
# gives the median. Nothing leaves 127.0.0.1; the servers are stopped by PID at
# the end. moto is a Python server (one interpreter answers every request), so
# per request it is much slower than nginx or a real store: its row measures
# moto as much as conduct.
#
# Env: CONDUCT (binary) [target/release/conduct], MOTO [moto_server on PATH, else
# .ci/venv/bin/moto_server], WORK [/tmp/bench-remote], ROUNDS [5], JOBS [2].
set -euo pipefail

N=${1:-1000}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
CONDUCT=${CONDUCT:-$REPO/target/release/conduct}
MOTO=${MOTO:-$(command -v moto_server || echo "$REPO/.ci/venv/bin/moto_server")}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
WORK=${WORK:-/tmp/bench-remote}
ROUNDS=${ROUNDS:-5}
JOBS=${JOBS:-2}

[ -x "$CONDUCT" ] || { echo "no conduct at $CONDUCT (cargo build --release)" >&2; exit 2; }
[ -x "$MOTO" ] || { echo "no moto_server ($MOTO): pip install 'moto[server]'" >&2; exit 2; }

rm -rf "$WORK" && mkdir -p "$WORK"
python3 "$HERE/gen.py" "$WORK/template" --n "$N" >/dev/null

PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; true' EXIT
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$1/" && return
        sleep 0.1
    done
    echo "nothing answers on port $1" >&2
    exit 1
}

MOTO_PORT=$(free_port)
"$MOTO" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
wait_port "$MOTO_PORT"
curl -s -o /dev/null -X PUT "http://127.0.0.1:$MOTO_PORT/bucket"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_ALLOW_HTTP=true CI=

if [ -x "$NGINX" ]; then
    NGINX_PORT=$(free_port)
    D=$WORK/nginx
    mkdir -p "$D/root"
    user=$([ "$(id -u)" = 0 ] && echo "user root root;" || true)
    printf '%s\n' "daemon off; master_process off; $user" \
        "pid $D/nginx.pid; error_log $D/error.log;" \
        "events { worker_connections 256; }" \
        "http { access_log $WORK/nginx.log; client_body_temp_path $D/body;" \
        "  server { listen 127.0.0.1:$NGINX_PORT; root $D/root; client_max_body_size 0;" \
        "    location / { dav_methods PUT DELETE MKCOL; create_full_put_path on; dav_access user:rw; } } }" \
        >"$D/nginx.conf"
    "$NGINX" -c "$D/nginx.conf" -p "$D" -e "$D/error.log" &
    PIDS+=($!)
    wait_port "$NGINX_PORT"
fi

# a fresh copy of the workload, flushed to disk so that writeback of the copy does not
# land inside the next timed build
checkout() { rm -rf "${WORK:?}/$1" && cp -r "$WORK/template" "$WORK/$1" && sync; }
# seconds taken by `conduct build` in checkout $1 with the rest as arguments;
# its summary line goes to $WORK/$1.summary
timed() {
    local dir=$1
    shift
    local start=$EPOCHREALTIME
    (cd "$WORK/$dir" && "$CONDUCT" build -j "$JOBS" "$@" | tail -1 >"$WORK/$dir.summary")
    local end=$EPOCHREALTIME
    python3 -c "print(f'{$end - $start:.3f}')"
}
# requests by method in log $1 since its line $2
requests() {
    tail -n +"$(($2 + 1))" "$1" | grep -oE '"(GET|HEAD|PUT|POST|DELETE) ' |
        tr -d '" ' | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}' | sed 's/, $//'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
row() { printf '%-24s %8s  %s\n' "$@"; }

# the stores: name|URL|request log
STORES=("S3 (moto)|s3://bucket/bench|$WORK/moto.log")
if [ -n "${NGINX_PORT:-}" ]; then
    STORES+=("WebDAV (nginx)|http://127.0.0.1:$NGINX_PORT/bench/|$WORK/nginx.log")
fi

echo "N=$N tasks, -j $JOBS, servers on 127.0.0.1, $ROUNDS interleaved restore rounds (median)"
row "scenario" "seconds" "notes"
# Builds of everything, each store's with uploads, back to back.
checkout run
row "run" "$(timed run)" "no remote"
for spec in "${STORES[@]}"; do
    IFS='|' read -r name url log <<<"$spec"
    touch "$log"
    checkout upload
    lines=$(wc -l <"$log")
    seconds=$(timed upload --remote-cache "$url" --remote-cache-mode readwrite)
    row "$name run+upload" "$seconds" \
        "$(requests "$log" "$lines"); $(sed 's/.*; //' "$WORK/upload.summary")"
done

# Restores, interleaved: every round restores once from the local cache and once
# from each store, so that the disk's and the VM's drift hits them alike.
declare -A times notes
for _ in $(seq "$ROUNDS"); do
    checkout local
    cp -r "$WORK/run/.cache" "$WORK/local/.cache" && sync
    times[local]+="$(timed local) "
    for spec in "${STORES[@]}"; do
        IFS='|' read -r name url log <<<"$spec"
        checkout remote
        lines=$(wc -l <"$log")
        times[$name]+="$(timed remote --remote-cache "$url" --remote-cache-mode read) "
        notes[$name]="$(requests "$log" "$lines"); $(sed 's/.*; //' "$WORK/remote.summary")"
        if [ -s "$WORK/remote/.runlog" ]; then
            echo "$name: the restore ran $(wc -l <"$WORK/remote/.runlog") tasks" >&2
            exit 1
        fi
    done
done
row "local restore" "$(tr ' ' '\n' <<<"${times[local]}" | grep . | median)" "a copy of .cache"
for spec in "${STORES[@]}"; do
    IFS='|' read -r name _ _ <<<"$spec"
    row "$name restore" "$(tr ' ' '\n' <<<"${times[$name]}" | grep . | median)" "${notes[$name]}"
done
