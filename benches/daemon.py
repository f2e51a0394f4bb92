#!/usr/bin/env python3
"""Daemon benchmarks for `ckptd run` (release build), each against a baseline in the same run.

    cargo build --release && python3 benches/daemon.py [--idle-seconds 300] [--bin PATH]

1. Reaction: a trainer writes a checkpoint; with keep_last = 1 its completion deletes the
   previous one. Reaction = (deletion seen) - (last write) - settle. Baseline: this script's
   own polling latency (the floor of what it can see), reported beside it.
2. Idle cost: CPU time (/proc/PID/schedstat, ns) over --idle-seconds while watching 1,000
   idle runs of 20 checkpoints each; baseline: a `sleep` process over the same window.
3. Memory: VmRSS of the daemon watching those 1,000 x 20 checkpoints; baseline: `sleep`.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from proc_stats import cpu_ns, rss_kib, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "ckptd")


def start(config, log):
    return subprocess.Popen(
        [BINARY, "run", "--config", config],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
        env={**os.environ, "CKPTD_LOG": "warn,ckptd=info"},
    )


def wait_log(log, needle, timeout=300.0):
    wait_for(lambda: needle in open(log).read(), timeout, 0.05)


def reaction(tmp, rounds=25, settle=1.0):
    run = os.path.join(tmp, "reaction", "run")
    os.makedirs(run)
    config = os.path.join(tmp, "reaction.toml")
    with open(config, "w") as f:
        f.write(
            f'[daemon]\nstate_dir = "{tmp}/state-r"\n[[watch]]\nname = "r"\nruns = ["{run}"]\n'
            f'layout = "generic"\npattern = "ckpt-{{step}}.pt"\nkeep_last = 1\nsettle = "{settle}s"\n'
        )
    log = os.path.join(tmp, "reaction.log")
    daemon = start(config, log)
    try:
        wait_log(log, "ckptd ready")
        samples, floor = [], []
        for n in range(1, rounds + 2):
            path = os.path.join(run, f"ckpt-{n}.pt")
            with open(path, "wb") as f:
                for chunk in range(4):
                    if chunk:
                        time.sleep(0.05)
                    f.write(os.urandom(256 * 1024))
                    f.flush()
            last_write = time.time()  # right after the last write reached the file
            previous = os.path.join(run, f"ckpt-{n - 1}.pt")
            if n > 1:
                wait_for(lambda: not os.path.exists(previous), 120)
                samples.append(time.time() - last_write - settle)
            # The observer's own floor: how late this loop notices an existing condition.
            t0 = time.time()
            wait_for(lambda: True, 1)
            floor.append(time.time() - t0)
        return samples, floor
    finally:
        daemon.terminate()
        daemon.wait()


def make_idle_runs(root, runs=1000, per_run=20):
    old = time.time() - 86400
    for r in range(runs):
        run = os.path.join(root, f"run-{r:04d}")
        os.makedirs(run)
        for s in range(1, per_run + 1):
            path = os.path.join(run, f"ckpt-{s * 100}.pt")
            with open(path, "wb") as f:
                f.write(b"x" * 1024)
            os.utime(path, (old + s, old + s))


def idle_and_memory(tmp, seconds, rescan):
    root = os.path.join(tmp, "idle")
    make_idle_runs(root)
    config = os.path.join(tmp, "idle.toml")
    with open(config, "w") as f:
        f.write(
            f'[daemon]\nstate_dir = "{tmp}/state-i"\nrescan_interval = "{rescan}"\n'
            f'[[watch]]\nname = "idle"\nruns = ["{root}/*"]\n'
            'layout = "generic"\npattern = "ckpt-{step}.pt"\nkeep_last = 20\n'
        )
    log = os.path.join(tmp, "idle.log")
    daemon = start(config, log)
    baseline = subprocess.Popen(["sleep", str(seconds + 60)])
    try:
        wait_log(log, "ckptd ready")
        time.sleep(2)
        c0, b0, t0 = cpu_ns(daemon.pid), cpu_ns(baseline.pid), time.monotonic()
        time.sleep(seconds)
        c1, b1, t1 = cpu_ns(daemon.pid), cpu_ns(baseline.pid), time.monotonic()
        return {
            "window_s": t1 - t0,
            "cpu_ns": c1 - c0,
            "baseline_cpu_ns": b1 - b0,
            "rss_kib": rss_kib(daemon.pid),
            "baseline_rss_kib": rss_kib(baseline.pid),
        }
    finally:
        daemon.terminate()
        daemon.wait()
        baseline.kill()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle-seconds", type=float, default=300.0)
    parser.add_argument("--bin", help="the ckptd binary to measure (default: target/release/ckptd)")
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--skip-idle", action="store_true", help="only measure reaction")
    parser.add_argument("--skip-reaction", action="store_true", help="only measure idle cost")
    parser.add_argument("--rescan", default="5m", help="rescan_interval for the idle test")
    args = parser.parse_args()
    global BINARY
    if args.bin:
        BINARY = os.path.abspath(args.bin)
    if not os.path.exists(BINARY):
        sys.exit("build first: cargo build --release")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_reaction:
            samples, floor = reaction(tmp, args.rounds)
            ms = sorted(s * 1000 for s in samples)
            print(f"reaction (last write -> deletion, minus settle), {len(ms)} rounds:")
            print(f"  median {statistics.median(ms):.1f} ms, p90 {ms[int(len(ms) * 0.9)]:.1f} ms, "
                  f"min {ms[0]:.1f} ms, max {ms[-1]:.1f} ms")
            print(f"  baseline (this script's own polling floor): median "
                  f"{statistics.median(floor) * 1000:.3f} ms")
        if args.skip_idle:
            return
        idle = idle_and_memory(tmp, args.idle_seconds, args.rescan)
        share = idle["cpu_ns"] / (idle["window_s"] * 1e9) * 100
        print(f"idle cost over {idle['window_s']:.0f} s, 1,000 runs x 20 checkpoints, "
              f"rescan_interval {args.rescan}:")
        print(f"  ckptd {idle['cpu_ns'] / 1e6:.1f} ms CPU = {share:.4f}% of a core; "
              f"baseline sleep {idle['baseline_cpu_ns'] / 1e6:.3f} ms")
        print(f"memory: ckptd VmRSS {idle['rss_kib'] / 1024:.1f} MiB; "
              f"baseline sleep {idle['baseline_rss_kib'] / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
