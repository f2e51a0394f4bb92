#!/usr/bin/env python3
"""Scale benchmarks for ckptd (release build), each against a baseline in the same run.

    cargo build --release
    python3 benches/scale.py runs    [--runs 10000 --checkpoints 50 --idle-seconds 120]
    python3 benches/scale.py delete  [--checkpoints 20000 --kind file|dir]
    python3 benches/scale.py backlog [--checkpoints 100000]

`--bin PATH` measures another binary (0.1, say); `--dir D` builds the trees under D (default:
a temporary directory under target/, on the repository's filesystem).

runs:    `ckptd run` over RUNS idle runs of CHECKPOINTS files each. Reports the time from start
         to "ckptd ready" (baseline: `find` over the same tree), then, from a few seconds after
         ready, CPU time over --idle-seconds (/proc/PID/schedstat) and overflow WARNs, VmRSS,
         and the reaction: a new checkpoint in one run (keep_last = CHECKPOINTS) deletes that
         run's oldest; reaction = deletion seen - last write - settle. Baseline for the
         reaction: this script's own polling floor. Then a restart: time to ready again,
         with the ledger written by the first start to read.
delete:  `ckptd prune` of one run of CHECKPOINTS small checkpoints with keep_last = 1, against
         `rm -rf` of the same checkpoints in an identical tree built beside it.
backlog: `ckptd run` started on one run of CHECKPOINTS small checkpoints with keep_last = 1:
         time to "ckptd ready" and to the last deletion, against `rm -rf` of an identical tree.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from proc_stats import cpu_ns, rss_kib, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "ckptd")
OLD = time.time() - 30 * 86400  # older than any step offset added to it


def log_has(log, needle):
    with open(log, errors="replace") as f:
        return needle in f.read()


def count_in_log(log, needle):
    with open(log, errors="replace") as f:
        return sum(needle in line for line in f)


def start(config, log, level=os.environ.get("CKPTD_BENCH_LOG", "warn,ckptd=info")):
    return subprocess.Popen(
        [BINARY, "run", "--config", config],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
        env={**os.environ, "CKPTD_LOG": level},
    )


def stop(daemon):
    daemon.terminate()
    try:
        daemon.wait(timeout=60)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()


def write_checkpoint(run, step, kind, stamp=OLD):
    if kind == "file":
        path = os.path.join(run, f"ckpt-{step}.pt")
        with open(path, "wb") as f:
            f.write(b"x" * 64)
    else:
        path = os.path.join(run, f"checkpoint-{step}")
        os.mkdir(path)
        for part in ("model.bin", "optimizer.bin"):
            inner = os.path.join(path, part)
            with open(inner, "wb") as f:
                f.write(b"x" * 64)
            os.utime(inner, (stamp + step, stamp + step))
    os.utime(path, (stamp + step, stamp + step))
    return path


def pattern(kind):
    return "ckpt-{step}.pt" if kind == "file" else "checkpoint-{step}"


def config_text(state, runs, kind, keep_last, extra=""):
    return (
        f'[daemon]\nstate_dir = "{state}"\n{extra}'
        f'[[watch]]\nname = "bench"\nruns = ["{runs}"]\nlayout = "generic"\n'
        f'pattern = "{pattern(kind)}"\nkeep_last = {keep_last}\nsettle = "1s"\n'
    )


def timed(argv, **kwargs):
    t0 = time.monotonic()
    result = subprocess.run(argv, **kwargs)
    return time.monotonic() - t0, result


def bench_runs(tmp, args):
    root = os.path.join(tmp, "runs")
    t0 = time.monotonic()
    for r in range(args.runs):
        run = os.path.join(root, f"run-{r:05d}")
        os.makedirs(run)
        for s in range(1, args.checkpoints + 1):
            write_checkpoint(run, s * 100, "file")
    print(f"tree: {args.runs} runs x {args.checkpoints} files, built in "
          f"{time.monotonic() - t0:.0f} s")
    find_s, _ = timed(["find", root, "-type", "f"], stdout=subprocess.DEVNULL)
    config = os.path.join(tmp, "runs.toml")
    with open(config, "w") as f:
        f.write(config_text(f"{tmp}/state-runs", f"{root}/*", "file", args.checkpoints,
                            f'rescan_interval = "{args.rescan}"\n'))
    log = os.path.join(tmp, "runs.log")
    started = time.monotonic()
    daemon = start(config, log)
    try:
        wait_for(lambda: log_has(log, "ckptd ready"), timeout=900, step=0.05)
        ready_s = time.monotonic() - started
        print(f"ready: {ready_s:.1f} s after start (baseline `find` over the tree: {find_s:.2f} s); "
              f"CPU to ready {cpu_ns(daemon.pid) / 1e9:.1f} s")
        time.sleep(args.quiet_after_ready)
        warns0 = count_in_log(log, "WARN")
        c0, w0 = cpu_ns(daemon.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        c1, w1 = cpu_ns(daemon.pid), time.monotonic()
        share = (c1 - c0) / ((w1 - w0) * 1e9) * 100
        print(f"idle over {w1 - w0:.0f} s (from {args.quiet_after_ready:.0f} s after ready): "
              f"{(c1 - c0) / 1e6:.1f} ms CPU = {share:.4f}% of a core; "
              f"WARN lines {count_in_log(log, 'WARN') - warns0} "
              f"(overflow WARNs in all: {count_in_log(log, 'event queue overflowed')})")
        print(f"memory: VmRSS {rss_kib(daemon.pid) / 1024:.1f} MiB")
        samples, floor = [], []
        for n in range(args.rounds):
            run = os.path.join(root, f"run-{(n * 7919) % args.runs:05d}")
            step = (args.checkpoints + 1 + n) * 100
            oldest = min(os.listdir(run), key=lambda name: int(name[5:-3]) if name.startswith("ckpt-") else 1 << 60)
            path = os.path.join(run, f"ckpt-{step}.pt")
            with open(path, "wb") as f:
                f.write(os.urandom(64 * 1024))
                f.flush()
            last_write = time.time()
            wait_for(lambda: not os.path.exists(os.path.join(run, oldest)), timeout=60)
            samples.append(time.time() - last_write - 1.0)
            t0 = time.time()
            wait_for(lambda: True, 1)
            floor.append(time.time() - t0)
        ms = sorted(s * 1000 for s in samples)
        print(f"reaction (last write -> deletion, minus settle), {len(ms)} rounds: median "
              f"{statistics.median(ms):.1f} ms, p90 {ms[int(len(ms) * 0.9)]:.1f} ms, max {ms[-1]:.1f} ms; "
              f"baseline polling floor {statistics.median(floor) * 1000:.3f} ms")
        print(f"memory after the reaction rounds: VmRSS {rss_kib(daemon.pid) / 1024:.1f} MiB")
    finally:
        stop(daemon)
    # A restart: the ledger (one `complete` line per checkpoint seen) is read back at start.
    ledger = os.path.join(tmp, "state-runs", "ledger.jsonl")
    size = os.path.getsize(ledger) if os.path.exists(ledger) else 0
    log = os.path.join(tmp, "runs-restart.log")
    started = time.monotonic()
    daemon = start(config, log)
    try:
        wait_for(lambda: log_has(log, "ckptd ready"), timeout=900, step=0.05)
        print(f"restart: ready {time.monotonic() - started:.1f} s after start, with a ledger of "
              f"{size / 2**20:.1f} MiB; VmRSS {rss_kib(daemon.pid) / 1024:.1f} MiB")
    finally:
        stop(daemon)


def build_run(run, count, kind):
    os.makedirs(run)
    for s in range(1, count + 1):
        write_checkpoint(run, s, kind)


def victims(run, count, kind):
    """Every checkpoint but the newest, as paths."""
    name = (lambda s: f"ckpt-{s}.pt") if kind == "file" else (lambda s: f"checkpoint-{s}")
    return [os.path.join(run, name(s)) for s in range(1, count)]


def rm_baseline(run, count, kind):
    paths = victims(run, count, kind)
    listing = run + ".victims"
    with open(listing, "wb") as f:
        f.write(b"\0".join(p.encode() for p in paths))
    subprocess.run(["sync"])
    seconds, _ = timed(["sh", "-c", f"xargs -0 rm -rf < '{listing}'"])
    assert not any(os.path.exists(p) for p in paths[:10])
    return seconds


def bench_delete(tmp, args):
    for_rm = os.path.join(tmp, "rm", "run")
    for_ckptd = os.path.join(tmp, "ckptd", "run")
    build_run(for_rm, args.checkpoints, args.kind)
    build_run(for_ckptd, args.checkpoints, args.kind)
    config = os.path.join(tmp, "delete.toml")
    with open(config, "w") as f:
        f.write(config_text(f"{tmp}/state-delete", for_ckptd, args.kind, 1))
    rm_s = rm_baseline(for_rm, args.checkpoints, args.kind)
    subprocess.run(["sync"])
    ckptd_s, result = timed([BINARY, "prune", "--config", config], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env={**os.environ, "CKPTD_LOG": "warn"})
    left = len([n for n in os.listdir(for_ckptd) if not n.startswith(".")])
    print(f"delete {args.checkpoints - 1} of {args.checkpoints} {args.kind} checkpoints: "
          f"ckptd prune {ckptd_s:.2f} s (exit {result.returncode}, {left} left), "
          f"rm -rf {rm_s:.2f} s: ratio {ckptd_s / rm_s:.2f}")


def bench_backlog(tmp, args):
    for_rm = os.path.join(tmp, "rm", "run")
    for_ckptd = os.path.join(tmp, "ckptd", "run")
    build_run(for_rm, args.checkpoints, args.kind)
    build_run(for_ckptd, args.checkpoints, args.kind)
    rm_s = rm_baseline(for_rm, args.checkpoints, args.kind)
    config = os.path.join(tmp, "backlog.toml")
    with open(config, "w") as f:
        f.write(config_text(f"{tmp}/state-backlog", for_ckptd, args.kind, 1))
    log = os.path.join(tmp, "backlog.log")
    subprocess.run(["sync"])
    started = time.monotonic()
    daemon = start(config, log)
    try:
        wait_for(lambda: log_has(log, "ckptd ready"), timeout=1800, step=0.01)
        ready_s = time.monotonic() - started
        wait_for(lambda: len(os.listdir(for_ckptd)) <= 3, timeout=1800, step=0.1)
        done_s = time.monotonic() - started
        print(f"backlog of {args.checkpoints - 1} {args.kind} checkpoints: ready after "
              f"{ready_s:.1f} s, all deleted after {done_s:.1f} s; rm -rf {rm_s:.2f} s: "
              f"ratio {done_s / rm_s:.2f}")
    finally:
        stop(daemon)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", choices=["runs", "delete", "backlog"])
    parser.add_argument("--bin", help="the ckptd binary (default: target/release/ckptd)")
    parser.add_argument("--dir", help="where to build the trees (default: under target/)")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--checkpoints", type=int)
    parser.add_argument("--kind", choices=["file", "dir"], default="file")
    parser.add_argument("--idle-seconds", type=float, default=120.0)
    parser.add_argument("--quiet-after-ready", type=float, default=10.0)
    parser.add_argument("--rescan", default="5m")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    if args.checkpoints is None:
        args.checkpoints = {"runs": 50, "delete": 20_000, "backlog": 100_000}[args.bench]
    global BINARY
    if args.bin:
        BINARY = os.path.abspath(args.bin)
    if not os.path.exists(BINARY):
        sys.exit("build first: cargo build --release")
    base = args.dir or os.path.join(ROOT, "target")
    os.makedirs(base, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="ckptd-scale-", dir=base)
    try:
        {"runs": bench_runs, "delete": bench_delete, "backlog": bench_backlog}[args.bench](tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
