#!/usr/bin/env python3
"""berth's deploy benchmark; `bench/run` builds everything, then runs this.

Measures the wall-clock time of whole process runs (start to exit, as a user
sees it) and reports medians, min and max, plus ratios against baselines
measured in the same run: the process floor (`berth --version`), the native
floor (`bench/floor`: the same writes and checks with nothing else) and, when
it is installed, batou 2.7.1 doing the same work. See bench/README.md.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
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
FLOOR = ROOT / "target" / "floor" / "release" / "berth-floor"
RESULTS = BENCH / ".results"
WARM_CACHE = RESULTS / "cache"

BERTH_WORK = BENCH / "work"
BERTH_FILES = BERTH_WORK / "many-files" / "files"
BATOU = BENCH / "batou"
BATOU_BIN = BENCH / ".venv" / "bin" / "batou"
BATOU_WORK = BATOU / "work"
BATOU_FILES = BATOU_WORK / "manyfiles" / "files"

FLOOR_FILES = RESULTS / "floor" / "files"

TIME = "/usr/bin/time"
BATOU_RSS_RUNS = 3

COUNTS = (0, 200, 1000, 10000)
ENVIRONMENTS = {0: "bench-0", 200: "bench", 1000: "bench-1000", 10000: "bench-10000"}
# batou's first deploy of 10,000 files takes about 20 minutes: left out,
# and with it the converged run that would need it.
BATOU_COUNTS = (0, 200, 1000)
# One fsync per file: 10,000 files take about a minute here (`--full`).
EACH_MAX = 1000

# Targets: issue 2 (converged 200 files under 50 ms wall) and DESIGN.md §6
# (well under 0.1 s for 200 and for 1,000 files).
TARGETS = {
    "berth converged 200": 50.0,
    "berth converged 1000": 100.0,
}
# Issue 14: ratios of medians of the same run, case / baseline <= limit.
RATIO_TARGETS = [
    ("berth first 200", "floor batched first 200", 1.5),
    ("berth first 1000", "floor batched first 1000", 1.5),
    ("berth converged 1000", "floor check 1000", 2.0),
    ("berth converged 10000", "floor check 10000", 2.0),
    ("berth converged 0", "berth --version (floor)", 2.0),
]


class RunFailed(Exception):
    pass


class Run:
    """One finished process: wall time, exit code and output."""

    def __init__(self, argv, ms, code, out, err):
        self.argv, self.ms = argv, ms
        self.code, self.out, self.err = code, out, err

    def fail(self, why):
        raise RunFailed(
            f"{why}\n  command: {' '.join(map(str, self.argv))}\n"
            f"  exit code: {self.code}\n  stdout (tail):\n{_tail(self.out)}\n"
            f"  stderr (tail):\n{_tail(self.err)}"
        )


def _tail(text, lines=15):
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def run(argv, env=None, cwd=None):
    """Runs argv once; the clock covers spawn to reaped exit, nothing else."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd
        )
        _, status = os.waitpid(proc.pid, 0)
        ms = (time.perf_counter() - start) * 1000.0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            argv,
            ms,
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def berth_env(cache_dir):
    env = dict(os.environ)
    env["BERTH_CACHE_DIR"] = str(cache_dir)
    return env


def berth_deploy(count, cache_dir=WARM_CACHE, debug=False):
    argv = [str(BERTH), "deploy", ENVIRONMENTS[count], "--repo", str(BENCH), "--format", "json"]
    if debug:
        argv.append("-d")
    result = run(argv, env=berth_env(cache_dir))
    events = []
    for line in result.out.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            result.fail(f"berth printed a line that is not JSON: {line!r}")
    if result.code != 0:
        result.fail("berth failed")
    if not events or events[-1].get("event") != "summary":
        result.fail("berth's output does not end with a summary object")
    result.summary = events[-1]
    result.events = events
    if result.summary["failed"] != 0:
        result.fail("berth's summary counts failed steps")
    return result


def expect_changed(result, changed):
    got = result.summary["changed"]
    if got != changed:
        result.fail(f"berth's summary says changed == {got}, expected {changed}")


def batou_deploy(count):
    env = dict(os.environ)
    env["APPENV_BASEDIR"] = str(BATOU)
    argv = [str(BATOU_BIN), "deploy", ENVIRONMENTS[count]]
    result = run(argv, env=env, cwd=BATOU)
    if result.code != 0 or "DEPLOYMENT FINISHED" not in result.out:
        result.fail("batou failed")
    # batou marks every component it updates with a rocket.
    result.updated = sum(1 for line in result.out.splitlines() if "\N{ROCKET}" in line)
    return result


