#!/usr/bin/env python3
"""berth's remote deploy benchmark: deploys over SSH to loopback hosts.

Starts one OpenSSH server listening on 127.0.0.2 to 127.0.0.21 (generated
keys, its own sshd_config, in a temporary folder), makes one login user per
host (removed at the end), and times whole `berth deploy` runs of the
`many-files` component of bench/, each over a new SSH connection:

- `ssh HOST true`: the bare cost of a new connection, the floor;
- first 200 files (the store on the target already filled);
- first 200 files with an empty target (agent and package uploaded, the
  component compiled on the target) - one run;
- converged 200 files, converged 0 files (the fixed cost);
- converged 200 files with every event written on its own
  (BERTH_AGENT_FLUSH=each): what batching saves on a channel where OpenSSH
  leaves Nagle's algorithm on (small writes wait for delayed ACKs);
- converged fan-out: 200 files to each of 20 hosts, --jobs 20.

Needs root (sshd, useradd), target/release/berth and the bench component
(`bench/run --no-batou` builds both), and the static agent
(target/x86_64-unknown-linux-musl/agent/berth; BERTH_AGENT names another).
See bench/README.md.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BERTH = ROOT / "target" / "release" / "berth"
AGENT = ROOT / "target" / "x86_64-unknown-linux-musl" / "agent" / "berth"
HOSTS = 20
ENVS = {
    "ssh-200": (1, 200),
    "ssh-0": (1, 0),
    "ssh-fanout": (HOSTS, 200),
}
# Issue 8: a converged 200-file redeploy over a new connection under 300 ms
# wall, and no more than 60 ms above the bare connection.
TARGET_WALL_MS = 300.0
TARGET_ABOVE_SSH_MS = 60.0


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, **kw)


def timed(argv, env):
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    ms = (time.perf_counter() - start) * 1000.0
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return ms, proc.stdout


class Loopback:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="berth-bench-ssh-"))
        os.chmod(self.dir, 0o755)
        self.users = []
        self.sshd = None

    def start(self):
        d = self.dir
        for key in ("host_key", "user_key"):
            sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key))
        shutil.copy(d / "user_key.pub", d / "authorized_keys")
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
            self.port = s.getsockname()[1]
        listen = "".join(f"ListenAddress 127.0.0.{i + 2}:{self.port}\n" for i in range(HOSTS))
        (d / "sshd_config").write_text(
            listen
            + f"HostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\nPidFile none\n"
            "StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UsePAM no\nSubsystem sftp internal-sftp\nLogLevel ERROR\nMaxStartups 100\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)
        self.sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", str(d / "sshd_config")],
                                     stderr=subprocess.DEVNULL)
        for i in range(HOSTS):
            name = f"bb{os.getpid() % 10000}h{i + 1:02d}"
            home = d / f"home-{i + 1:02d}"
            home.mkdir()
            sh("useradd", "-M", "-s", "/bin/sh", "-p", "*", "-d", str(home), name)
            sh("chown", name, str(home))
            self.users.append((name, home))
        key = (d / "host_key.pub").read_text().split()[:2]
        (d / "known_hosts").write_text(f"berth-bench {' '.join(key)}\n")
        config = ""
        for i, (name, _) in enumerate(self.users):
            config += f"Host h{i + 1:02d}.bench.test\n  HostName 127.0.0.{i + 2}\n  User {name}\n"
        config += (f"Host *\n  Port {self.port}\n  IdentityFile {d}/user_key\n  IdentitiesOnly yes\n"
                   f"  UserKnownHostsFile {d}/known_hosts\n  HostKeyAlias berth-bench\n  BatchMode yes\n")
        (d / "ssh_config").write_text(config)
        for env, (hosts, count) in ENVS.items():
            (BENCH / f"ssh_config_{env}").write_text(config)
            lines = "".join(f"h{i + 1:02d} = many-files\n" for i in range(hosts))
            (BENCH / "environments" / f"{env}.cfg").write_text(
                "# Written by bench/remote.py.\n[environment]\nconnect_method = ssh\n"
                f"host_domain = bench.test\njobs = {HOSTS}\n\n[hosts]\n{lines}\n"
                f"[component:many-files]\ncount = {count}\n"
            )
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.2", self.port), 1).close()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit("sshd did not start")
                time.sleep(0.05)

    def stop(self):
        if self.sshd:
            self.sshd.kill()
            self.sshd.wait()
        for name, _ in self.users:
            subprocess.run(["userdel", "-f", name], capture_output=True)
        for env in ENVS:
            (BENCH / f"ssh_config_{env}").unlink(missing_ok=True)
            (BENCH / "environments" / f"{env}.cfg").unlink(missing_ok=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def deploy(env, extra_env, expect_changed=None):
    ms, out = timed([str(BERTH), "deploy", env, "--repo", str(BENCH), "--format", "json"], extra_env)
    summary = json.loads(out.splitlines()[-1])
    if summary.get("event") != "summary" or summary["failed"] != 0:
        sys.exit(f"berth deploy {env}: {summary}")
    if expect_changed is not None and summary["changed"] != expect_changed:
        sys.exit(f"berth deploy {env}: changed {summary['changed']}, expected {expect_changed}")
    return ms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    if os.getuid() != 0:
        sys.exit("bench/remote.py needs root (sshd, useradd)")
    agent = Path(os.environ.get("BERTH_AGENT", AGENT))
    if not agent.is_file():
        sys.exit(f"no agent at {agent}: run scripts/setup, or set BERTH_AGENT")
    env = dict(os.environ, BERTH_AGENT=str(agent), BERTH_CACHE_DIR=str(BENCH / ".results" / "cache"))
    lb = Loopback()
    results = {}
    try:
        lb.start()
        home = lb.users[0][1]
        ssh = ["ssh", "-F", str(lb.dir / "ssh_config"), "h01.bench.test", "true"]
        # Warm-up: fills every store and cache.
        deploy("ssh-fanout", env)
        deploy("ssh-0", env)
        # The first deploy to an empty target, once.
        for _, h in lb.users[:1]:
            shutil.rmtree(h / ".berth", ignore_errors=True)
            shutil.rmtree(h / "deployment", ignore_errors=True)
        results["first 200, empty target (1 run)"] = [deploy("ssh-200", env, 201)]
        cases = {k: [] for k in ("ssh h01 true", "first 200", "converged 200", "converged 0",
                                 "converged 200, each event its own write",
                                 "converged fan-out 20x200")}
        each = dict(env, BERTH_AGENT_FLUSH="each")
        for _ in range(args.runs):
            cases["ssh h01 true"].append(timed(ssh, env)[0])
            shutil.rmtree(home / "deployment" / "work", ignore_errors=True)
            cases["first 200"].append(deploy("ssh-200", env, 201))
            cases["converged 200"].append(deploy("ssh-200", env, 0))
            deploy("ssh-0", env)
            cases["converged 0"].append(deploy("ssh-0", env, 0))
            cases["converged 200, each event its own write"].append(deploy("ssh-200", each, 0))
            cases["converged fan-out 20x200"].append(deploy("ssh-fanout", env, 0))
        results.update(cases)
        agent_size = agent.stat().st_size
    finally:
        lb.stop()
    print(f"{'case':40} {'median':>9} {'min':>9} {'max':>9}  runs")
    table = {}
    for case, samples in results.items():
        med = statistics.median(samples)
        table[case] = {"median_ms": med, "min_ms": min(samples), "max_ms": max(samples), "runs": len(samples)}
        print(f"{case:40} {med:9.1f} {min(samples):9.1f} {max(samples):9.1f}  {len(samples)}")
    bare = table["ssh h01 true"]["median_ms"]
    above = table["converged 200"]["median_ms"] - bare
    print(f"\n{'case':40} {'x ssh':>9} {'- ssh ms':>9}")
    for case, row in table.items():
        print(f"{case:40} {row['median_ms'] / bare:9.2f} {row['median_ms'] - bare:9.1f}")
    print(f"\nconverged 200: {table['converged 200']['median_ms']:.1f} ms wall (target < {TARGET_WALL_MS:.0f}), "
          f"{above:.1f} ms above the bare connection (target <= {TARGET_ABOVE_SSH_MS:.0f})")
    print(f"agent: {agent} ({agent_size / 1024 / 1024:.1f} MiB)")
    out = BENCH / ".results"
    out.mkdir(exist_ok=True)
    (out / "remote.json").write_text(json.dumps(
        {"cases": table, "samples": results, "above_ssh_ms": above, "agent_bytes": agent_size,
         "load": os.getloadavg()[0]}, indent=2))
    met = table["converged 200"]["median_ms"] < TARGET_WALL_MS and above <= TARGET_ABOVE_SSH_MS
    sys.exit(0 if met else 2)


if __name__ == "__main__":
    main()
