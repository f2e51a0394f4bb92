#!/usr/bin/env python3
"""Soak: `ckptd run` for a long time under steady saves (issue 10, item 6; not CI).

    cargo build --release
    python3 benches/soak.py [--minutes 60 --runs 200 --every 3 --bin PATH --dir D]

RUNS runs, each saving a small HF-style checkpoint directory every EVERY seconds (the runs
take turns, so saves are spread evenly), under one watch with keep_last = 2 and settle = 1s.
Each minute it samples the daemon's VmRSS, open file descriptors (/proc/PID/fd) and inotify
watches (the `inotify wd:` lines of /proc/PID/fdinfo), and counts WARN and ERROR lines. At the
end it prints the samples and the least-squares slope of each per hour (aim: flat), and checks
that every run holds at most 2 complete checkpoints plus the one being written.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from proc_stats import rss_kib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def inotify_watches(pid):
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                count += sum(line.startswith("inotify wd:") for line in f)
        except OSError:
            pass
    return count


def count_levels(log):
    warn = error = 0
    with open(log, errors="replace") as f:
        for line in f:
            warn += " WARN " in line
            error += " ERROR " in line
    return warn, error


def slope_per_hour(points):
    """Least-squares slope of (seconds, value) points, per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    var = sum((p[0] - mx) ** 2 for p in points)
    if var == 0:
        return 0.0
    return sum((p[0] - mx) * (p[1] - my) for p in points) / var * 3600


def save(run, step):
    """An HF-like save: weights, optimizer, then trainer_state.json last."""
    path = os.path.join(run, f"checkpoint-{step}")
    os.makedirs(path)
    for name, size in (("model.safetensors", 16 * 1024), ("optimizer.pt", 32 * 1024)):
        with open(os.path.join(path, name), "wb") as f:
            f.write(os.urandom(size))
    with open(os.path.join(path, "trainer_state.json"), "w") as f:
        f.write('{"global_step": %d, "log_history": [{"step": %d, "loss": %.4f, "eval_loss": %.4f}]}'
                % (step, step, 1.0 / step, 2.0 / step))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between a run's saves")
    parser.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "ckptd"))
    parser.add_argument("--dir", default=os.path.join(ROOT, "target"))
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="ckptd-soak-", dir=args.dir)
    root = os.path.join(tmp, "runs")
    runs = [os.path.join(root, f"run-{r:03d}") for r in range(args.runs)]
    for run in runs:
        os.makedirs(run)
    config = os.path.join(tmp, "soak.toml")
    with open(config, "w") as f:
        f.write(f'[daemon]\nstate_dir = "{tmp}/state"\n\n[[watch]]\nname = "soak"\n'
                f'runs = ["{root}/*"]\nlayout = "huggingface"\nkeep_last = 2\nsettle = "1s"\n')
    log = os.path.join(tmp, "soak.log")
    daemon = subprocess.Popen([args.bin, "run", "--config", config], stdout=subprocess.DEVNULL,
                              stderr=open(log, "w"), env={**os.environ, "CKPTD_LOG": "info,notify=error"})
    samples = []
    steps = [0] * args.runs
    saves = 0
    try:
        start = time.monotonic()
        end = start + args.minutes * 60
        next_sample = start
        gap = args.every / args.runs
        turn = 0
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                warn, error = count_levels(log)
                samples.append((now - start, rss_kib(daemon.pid), fds(daemon.pid),
                                inotify_watches(daemon.pid), warn, error))
                next_sample += 60
            steps[turn] += 100
            save(runs[turn], steps[turn])
            saves += 1
            turn = (turn + 1) % args.runs
            time.sleep(max(0.0, start + saves * gap - time.monotonic()))
        time.sleep(5)
        warn, error = count_levels(log)
        samples.append((time.monotonic() - start, rss_kib(daemon.pid), fds(daemon.pid),
                        inotify_watches(daemon.pid), warn, error))
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    print(f"soak: {args.runs} runs, a save every {args.every:.1f} s each ({saves} saves in "
          f"{args.minutes:.0f} min), keep_last = 2, settle 1 s; binary {args.bin}")
    print("  minute  VmRSS MiB  fds  inotify watches  WARN  ERROR")
    for t, rss, fd, wd, warn, error in samples:
        print(f"  {t / 60:6.1f}  {rss / 1024:9.1f}  {fd:3d}  {wd:15d}  {warn:4d}  {error:5d}")
    for name, index in (("VmRSS KiB", 1), ("fds", 2), ("inotify watches", 3)):
        # From the second sample: the first is taken while runs are being adopted.
        points = [(s[0], s[index]) for s in samples[1:]]
        print(f"  slope of {name}: {slope_per_hour(points):+.1f} per hour")
    over = []
    for run in runs:
        held = [n for n in os.listdir(run) if n.startswith("checkpoint-")]
        if len(held) > 3:
            over.append((run, len(held)))
    print(f"  runs holding more than 2 complete + 1 in progress: {len(over)}")
    if error := samples[-1][5]:
        print(f"  ERROR lines: {error} (see {log})")
    shutil.rmtree(os.path.join(tmp, "runs"), ignore_errors=True)
    print(f"  log: {log}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