def floor_run(mode, count):
    """One run of the native floor on FLOOR_FILES."""
    result = run([str(FLOOR), mode, str(FLOOR_FILES), str(count)])
    if result.code != 0:
        result.fail(f"berth-floor {mode} failed")
    return result


def peak_rss_kib(argv, env=None, cwd=None):
    """Peak RSS of one run of argv, measured by GNU time.

    Not from our own wait4: a child spawned by this Python process inherits
    Python's RSS high-water mark across exec, which inflates small figures.
    """
    with tempfile.NamedTemporaryFile("r") as report:
        result = run([TIME, "-f", "%M", "-o", report.name, *argv], env=env, cwd=cwd)
        if result.code != 0:
            result.fail("the run under /usr/bin/time failed")
        return int(report.read().split()[-1])


def tree_digest(folder):
    """sha256 over the names and contents of the files in folder."""
    digest = hashlib.sha256()
    names = sorted(os.listdir(folder))
    for name in names:
        digest.update(name.encode() + b"\0")
        digest.update((folder / name).read_bytes() + b"\0")
    return len(names), digest.hexdigest()


def machine_load():
    """The 1-minute load average and the CPU pressure (share of the last 60 s
    in which some task waited for a CPU), to judge how noisy a run was."""
    load = {"loadavg_1min": os.getloadavg()[0]}
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        fields = dict(f.split("=") for f in line.split()[1:])
        load["cpu_pressure_some_avg60_percent"] = float(fields["avg60"])
    except (OSError, KeyError, ValueError, IndexError):
        pass
    return load


