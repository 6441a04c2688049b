#!/usr/bin/env python3
"""gen.py - generate one synthetic build workload in every peer's format.

Usage:
    gen.py OUTDIR --n 1000 [--depth 10 | --width 100] [--files-per-task 1]
                  [--src-bytes 64] [--seed 42] [--max-deps 3]

Workload shape (identical for every tool):
  * A layered DAG of N tasks  t0 .. t{N-1}.  Layer sizes are `width`
    (= ceil(N/depth) by default); the last layer may be partial.
  * Every task in layer L>0 depends on between 1 and `max-deps` (default 3)
    distinct tasks of layer L-1, chosen with random.Random(seed)  -> fully
    deterministic for a given (n, width, files-per-task, seed).
  * Task tI reads its own source files  src/tI_0.txt .. src/tI_{F-1}.txt
    plus the outputs of its deps  out/tJ.txt, and writes exactly one output
    out/tI.txt.  The command is the same string for every tool:

        cat <inputs...> | sha1sum > out/tI.txt && echo tI >> .runlog

    i.e. the output is a 43-byte digest of the concatenated inputs (cheap:
    we measure the runner, not the work).  `.runlog` is NOT declared as an
    input or output anywhere; it lets the harness count which tasks actually
    ran (truncate it before a build, `wc -l` after).
  * "sinks" = tasks nobody depends on; every format's default target builds
    all sinks (= all tasks).

Files written into OUTDIR:
  src/...             the sources
  out/                empty output dir (pre-created; no tool needs mkdir)
  Makefile            GNU make         (target `all`)
  build.ninja         ninja            (default = all sinks)
  Taskfile.yml        go-task v3       (sources/generates, method: checksum,
                                        run: once, task `default`)
  Snakefile           snakemake        (rule all + ONE wildcard rule whose
                                        input is looked up in a dict)
  dodo.py             doit             (file_dep / targets, one task per node)
  justfile            just             (no caching: cold full build only; serial)
  parallel.just       same recipes with the [parallel] attribute, for
                      `just -f parallel.just --jobs 2`
  package.json, turbo.json   turbo single-package workspace: one npm script
                      + one turbo task per node, `inputs` = own sources,
                      outputs = out/tI.txt, task `all` depends on all sinks.
                      (Deps' outputs are NOT listed as turbo inputs: turbo
                      folds dependency task hashes into a task's hash, which
                      is the idiomatic way; input files are hashed before
                      execution so listing not-yet-built files is wrong.)
  tasks.toml          conduct (see below)
  manifest.json       shape + the ids to mutate + expected rerun counts

conduct tasks.toml (README.md, "tasks.toml reference"), one table per task, in topological order:

    [tasks.t12]
    inputs  = ["src/t12_0.txt", "out/t3.txt", "out/t7.txt"]   # deps t3, t7 inferred
    outputs = ["out/t12.txt"]
    run     = "cat src/t12_0.txt out/t3.txt out/t7.txt | sha1sum > out/t12.txt && echo t12 >> .runlog"

manifest.json keys: n, width, depth, seed, files_per_task, sinks (count),
  root_task (layer-0 task with the largest downstream cone), root_src (its
  first source file), root_cone (number of tasks that must rerun when
  root_src's content changes, itself included), leaf_task / leaf_src
  (a sink in the last layer; 1 task must rerun), edges (count).
"""
import argparse
import json
import math
import os
import random
import sys


def build_dag(n, width, max_deps, seed):
    rng = random.Random(seed)
    layers = []
    i = 0
    while i < n:
        layers.append(list(range(i, min(i + width, n))))
        i += width
    deps = {t: [] for t in range(n)}
    for li in range(1, len(layers)):
        prev = layers[li - 1]
        for t in layers[li]:
            k = rng.randint(1, min(max_deps, len(prev)))
            deps[t] = sorted(rng.sample(prev, k))
    return layers, deps


