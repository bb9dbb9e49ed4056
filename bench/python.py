#!/usr/bin/env python3
"""berth's edit-loop benchmark for Python components (issue 15).

Works on a copy of this repository's examples (`components/`, the Rust SDK,
`environments/local`) in `bench/.results/edit-loop/`, with release berth,
and reports medians of whole process runs:

- one-line edit of a Python component (`greeter`) -> `berth deploy` finished,
  and the same one-line edit of a Rust component (`hello`), in the same run;
- `berth build` with nothing changed;
- a converged `berth deploy local` of the examples;
- loading one Python root (runtime compile or cache, instantiate, describe:
  the `loaded` event of `-d`), cold (empty compile cache, runtime present)
  and cached;
- the runtime's one-time build (componentize-py) and compile (1 run each).

Usage: python3 bench/python.py [--runs N]   (after `scripts/setup`)
Results: a table, and bench/.results/python.json.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BERTH = ROOT / "target" / "release" / "berth"
RESULTS = BENCH / ".results"
REPO = RESULTS / "edit-loop"
CACHE = RESULTS / "edit-loop-cache"

PY_FILE = REPO / "components" / "greeter" / "component.py"
PY_LINES = ('default="Hello", doc="The word', 'default="Howdy", doc="The word')
RS_FILE = REPO / "components" / "hello" / "src" / "lib.rs"
RS_LINES = ('"{greeting} from {}!\\n"', '"{greeting} from {}!!\\n"')

TARGETS = {"python edit -> deploy": 2000.0, "berth build, nothing changed": 1000.0}


def run(argv, cache=CACHE, check=True):
    env = dict(os.environ, BERTH_CACHE_DIR=str(cache))
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    ms = (time.perf_counter() - start) * 1000.0
    if check and proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return ms, proc


def deploy(cache=CACHE, debug=False):
    argv = [str(BERTH), "deploy", "local", "--format", "json"] + (["-d"] if debug else [])
    ms, proc = run(argv, cache)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    summary = events[-1]
    if summary.get("event") != "summary" or summary["failed"] != 0:
        sys.exit(f"deploy failed: {summary}")
    return ms, summary, events


def flip(path, lines, i):
    text = path.read_text()
    old, new = (lines[0], lines[1]) if i % 2 == 0 else (lines[1], lines[0])
    if old not in text:
        sys.exit(f"`{old}` is not in {path}")
    path.write_text(text.replace(old, new, 1))


def loaded_ms(events, package):
    for e in events:
        if e.get("event") == "loaded" and e.get("package") == package:
            return e["millis"], e["cached"]
    sys.exit(f"no `loaded` event for {package}")


def fresh_repo():
    if REPO.exists():
        shutil.rmtree(REPO)
    REPO.mkdir(parents=True)
    ignore = shutil.ignore_patterns("target", "__pycache__", ".berth")
    shutil.copytree(ROOT / "components", REPO / "components", ignore=ignore)
    shutil.copytree(ROOT / "sdk" / "rust", REPO / "sdk" / "rust", ignore=ignore)
    shutil.copytree(ROOT / "environments" / "local", REPO / "environments" / "local")
    # The tests' guest target folder already holds the SDK's dependencies
    # for wasm32: the warm-up then compiles only the examples.
    guests = ROOT / "target" / "wasm-guests"
    if guests.is_dir():
        shutil.copytree(guests, REPO / ".berth" / "target", symlinks=True)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    if not BERTH.is_file():
        sys.exit(f"{BERTH} is missing: run scripts/setup")
    fresh_repo()
    samples = {}

    def add(case, ms):
        samples.setdefault(case, []).append(ms)

    # The runtime's one-time build and compile: an empty cache.
    with tempfile.TemporaryDirectory() as empty:
        ms, _ = run([str(BERTH), "build"], cache=Path(empty))
        add("berth build with Rust, and the Python runtime's one-time build (1 run)", ms)
        runtime = next(Path(empty, "python").glob("python-runtime-*.wasm"))
        CACHE.mkdir(parents=True, exist_ok=True)
        (CACHE / "python").mkdir(exist_ok=True)
        shutil.copy(runtime, CACHE / "python" / runtime.name)
        ms, _, events = deploy(cache=Path(empty), debug=True)
        add("python root loaded cold: runtime compile + instantiate (1 run)", loaded_ms(events, "greeter")[0])

    # Warm-up: fills the compile cache and cargo's target folder.
    deploy()
    deploy()
    for i in range(args.runs):
        flip(PY_FILE, PY_LINES, i)
        ms, summary, _ = deploy()
        if summary["changed"] < 1:
            sys.exit(f"the Python edit changed nothing: {summary}")
        add("python edit -> deploy", ms)
        flip(RS_FILE, RS_LINES, i)
        ms, summary, _ = deploy()
        if summary["changed"] < 1:
            sys.exit(f"the Rust edit changed nothing: {summary}")
        add("rust edit -> deploy", ms)
        ms, _ = run([str(BERTH), "build"])
        add("berth build, nothing changed", ms)
        ms, summary, events = deploy(debug=True)
        if summary["changed"] != 0:
            sys.exit(f"the converged deploy changed something: {summary}")
        add("converged deploy of the examples", ms)
        millis, cached = loaded_ms(events, "greeter")
        if cached:
            add("python root loaded cached: instantiate + describe", millis)

    rows = []
    print(f"{'case':<72} {'median ms':>10} {'min':>8} {'max':>8}")
    for case, xs in samples.items():
        rows.append({"case": case, "median_ms": median(xs), "samples": xs})
        print(f"{case:<72} {median(xs):>10.1f} {min(xs):>8.1f} {max(xs):>8.1f}")
    py, rs = median(samples["python edit -> deploy"]), median(samples["rust edit -> deploy"])
    print(f"python edit / rust edit: {py / rs:.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "python.json").write_text(json.dumps(rows, indent=2) + "\n")
    missed = [c for c, t in TARGETS.items() if median(samples[c]) >= t]
    if py > rs:
        missed.append("python edit slower than rust edit")
    if missed:
        print("missed: " + ", ".join(missed))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