def git_commit():
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def stats(samples):
    return {
        "median_ms": statistics.median(samples),
        "min_ms": min(samples),
        "max_ms": max(samples),
        "runs": len(samples),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per case (default 20)")
    parser.add_argument("--no-batou", action="store_true", help="skip the batou baseline")
    parser.add_argument(
        "--counts", default=",".join(map(str, COUNTS)),
        help="file counts to measure, of " + ", ".join(map(str, COUNTS)),
    )
    parser.add_argument(
        "--full", action="store_true",
        help=f"also the one-fsync-per-file floor above {EACH_MAX} files",
    )
    parser.add_argument("--no-setup", action="store_true", help="(bench/run) skip the builds")
    parser.add_argument("--batou-unavailable", metavar="WHY", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        counts = tuple(int(c) for c in args.counts.split(","))
    except ValueError:
        parser.error("--counts takes numbers separated by commas")
    if any(c not in COUNTS for c in counts):
        parser.error(f"--counts: each count must be one of {', '.join(map(str, COUNTS))}")

    use_batou = not args.no_batou and not args.batou_unavailable
    if use_batou and not BATOU_BIN.exists():
        parser.error(f"{BATOU_BIN} is missing: run bench/run, or pass --no-batou")
    if not BERTH.exists():
        parser.error(f"{BERTH} is missing: run bench/run")
    if not FLOOR.exists():
        parser.error(f"{FLOOR} is missing: run bench/run")

    RESULTS.mkdir(exist_ok=True)
    load_before = machine_load()
    samples = {}
    inside = {}  # berth's own `millis` from the summary

    def record(case, result, millis=None):
        samples.setdefault(case, []).append(result.ms)
        if millis is not None:
            inside.setdefault(case, []).append(millis)

    def berth_round(count, timed):
        shutil.rmtree(BERTH_WORK, ignore_errors=True)
        first = berth_deploy(count)
        expect_changed(first, count + 1)  # the files and their folder
        converged = berth_deploy(count)
        expect_changed(converged, 0)
        if timed:
            record(f"berth first {count}", first, first.summary["millis"])
            record(f"berth converged {count}", converged, converged.summary["millis"])

    def floor_round(count, timed):
        modes = ["batched"] + (["each"] if args.full or count <= EACH_MAX else [])
        for mode in modes:
            shutil.rmtree(FLOOR_FILES.parent, ignore_errors=True)
            first = floor_run(mode, count)
            if timed:
                record(f"floor {mode} first {count}", first)
        check = floor_run("check", count)
        if timed:
            record(f"floor check {count}", check)

    def batou_round(count, timed):
        shutil.rmtree(BATOU_WORK, ignore_errors=True)
        first = batou_deploy(count)
        if first.updated < count:
            first.fail(f"batou updated {first.updated} components, expected at least {count}")
        converged = batou_deploy(count)
        if converged.updated != 0:
            converged.fail(f"batou's converged run updated {converged.updated} components")
        if timed:
            record(f"batou first {count}", first)
            record(f"batou converged {count}", converged)

    # Warm-up round, untimed: fills the compile cache, the page cache and
    # Python's bytecode caches; checks that both tools write the same bytes.
    print(f"bench: warm-up, then {args.runs} rounds", file=sys.stderr)
    identical = {}
    floor_identical = {}
    for count in counts:
        berth_round(count, timed=False)
        berth_tree = tree_digest(BERTH_FILES)
        if berth_tree[0] != count:
            raise RunFailed(f"berth wrote {berth_tree[0]} files, expected {count}")
        floor_round(count, timed=False)
        floor_identical[count] = tree_digest(FLOOR_FILES) == berth_tree
        if not floor_identical[count]:
            raise RunFailed(f"the native floor's {count} files differ from berth's")
        if use_batou and count in BATOU_COUNTS:
            batou_round(count, timed=False)
            batou_tree = tree_digest(BATOU_FILES)
            identical[count] = batou_tree == berth_tree
            if not identical[count]:
                print(f"bench: warning: batou's {count} files differ from berth's", file=sys.stderr)

    # Timed rounds. Each round runs every case once, so slow drift in the
    # machine's load hits all cases alike; every converged run follows a
    # deploy of the same environment (the first run of its round).
    for round_ in range(args.runs):
        record("berth --version (floor)", run([str(BERTH), "--version"]))
        for count in counts:
            berth_round(count, timed=True)
            floor_round(count, timed=True)
            if use_batou and count in BATOU_COUNTS:
                batou_round(count, timed=True)
        print(f"bench: round {round_ + 1}/{args.runs} done", file=sys.stderr)

    # Cold compile cache, once: a converged run of 200 files whose component
    # must be compiled first; berth's `loaded` event (-d) gives the load time.
    shutil.rmtree(BERTH_WORK, ignore_errors=True)
    berth_deploy(200)
    with tempfile.TemporaryDirectory(prefix="berth-cold-cache-") as cold:
        cold_run = berth_deploy(200, cache_dir=cold, debug=True)
    expect_changed(cold_run, 0)
    warm_run = berth_deploy(200, debug=True)
    expect_changed(warm_run, 0)

    def load_ms(result):
        for event in result.events:
            if event.get("event") == "loaded":
                return event["millis"], event["cached"]
        return None, None

    cold_load, cold_cached = load_ms(cold_run)
    warm_load, warm_cached = load_ms(warm_run)
    if cold_cached is not False or warm_cached is not True:
        cold_run.fail("the cold run took its component from a cache, or the warm run did not")
    record("berth converged 200, cold cache (1 run)", cold_run, cold_run.summary["millis"])

    # Peak RSS, untimed runs under GNU time: berth converged 200 (the state
    # the cold-cache run left), the process floor, batou converged 200.
    rss = {}
    if os.access(TIME, os.X_OK):
        env = berth_env(WARM_CACHE)
        deploy = [str(BERTH), "deploy", "bench", "--repo", str(BENCH), "--format", "json"]
        rss["berth converged 200"] = [peak_rss_kib(deploy, env) for _ in range(args.runs)]
        rss["berth --version (floor)"] = [
            peak_rss_kib([str(BERTH), "--version"]) for _ in range(args.runs)
        ]
        if use_batou:
            shutil.rmtree(BATOU_WORK, ignore_errors=True)
            batou_deploy(200)
            env = dict(os.environ, APPENV_BASEDIR=str(BATOU))
            rss["batou converged 200"] = [
                peak_rss_kib([str(BATOU_BIN), "deploy", "bench"], env, BATOU)
                for _ in range(BATOU_RSS_RUNS)
            ]
    else:
        print(f"bench: {TIME} is missing (Debian package `time`): no peak RSS", file=sys.stderr)

    load_after = machine_load()

    # Report.
    floor = statistics.median(samples["berth --version (floor)"])
    cases = []
    for case, values in samples.items():
        entry = {"case": case, **stats(values)}
        entry["vs_floor"] = entry["median_ms"] / floor
        if case.startswith("berth ") and "(floor)" not in case:
            other = case.replace("berth ", "batou ", 1).replace(", cold cache (1 run)", "")
            if other in samples:
                entry["baseline"] = other
                entry["vs_batou"] = entry["median_ms"] / statistics.median(samples[other])
        # The native floors of the same work: for a first run the batched
        # and the per-file writes, for a converged run the check.
        parts = case.split()
        if parts[0] == "berth" and len(parts) == 3 and parts[1] in ("first", "converged"):
            count = parts[2]
            names = (
                {"batched": f"floor batched first {count}", "each": f"floor each first {count}"}
                if parts[1] == "first"
                else {"check": f"floor check {count}"}
            )
            for key, name in names.items():
                if name in samples:
                    entry[f"vs_{key}_floor"] = entry["median_ms"] / statistics.median(samples[name])
        if case in inside:
            entry["inside_berth_median_ms"] = statistics.median(inside[case])
        cases.append(entry)

    checks = []
    for case, limit in TARGETS.items():
        if case not in samples:
            continue
        median = statistics.median(samples[case])
        checks.append({"case": case, "target_ms": limit, "median_ms": median, "met": median < limit})
    for case, baseline, limit in RATIO_TARGETS:
        if case not in samples or baseline not in samples:
            continue
        ratio = statistics.median(samples[case]) / statistics.median(samples[baseline])
        checks.append(
            {"case": case, "baseline": baseline, "target_ratio": limit, "ratio": ratio, "met": ratio <= limit}
        )

    width = max(len(c["case"]) for c in cases)
    print()
    print(
        f"{'case':<{width}}  {'median ms':>9}  {'min':>7}  {'max':>7}  {'× --version':>11}"
        f"  {'× batched/check floor':>21}  {'× each floor':>12}  {'vs batou':>21}"
    )
    for c in cases:
        vs = ""
        if "vs_batou" in c:
            vs = f"{c['vs_batou']:.3f} ({1 / c['vs_batou']:.0f}× faster)"
        native = c.get("vs_batched_floor", c.get("vs_check_floor"))
        native = f"{native:.2f}×" if native is not None else ""
        each = f"{c['vs_each_floor']:.2f}×" if "vs_each_floor" in c else ""
        print(
            f"{c['case']:<{width}}  {c['median_ms']:9.1f}  {c['min_ms']:7.1f}  {c['max_ms']:7.1f}"
            f"  {c['vs_floor']:10.1f}×  {native:>21}  {each:>12}  {vs:>21}"
        )
    print()
    for c in cases:
        if "inside_berth_median_ms" in c and "(1 run)" not in c["case"]:
            print(
                f"{c['case']}: berth's own timer (summary millis) median "
                f"{c['inside_berth_median_ms']:.1f} ms of {c['median_ms']:.1f} ms wall"
            )
    for case, values in rss.items():
        print(f"peak RSS {case}: median {statistics.median(values) / 1024:.1f} MiB ({len(values)} runs)")
    print(
        f"component load: cold cache {cold_load:.1f} ms (compile), warm cache {warm_load:.2f} ms"
    )
    if use_batou:
        for count, same in identical.items():
            print(f"batou and berth wrote byte-identical files for {count}: {'yes' if same else 'NO'}")
    elif args.batou_unavailable:
        print(f"batou baseline skipped: {args.batou_unavailable}")
    for when, load in (("start", load_before), ("end", load_after)):
        pressure = load.get("cpu_pressure_some_avg60_percent")
        pressure = f", CPU pressure {pressure:.0f}% (avg60)" if pressure is not None else ""
        print(f"machine load at {when}: loadavg {load['loadavg_1min']:.2f} on {os.cpu_count()} CPUs{pressure}")
    for count, same in floor_identical.items():
        print(f"the native floor and berth wrote byte-identical files for {count}: {'yes' if same else 'NO'}")
    for check in checks:
        verdict = "met" if check["met"] else "MISSED"
        if "target_ms" in check:
            print(f"target {check['case']} < {check['target_ms']:.0f} ms: {verdict} ({check['median_ms']:.1f} ms)")
        else:
            print(
                f"target {check['case']} <= {check['target_ratio']}× {check['baseline']}: "
                f"{verdict} ({check['ratio']:.2f}×)"
            )

    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["bench/run", *sys.argv[1:]]),
        "runs": args.runs,
        "git_commit": git_commit(),
        "machine": {
            "load_at_start": load_before,
            "load_at_end": load_after,
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
        },
        "berth_version": run([str(BERTH), "--version"]).out.strip(),
        "batou": "2.7.1" if use_batou else None,
        "batou_unavailable": args.batou_unavailable,
        "identical_output": {str(k): v for k, v in identical.items()},
        "floor_identical_output": {str(k): v for k, v in floor_identical.items()},
        "counts": list(counts),
        "floor_median_ms": floor,
        "cases": cases,
        "component_load_ms": {"cold": cold_load, "warm": warm_load},
        "targets": checks,
        "peak_rss_median_kib": {case: statistics.median(v) for case, v in rss.items()},
        "samples_ms": samples,
        "peak_rss_kib": rss,
    }
    path = RESULTS / "results.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {path.relative_to(ROOT)}")
    return 0 if all(c["met"] for c in checks) else 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RunFailed as e:
        print(f"bench: a run failed, no figures reported:\n{e}", file=sys.stderr)
        sys.exit(1)