def cone(start, children):
    seen = {start}
    stack = [start]
    while stack:
        x = stack.pop()
        for c in children[x]:
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return seen


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--width", type=int, default=0, help="overrides --depth")
    ap.add_argument("--files-per-task", type=int, default=1)
    ap.add_argument("--src-bytes", type=int, default=64)
    ap.add_argument("--max-deps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()

    n = a.n
    width = a.width or math.ceil(n / a.depth)
    layers, deps = build_dag(n, width, a.max_deps, a.seed)
    children = {t: [] for t in range(n)}
    for t, ds in deps.items():
        for d in ds:
            children[d].append(t)
    sinks = [t for t in range(n) if not children[t]]

    F = a.files_per_task
    name = lambda t: f"t{t}"
    srcs = lambda t: [f"src/t{t}_{k}.txt" for k in range(F)]
    out = lambda t: f"out/t{t}.txt"
    inputs = lambda t: srcs(t) + [out(d) for d in deps[t]]

    def cmd(t):
        return f"cat {' '.join(inputs(t))} | sha1sum > {out(t)} && echo {name(t)} >> .runlog"

    od = a.outdir
    os.makedirs(os.path.join(od, "src"), exist_ok=True)
    os.makedirs(os.path.join(od, "out"), exist_ok=True)
    for t in range(n):
        for k, p in enumerate(srcs(t)):
            line = f"source of task t{t} file {k} seed {a.seed}\n"
            body = (line * (a.src_bytes // len(line) + 1))[: a.src_bytes]
            with open(os.path.join(od, p), "w") as f:
                f.write(body)

    def w(fname, text):
        with open(os.path.join(od, fname), "w") as f:
            f.write(text)

    # ---- GNU make
    L = [".PHONY: all", "all: " + " ".join(out(t) for t in sinks), ""]
    for t in range(n):
        L.append(f"{out(t)}: {' '.join(inputs(t))}")
        L.append(f"\t@{cmd(t)}")
    w("Makefile", "\n".join(L) + "\n")

    # ---- ninja
    L = ["rule run", "  command = $cmd", "  description = $id", ""]
    for t in range(n):
        L.append(f"build {out(t)}: run {' '.join(inputs(t))}")
        L.append(f"  cmd = {cmd(t)}")
        L.append(f"  id = {name(t)}")
    L.append("default " + " ".join(out(t) for t in sinks))
    w("build.ninja", "\n".join(L) + "\n")

    # ---- go-task (YAML written by hand; all strings are plain-safe except cmd)
    L = ["version: '3'", "run: once", "tasks:", "  default:", "    deps:"]
    L += [f"      - {name(t)}" for t in sinks]
    for t in range(n):
        L.append(f"  {name(t)}:")
        if deps[t]:
            L.append("    deps: [" + ", ".join(name(d) for d in deps[t]) + "]")
        L.append("    method: checksum")
        L.append("    sources: [" + ", ".join(inputs(t)) + "]")
        L.append(f"    generates: [{out(t)}]")
        L.append("    cmds:")
        L.append("      - " + json.dumps(cmd(t)))
    w("Taskfile.yml", "\n".join(L) + "\n")

    # ---- snakemake
    ins = {name(t): inputs(t) for t in range(n)}
    L = [
        "INPUTS = " + json.dumps(ins, separators=(",", ":")),
        "SINKS = " + json.dumps([out(t) for t in sinks]),
        "",
        "rule all:",
        "    input: SINKS",
        "",
        "rule t:",
        "    input: lambda wc: INPUTS[wc.id]",
        "    output: 'out/{id}.txt'",
        "    wildcard_constraints: id='t[0-9]+'",
        "    shell: 'cat {input} | sha1sum > {output} && echo {wildcards.id} >> .runlog'",
    ]
    w("Snakefile", "\n".join(L) + "\n")

    # ---- doit
    nodes = [[name(t), inputs(t), out(t), cmd(t)] for t in range(n)]
    L = [
        "DOIT_CONFIG = {'verbosity': 0}",
        "NODES = " + json.dumps(nodes, separators=(",", ":")),
        "",
        "def task_b():",
        "    for tid, ins, out, cmd in NODES:",
        "        yield {'name': tid, 'file_dep': ins, 'targets': [out], 'actions': [cmd]}",
    ]
    w("dodo.py", "\n".join(L) + "\n")

    # ---- just (no caching; cold full build only)
    L = ["default: " + " ".join(name(t) for t in sinks), ""]
    for t in range(n):
        L.append(f"{name(t)}:" + ("" if not deps[t] else " " + " ".join(name(d) for d in deps[t])))
        L.append(f"    @{cmd(t)}")
        L.append("")
    w("justfile", "\n".join(L))
    # same recipes, each marked [parallel] (just >= 1.42): run with `just -f parallel.just --jobs 2`
    w("parallel.just", "\n".join(("[parallel]\n" + x) if x and not x.startswith(" ") else x for x in L))

    # ---- turbo (single-package workspace)
    pkg = {
        "name": "bench",
        "version": "0.0.0",
        "private": True,
        "packageManager": "npm@" + os.environ.get("NPM_VERSION", "10.0.0"),
        "scripts": {name(t): cmd(t) for t in range(n)},
    }
    w("package.json", json.dumps(pkg, indent=1) + "\n")
    tj = {"$schema": "https://turborepo.com/schema.json", "tasks": {}}
    for t in range(n):
        tj["tasks"][name(t)] = {
            "dependsOn": [name(d) for d in deps[t]],
            "inputs": srcs(t),
            "outputs": [out(t)],
            "outputLogs": "errors-only",
        }
    tj["tasks"]["all"] = {"dependsOn": [name(t) for t in sinks], "cache": False}
    w("turbo.json", json.dumps(tj, indent=1) + "\n")

    # ---- conduct: one [tasks.<id>] table per task, in topological
    # order; dependencies are inferred from inputs naming other tasks' outputs.
    def q(s):
        return json.dumps(s)  # TOML basic strings are JSON-compatible here

    L = ["# generated by gen.py; dependencies are inferred from inputs", ""]
    for t in range(n):
        L.append(f"[tasks.{name(t)}]")
        L.append("inputs = [" + ", ".join(q(p) for p in inputs(t)) + "]")
        L.append(f"outputs = [{q(out(t))}]")
        L.append(f"run = {q(cmd(t))}")
        L.append("")
    w("tasks.toml", "\n".join(L))

    # ---- manifest: which files to mutate and how many tasks must rerun
    root = max(layers[0], key=lambda t: (len(cone(t, children)), -t))
    leaf = sinks[-1]
    man = {
        "n": n, "width": width, "depth": len(layers), "seed": a.seed,
        "files_per_task": F, "src_bytes": a.src_bytes, "max_deps": a.max_deps,
        "sinks": len(sinks), "edges": sum(len(v) for v in deps.values()),
        "root_task": name(root), "root_src": srcs(root)[0],
        "root_cone": len(cone(root, children)),
        "leaf_task": name(leaf), "leaf_src": srcs(leaf)[0], "leaf_cone": len(cone(leaf, children)),
    }
    w("manifest.json", json.dumps(man, indent=1) + "\n")
    print(json.dumps(man))


if __name__ == "__main__":
    sys.exit(main())
