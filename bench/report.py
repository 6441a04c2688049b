#!/usr/bin/env python3
"""report.py [RESDIR] - Markdown tables from RESDIR/results.tsv (run.sh) and
RESDIR/hash.tsv (hash.sh), default RESDIR = <this dir>/results.

1. median wall time per tool x scenario for each N, with the tasks actually run
   in parentheses for root/touch/restore, and for any scenario where they differ
   from the expected count; a failed verification or a non-zero exit is flagged;
2. conduct's median divided by each peer's, per scenario and N (< 1.0x: conduct
   is faster);
3. the hashing limits, if hash.tsv exists.
A (tool, N, scenario) measured twice in RESDIR: the last row wins."""
import csv
import os
import sys

res = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
path = os.path.join(res, "results.tsv")
if not os.path.exists(path):
    sys.exit(f"report.py: no {path} (run run.sh with RES={res} first)")
rows = list(csv.DictReader(open(path), delimiter="\t"))
NAME = {"task": "go-task"}
SC = ["cold", "noop", "leaf", "root", "touch", "restore"]
HEAD = ["cold -j2", "no-op", "leaf edit", "root edit", "root touch", "restore (outputs deleted)"]
ALWAYS_RERUNS = {"root", "touch", "restore"}
tools, ns = [], []
cell = {}
for r in rows:
    if r["tool"] not in tools:
        tools.append(r["tool"])
    if r["n"] not in ns:
        ns.append(r["n"])
    cell[(r["tool"], r["n"], r["scenario"])] = r
ns.sort(key=int)
if "conduct" in tools:  # conduct first
    tools.remove("conduct")
    tools.insert(0, "conduct")


def name(tool):
    return NAME.get(tool, tool)


def t(v):
    v = float(v)
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def skipped(tool, n):
    c = cell.get((tool, n, "cold"))
    return c is not None and c["note"].startswith("skipped")


def usable(r):
    """a timing that can be compared: measured, exit 0, outputs verified"""
    return r is not None and r["median_s"] and r["verify"] == "ok" and not r["note"].startswith(("exit", "timeout"))


vp = os.path.join(res, "versions.tsv")
if os.path.exists(vp):
    info = [line.rstrip("\n").split("\t", 1) for line in open(vp) if "\t" in line]
    print("Measured " + "; ".join(f"{k}: {v}" for k, v in info) + ".\n")

print("### Median wall time\n")
print("Tasks actually run in parentheses (always for root, touch and restore; elsewhere only when "
      "they differ from the expected count, shown as `run ≠ expected`). † = a single counted run, "
      "not repeated with hyperfine. **FAIL** = outputs not what the sources say.\n")
print("| tool | N | " + " | ".join(HEAD) + " | cold per task |")
print("|---|---:|" + "---:|" * len(SC) + "---:|")
for n in ns:
    for tool in tools:
        c = cell.get((tool, n, "cold"))
        if c is None:
            continue
        if skipped(tool, n):
            print(f"| {name(tool)} | {n} | {c['note']} |" + " |" * len(SC))
            continue
        out = []
        for s in SC:
            r = cell.get((tool, n, s))
            if r is None or not r["median_s"]:
                out.append("—" if r is None else (r["note"] or "?"))
                continue
            txt = t(r["median_s"]) + ("†" if r["runs"] == "1" else "")
            if r["reruns"] != "":
                if r["reruns"] != r["expected"]:
                    txt += f" ({r['reruns']} ≠ {r['expected']})"
                elif s in ALWAYS_RERUNS:
                    txt += f" ({r['reruns']})"
            if r["verify"] != "ok":
                txt += f" **{r['verify']}**"
            if r["note"] and not r["note"].startswith("single"):
                txt += f" ({r['note']})"
            out.append(txt)
        per = f"{float(c['median_s']) / int(n) * 1000:.2f} ms" if usable(c) else "—"
        print(f"| {name(tool)} | {n} | " + " | ".join(out) + f" | {per} |")

if "conduct" in tools and len(tools) > 1:
    print("\n### conduct ÷ peer (median / median; below 1.0× conduct is faster)\n")
    print("`?` = one side failed, was not verified or was not measured.\n")
    print("| conduct vs | N | " + " | ".join(HEAD) + " |")
    print("|---|---:|" + "---:|" * len(SC))
    for n in ns:
        if skipped("conduct", n) or ("conduct", n, "cold") not in cell:
            continue
        for tool in tools[1:]:
            if skipped(tool, n) or (tool, n, "cold") not in cell:
                continue
            out = []
            for s in SC:
                a, b = cell.get(("conduct", n, s)), cell.get((tool, n, s))
                if a is None or b is None:
                    out.append("—")
                elif usable(a) and usable(b) and float(b["median_s"]) > 0:
                    x = float(a["median_s"]) / float(b["median_s"])
                    out.append(f"{x:.2f}×" if x >= 0.1 else f"{x:.2g}×")
                else:
                    out.append("?")
            print(f"| {name(tool)} | {n} | " + " | ".join(out) + " |")

hp = os.path.join(res, "hash.tsv")
if os.path.exists(hp):
    print("\n### Raw hashing (warm page cache)\n")
    print("| what | command | median | MiB/s |")
    print("|---|---|---:|---:|")
    for r in csv.DictReader(open(hp), delimiter="\t"):
        print(f"| {r['what']} | `{r['command'].replace('|', chr(92) + '|')}` | {t(r['median_s'])} | {r['MiB_per_s']} |")
