#!/usr/bin/env python3
"""ab_report.py RESDIR - Markdown report of an interleaved A/B run (ab.sh):
RESDIR/ab.tsv (one row per timed build), RESDIR/verify.tsv and
RESDIR/versions.tsv.

Per scenario:
1. per tool: builds timed, median / min / max seconds, the tasks actually run
   (each distinct count, `×k` when it was seen k times; `≠ expected` flagged),
   and verify.py's verdict after the last round;
2. for each tool after the first (the first tool in TOOLS, i.e. the first row of
   round 1): first ÷ that tool as (a) median / median and (b) the median of the
   per-round ratios, with their min–max.  Below 1.0x the first tool is faster.
   (b) pairs the two builds of the same round, made under the same load; only
   rounds where both exited 0 count.  Builds that did not exit 0 are left out
   of every time and counted in the `failed` column.
python3 stdlib only."""
import csv
import os
import statistics
import sys
from collections import Counter

if len(sys.argv) != 2:
    sys.exit(__doc__)
res = sys.argv[1]
path = os.path.join(res, "ab.tsv")
if not os.path.exists(path):
    sys.exit(f"ab_report.py: no {path} (run ab.sh with RES={res} first)")
rows = list(csv.DictReader(open(path), delimiter="\t"))
if not rows:
    sys.exit(f"ab_report.py: {path} has no timed builds")
NAME = {"task": "go-task"}
HEAD = {"cold": "cold build -j2", "noop": "no-op", "leaf": "leaf edit", "root": "root edit",
        "touch": "root touch", "restore": "restore (outputs deleted)"}

tools, scenarios = [], []
for r in rows:  # round 1 runs in TOOLS order, so the first tool seen is the first in TOOLS
    if r["tool"] not in tools:
        tools.append(r["tool"])
    if r["scenario"] not in scenarios:
        scenarios.append(r["scenario"])
verify = {}
vp = os.path.join(res, "verify.tsv")
if os.path.exists(vp):
    for r in csv.DictReader(open(vp), delimiter="\t"):
        verify[(r["scenario"], r["tool"])] = r["verify"]


def name(tool):
    return NAME.get(tool, tool)


def t(v):
    return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.3f} s"


def x(v):
    return f"{v:.2f}×" if v >= 0.1 else f"{v:.2g}×"


info = {}
vf = os.path.join(res, "versions.tsv")
if os.path.exists(vf):
    info = dict(line.rstrip("\n").split("\t", 1) for line in open(vf) if "\t" in line)
n = info.pop("n", "?")
print(f"## Interleaved A/B, N = {n}\n")
if info:
    print("Measured " + "; ".join(f"{k}: {v}" for k, v in info.items()) + ".\n")
print(f"Each round runs every tool once, the order reversed every other round; `{res}/ab.tsv` "
      "has every build. Times are wall clock of the build command alone.\n")

first = tools[0]
for sc in scenarios:
    rs = [r for r in rows if r["scenario"] == sc]
    rounds = sorted({int(r["round"]) for r in rs})
    ok = {}  # (tool, round) -> seconds, exit 0 only
    for r in rs:
        if r["exit"] == "0":
            ok[(r["tool"], int(r["round"]))] = float(r["seconds"])
    print(f"### {HEAD.get(sc, sc)} ({len(rounds)} rounds)\n")
    print("| tool | builds | failed | median | min | max | tasks run | verify |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    med = {}
    for tool in tools:
        mine = [r for r in rs if r["tool"] == tool]
        if not mine:
            continue
        secs = [ok[(tool, rd)] for rd in rounds if (tool, rd) in ok]
        failed = len(mine) - len(secs)
        exp = mine[0]["expected"]
        counts = Counter(r["reruns"] for r in mine)
        ran = ", ".join(f"{c}" + (f" ×{k}" if len(counts) > 1 else "")
                        for c, k in sorted(counts.items(), key=lambda kv: int(kv[0])))
        if set(counts) != {exp}:
            ran += f" (≠ {exp} expected)"
        v = verify.get((sc, tool), "?")
        if v != "ok":
            v = f"**{v}**"
        if secs:
            med[tool] = statistics.median(secs)
            print(f"| {name(tool)} | {len(mine)} | {failed} | {t(med[tool])} | {t(min(secs))} | "
                  f"{t(max(secs))} | {ran} | {v} |")
        else:
            print(f"| {name(tool)} | {len(mine)} | {failed} | — | — | — | {ran} | {v} |")
    others = [tool for tool in tools[1:] if any(r["tool"] == tool for r in rs)]
    if others:
        print(f"\n{name(first)} ÷ peer (below 1.0× {name(first)} is faster):\n")
        print("| peer | median ÷ median | median of per-round ratios | per-round min–max | rounds paired |")
        print("|---|---:|---:|---:|---:|")
        for tool in others:
            a = x(med[first] / med[tool]) if first in med and tool in med and med[tool] > 0 else "?"
            per = [ok[(first, rd)] / ok[(tool, rd)] for rd in rounds
                   if (first, rd) in ok and (tool, rd) in ok and ok[(tool, rd)] > 0]
            if per:
                b, span = x(statistics.median(per)), f"{x(min(per))} – {x(max(per))}"
            else:
                b, span = "?", "—"
            print(f"| {name(tool)} | {a} | {b} | {span} | {len(per)} |")
    print()
