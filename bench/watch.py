#!/usr/bin/env python3
"""watch.py - how fast `conduct watch` reacts, and whether it holds its memory.

Usage:
    bench/watch.py [--n 10000] [--edits 20] [--rounds 100] [--conduct PATH] [--dir DIR]

On a `gen.py` workload of N tasks (built once, cold, then idle):
  * latency: `conduct watch --json -j 2` runs; the leaf source (manifest `leaf_src`,
    one task must rerun) is edited EDITS times. For each edit: from the end of the
    burst of file events (`watch_round.burst_ended_us`, after the debounce) to the
    arrival of the stale task's `task_started` line (the process is spawned right
    after). Median, min, max.
  * the same edit with one-shot `conduct build -j 2`, timed from the outside (process
    start to exit), EDITS times: median. The issue's target: watch latency <= 20 ms
    and <= 1/3 of this.
  * memory: the watching process's VmRSS after its first edit round and after ROUNDS
    rounds (target: growth <= 10 %).
"""
import argparse
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Watch:
    def __init__(self, conduct, cwd):
        self.proc = subprocess.Popen(
            [conduct, "watch", "--json", "-j", "2"], cwd=cwd,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            # 10,000 fresh tasks a round: not parsed (the reader shares the 2 cores).
            if line.startswith('{"event":"task_fresh"'):
                continue
            self.lines.put((time.time_ns(), json.loads(line)))

    def until(self, name, patience=300):
        while True:
            at, event = self.lines.get(timeout=patience)
            if event.get("event") == name:
                return at, event

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=60)


def edit(path, i):
    with open(path, "a") as f:
        f.write(f"edit {i} {time.time_ns()}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--conduct", default=os.path.join(HERE, "..", "target", "release", "conduct"))
    ap.add_argument("--dir")
    args = ap.parse_args()
    conduct = os.path.abspath(args.conduct)
    work = args.dir or tempfile.mkdtemp(prefix="conduct-watch-bench-")
    subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), work, "--n", str(args.n)],
                   check=True, stdout=subprocess.DEVNULL)
    manifest = json.load(open(os.path.join(work, "manifest.json")))
    leaf = os.path.join(work, manifest["leaf_src"])
    subprocess.run([conduct, "build", "-q", "-j", "2"], cwd=work, check=True)
    subprocess.run([conduct, "build", "-q"], cwd=work, check=True)

    watch = Watch(conduct, work)
    watch.until("watching")
    latencies = []
    rss_first = None
    for i in range(max(args.rounds, args.edits + 2)):
        edit(leaf, i)
        _, round_event = watch.until("watch_round")
        started_at, started = watch.until("task_started")
        _, finished = watch.until("build_finished")
        watch.until("watching")
        assert finished["counts"]["ran"] == 1, finished
        if i == 0:
            rss_first = rss_kib(watch.proc.pid)
        elif i <= args.edits + 1 and i >= 2:
            latencies.append((started_at / 1000 - round_event["burst_ended_us"]) / 1000)
    rss_last = rss_kib(watch.proc.pid)
    rounds = max(args.rounds, args.edits + 2)
    code = watch.stop()

    one_shot = []
    for i in range(args.edits):
        edit(leaf, 1000 + i)
        t = time.perf_counter()
        subprocess.run([conduct, "build", "-q", "-j", "2"], cwd=work, check=True)
        one_shot.append((time.perf_counter() - t) * 1000)

    med = statistics.median(latencies)
    one = statistics.median(one_shot)
    print(f"tasks: {args.n}; edits: {len(latencies)}; watch exit: {code}")
    print(f"watch: burst end -> stale task started: median {med:.1f} ms "
          f"(min {min(latencies):.1f}, max {max(latencies):.1f})")
    print(f"one-shot `conduct build` after the same edit: median {one:.1f} ms "
          f"(min {min(one_shot):.1f}, max {max(one_shot):.1f})")
    print(f"watch / one-shot: {med / one:.2f}")
    print(f"RSS after round 2: {rss_first / 1024:.1f} MiB; after {rounds + 1} rounds: "
          f"{rss_last / 1024:.1f} MiB ({(rss_last - rss_first) / rss_first * 100:+.1f} %)")


if __name__ == "__main__":
    main()
