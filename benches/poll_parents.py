#!/usr/bin/env python3
"""What polling costs: `ckptd run` (release build) idle over 1,000 runs under 50 parent
directories, polled, against the same tree watched with inotify on the local filesystem.

    cargo build --release && python3 benches/poll_parents.py   # as root for the FUSE mount

The tree: ROOT/parent-NN/run-NNNN, --parents x --runs-per-parent runs of --checkpoints old
files each, one watch `runs = ["ROOT/*/*"]` (51 directories above the runs: ROOT and each
parent), `keep_last` = --checkpoints (nothing to delete), every other setting at its default
(`poll_interval` 10 s, `rescan_interval` 5 m).

- polled: the tree seen through a bindfs (FUSE) mount, `watcher = "auto"` (which polls FUSE),
  when this process may mount FUSE (root, /dev/fuse, bindfs installed); else, or with
  `--polled poll`, the local tree with `watcher = "poll"`. Reported beside ckptd: the CPU time
  of the bindfs process over the same window (the FUSE server's share of each look).
- local: the same tree, `watcher = "auto"` on the local filesystem (inotify).

Each: start, wait for "ckptd ready", wait --warmup seconds (45: past the checkpoints found at
start settling and the next poll of every run),
then utime + stime of the daemon (/proc/PID/stat) over --idle-seconds (120). The ratio is
polled / local. `--bin PATH` measures another binary; `--only polled|local` one side;
`--dir D` builds the tree under D (default: a temporary directory under target/).
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from proc_stats import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "ckptd")
OLD = time.time() - 30 * 86400
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of `pid` so far, in seconds (/proc/PID/stat, clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of the whole line; the split above starts at field 3.
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_ns_all_threads(pid):
    """CPU time of every thread of `pid` so far, in nanoseconds (/proc/PID/task/*/schedstat;
    /proc/PID/schedstat alone is the main thread's)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass  # a thread that ended meanwhile (its time is in utime/stime)
    return total


def log_has(log, needle):
    with open(log, errors="replace") as f:
        return needle in f.read()


def count_in_log(log, needle):
    with open(log, errors="replace") as f:
        return sum(needle in line for line in f)


def build_tree(root, args):
    for p in range(args.parents):
        for r in range(args.runs_per_parent):
            run = os.path.join(root, f"parent-{p:02d}", f"run-{r:04d}")
            os.makedirs(run)
            for s in range(1, args.checkpoints + 1):
                path = os.path.join(run, f"ckpt-{s * 100}.pt")
                with open(path, "wb") as f:
                    f.write(b"x" * 64)
                os.utime(path, (OLD + s, OLD + s))


def can_mount_fuse():
    return os.geteuid() == 0 and os.path.exists("/dev/fuse") and shutil.which("bindfs")


class Bindfs:
    """`source` mounted at `at` with bindfs in the foreground (so its CPU time can be read);
    always unmounted."""

    def __init__(self, source, at):
        os.makedirs(at, exist_ok=True)
        self.at = at
        self.proc = subprocess.Popen(["bindfs", "-f", source, at])
        wait_for(lambda: os.path.ismount(at), timeout=30, step=0.05)

    def close(self):
        subprocess.run(["umount", self.at], check=False)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            subprocess.run(["umount", "-l", self.at], check=False)
            self.proc.kill()
            self.proc.wait()


def measure(tmp, name, runs_glob, watcher, args, server=None):
    """Idle CPU seconds of `ckptd run` over args.idle_seconds (utime + stime, and the
    scheduler's nanoseconds of all its threads, finer than a clock tick), and of `server`."""
    config = os.path.join(tmp, f"{name}.toml")
    with open(config, "w") as f:
        f.write(
            f'[daemon]\nstate_dir = "{tmp}/state-{name}"\n'
            f'[[watch]]\nname = "bench"\nruns = ["{runs_glob}"]\nlayout = "generic"\n'
            f'pattern = "ckpt-{{step}}.pt"\nkeep_last = {args.checkpoints}\n'
            f'watcher = "{watcher}"\n'
        )
    log = os.path.join(tmp, f"{name}.log")
    daemon = subprocess.Popen(
        [args.bin, "run", "--config", config],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
        env={**os.environ, "CKPTD_LOG": "warn,ckptd=info"},
    )
    try:
        wait_for(lambda: log_has(log, "ckptd ready"), timeout=600, step=0.05)
        time.sleep(args.warmup)
        c0, n0 = cpu_seconds(daemon.pid), cpu_ns_all_threads(daemon.pid)
        s0, w0 = server and cpu_seconds(server.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        c1, n1 = cpu_seconds(daemon.pid), cpu_ns_all_threads(daemon.pid)
        s1, w1 = server and cpu_seconds(server.pid), time.monotonic()
        polled = count_in_log(log, "polled=true")
        print(f"{name}: {c1 - c0:.2f} s CPU (utime+stime; schedstat {(n1 - n0) / 1e6:.1f} ms) "
              f"over {w1 - w0:.0f} s ({(n1 - n0) / 1e9 / (w1 - w0) * 100:.3f}% of a core); "
              f"{count_in_log(log, 'managing run')} runs, {polled} polled"
              + (f"; bindfs {s1 - s0:.2f} s CPU" if server else ""), flush=True)
        return (n1 - n0) / 1e9, (s1 - s0 if server else None)
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parents", type=int, default=50)
    parser.add_argument("--runs-per-parent", type=int, default=20)
    parser.add_argument("--checkpoints", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=120)
    # Past the first look's checkpoints settling (settle 30 s; on FUSE the clock is unknown, so
    # ckptd times them itself) and the first poll of every run after it.
    parser.add_argument("--warmup", type=float, default=45)
    parser.add_argument("--polled", choices=["fuse", "poll"], default=None)
    parser.add_argument("--only", choices=["polled", "local"])
    parser.add_argument("--bin", default=BINARY)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the daemon is stopped and the mount always unmounted.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} not found: cargo build --release first")
    polled_kind = args.polled or ("fuse" if can_mount_fuse() else "poll")
    if polled_kind == "fuse" and not can_mount_fuse():
        sys.exit("--polled fuse needs root, /dev/fuse and bindfs (apt-get install bindfs)")
    base = args.dir or os.path.join(ROOT, "target")
    os.makedirs(base, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="poll-parents-", dir=base) as tmp:
        root = os.path.join(tmp, "tree")
        t0 = time.monotonic()
        build_tree(root, args)
        total = args.parents * args.runs_per_parent
        print(f"tree: {total} runs under {args.parents} parents, {args.checkpoints} files each, "
              f"built in {time.monotonic() - t0:.0f} s; binary {args.bin}", flush=True)
        results = {}
        if args.only != "local":
            if polled_kind == "fuse":
                mount = Bindfs(root, os.path.join(tmp, "mnt"))
                try:
                    results["polled"] = measure(tmp, "polled-fuse", f"{mount.at}/*/*", "auto",
                                                args, server=mount.proc)
                finally:
                    mount.close()
            else:
                results["polled"] = measure(tmp, "polled-poll", f"{root}/*/*", "poll", args)
        if args.only != "polled":
            results["local"] = measure(tmp, "local-inotify", f"{root}/*/*", "auto", args)
        if len(results) == 2:
            polled, local = results["polled"][0], results["local"][0]
            ratio = f"{polled / local:.0f}x" if local > 0 else "local used no measurable CPU"
            print(f"ratio polled / local (schedstat): {ratio}")


if __name__ == "__main__":
    main()
