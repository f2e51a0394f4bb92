#!/usr/bin/env python3
"""Benchmark P2: peak disk use of a training run under ckptd, against a cron job (release build).

    cargo build --release && python3 benches/disk_peak.py [--bin PATH] [--size-mib 8] [--keep 3]
        [--saves 40] [--settle 1] [--only ckptd|cron|floor] [--logs DIR] [--dir DIR]

Needs root (it mounts a tmpfs, under its own temporary directory below target/ or --dir, and
always unmounts it). A simulated Hugging Face Trainer saves --saves checkpoints of --size-mib MiB,
one every 2 s (time-scaled): `checkpoint-{step}/` with `model.safetensors` (3/4 of the bytes,
in 1 MiB chunks over about 0.3 s), `optimizer.pt`, `config.json`, and `trainer_state.json`
({"global_step": step, "log_history": []}) last. A thread samples the tmpfs's used bytes
(statvfs: (f_blocks - f_bfree) * f_frsize) every 20 ms. Each scenario starts on a fresh run
directory on an emptied tmpfs; peaks are above what was used before it started.

a) ckptd: `ckptd run`, layout huggingface, keep_last = K, settle = "1s". Ideal peak: (K+1) x S,
   the K kept checkpoints and the one being written.
b) cron: the usual alternative, every 15 s (a minute, time-scaled), in the run directory:
       ls -1d checkpoint-* | sort -t- -k2 -n | head -n -K | xargs -r rm -rf
   Its first run is 15.65 s after the first save began, a phase that never falls inside a save
   (15 s is not a multiple of 2 s, so the phase alternates between 0.65 s and 1.65 s after a
   save's start): each run sees complete checkpoints only. One that landed inside a save would
   count the partial checkpoint among the K newest, and keep one complete checkpoint fewer.
c) floor crossing: `ckptd run` with keep_last = 20, `[[filesystem]] min_free` on the tmpfs and
   `disk_check_interval = "1s"`. Six checkpoints are written (nothing to delete), then a file
   outside the run pushes free space below min_free; measured: from the end of that write to
   free space back at min_free or above (ckptd deletes the oldest checkpoints, reason
   `pressure`). A ckptd whose `check` refuses that config skips this scenario and says why.

For a) and b), "surplus gone after" is the time from the last write of save i to the moment
save i-K's directory vanished from the run (the listing is taken with every sample).
Exit status 1 when something failed (a write, the daemon, a deletion that never came, the
mount); the ratios have no thresholds.
"""
import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from proc_stats import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "ckptd")
MiB = 1 << 20
PAGE = 4096
EVERY = 2.0  # seconds between saves
WRITE = 0.3  # seconds a save takes
SETTLE = 1.0
CRON_EVERY = 15.0
CRON_PHASE = 0.65  # after a save's start: cron runs never fall inside a save
LOG_LEVEL = os.environ.get("CKPTD_BENCH_LOG", "warn,ckptd=info")


class Failure(Exception):
    pass


def used_bytes(path):
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def mount_tmpfs(at, size):
    os.makedirs(at, exist_ok=True)
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size // 1024}k", "tmpfs", at],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise Failure(f"mount tmpfs at {at} failed (run as root): {out.stderr.strip()}")


def unmount(at):
    if subprocess.run(["umount", at], stderr=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["umount", "-l", at], stderr=subprocess.DEVNULL)


def empty(directory):
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


class Sampler(threading.Thread):
    """Used bytes of the filesystem every `interval`, and when each checkpoint left the run."""

    def __init__(self, fs, run, interval=0.02):
        super().__init__(daemon=True)
        self.fs, self.run_dir, self.interval = fs, run, interval
        self.baseline = used_bytes(fs)
        self.peak, self.peak_at, self.peak_listing = self.baseline, 0.0, []
        self.samples = 0
        self.vanished = {}  # checkpoint name -> monotonic time it was first seen gone
        self.error = None
        self._halt = threading.Event()

    def listing(self):
        try:
            return {n for n in os.listdir(self.run_dir) if n.startswith("checkpoint-")}
        except FileNotFoundError:
            return set()

    def run(self):
        seen = set()
        try:
            while True:
                last = self._halt.is_set()  # one more sample after stop(): the final state
                now = time.monotonic()
                used = used_bytes(self.fs)
                names = self.listing()
                for gone in seen - names:
                    self.vanished.setdefault(gone, now)
                seen = names
                self.samples += 1
                if used > self.peak:
                    self.peak, self.peak_at = used, now
                    self.peak_listing = sorted(names, key=lambda n: int(n.split("-")[1]))
                if last:
                    return
                self._halt.wait(self.interval)
        except Exception as e:  # reported by stop()
            self.error = e

    def stop(self):
        self._halt.set()
        self.join()
        if self.error:
            raise Failure(f"sampler: {self.error!r}")
        return self.peak - self.baseline


def write_chunks(path, size, chunk, pause):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            f.write(b"\0" * n)
            f.flush()
            left -= n
            if left > 0 and pause:
                time.sleep(pause)


def save_checkpoint(run, step, size, write_time=WRITE):
    """One Trainer save of `size` bytes on disk (4 KiB pages): the weights in 1 MiB chunks over
    about `write_time`, the optimizer, the config, then trainer_state.json last."""
    ckpt = os.path.join(run, f"checkpoint-{step}")
    os.mkdir(ckpt)
    optimizer = size // 4 // PAGE * PAGE
    model = size - optimizer - 2 * PAGE  # config.json and trainer_state.json take a page each
    chunks = max(1, -(-model // MiB))
    write_chunks(os.path.join(ckpt, "model.safetensors"), model, MiB, write_time / chunks)
    write_chunks(os.path.join(ckpt, "optimizer.pt"), optimizer, MiB, 0)
    with open(os.path.join(ckpt, "config.json"), "w") as f:
        json.dump({"model_type": "bert", "hidden_size": 768}, f)
    with open(os.path.join(ckpt, "trainer_state.json"), "w") as f:
        json.dump({"global_step": step, "log_history": []}, f)
    return time.monotonic()


def train(run, args, size, on_save=None, on_start=None):
    """--saves saves, one every EVERY seconds from now; returns [(step, last write)]."""
    os.makedirs(run, exist_ok=True)
    t0 = time.monotonic()
    if on_start:
        on_start(t0)
    done = []
    for i in range(args.saves):
        delay = t0 + i * EVERY - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        step = (i + 1) * 500
        try:
            done.append((step, save_checkpoint(run, step, size)))
        except OSError as e:
            raise Failure(f"save of checkpoint-{step} failed: {e}")
        if on_save:
            on_save()
    return t0, done


def surplus_lags(done, vanished, keep):
    """For save i, seconds from its last write to save i-keep's directory vanishing."""
    lags = []
    for i in range(keep, len(done)):
        gone = vanished.get(f"checkpoint-{done[i - keep][0]}")
        if gone is not None:
            lags.append(gone - done[i][1])
    return lags


def start_daemon(config, log):
    return subprocess.Popen(
        [BINARY, "run", "--config", config],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
        env={**os.environ, "CKPTD_LOG": LOG_LEVEL},
    )


def stop_daemon(daemon):
    if daemon.poll() is None:
        daemon.terminate()
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def wait_log(daemon, log, needle, timeout):
    def seen():
        if daemon.poll() is not None:
            raise Failure(f"ckptd exited ({daemon.returncode}) before `{needle}`; "
                          f"see {logref(log)}")
        with open(log, errors="replace") as f:
            return needle in f.read()
    try:
        wait_for(seen, timeout, 0.02)
    except TimeoutError:
        raise Failure(f"no `{needle}` within {timeout:.0f} s in {logref(log)}")


def logref(log):
    return f"{os.path.basename(log)} (kept with --logs DIR)"


def count_in_log(log, needle):
    with open(log, errors="replace") as f:
        return sum(needle in line for line in f)


def checkpoints(run):
    return [n for n in os.listdir(run) if n.startswith("checkpoint-")]


def watch_config(tmp, name, run, keep, extra_daemon="", extra=""):
    path = os.path.join(tmp, f"{name}.toml")
    with open(path, "w") as f:
        f.write(
            f'[daemon]\nstate_dir = "{tmp}/state-{name}"\n{extra_daemon}{extra}'
            f'[[watch]]\nname = "{name}"\nruns = ["{run}"]\nlayout = "huggingface"\n'
            f'keep_last = {keep}\nsettle = "{round(SETTLE * 1000)}ms"\n'
        )
    return path


def scenario_ckptd(tmp, fs, args, size):
    run = os.path.join(fs, "ckptd-run")
    os.makedirs(run)
    config = watch_config(tmp, "peak", run, args.keep)
    log = os.path.join(tmp, "peak.log")
    daemon = start_daemon(config, log)
    try:
        wait_log(daemon, log, "ckptd ready", 60)
        sampler = Sampler(fs, run)
        sampler.start()
        try:
            def alive():
                if daemon.poll() is not None:
                    raise Failure(f"ckptd exited ({daemon.returncode}) mid-run; see {logref(log)}")
            _, done = train(run, args, size, alive)
            try:
                wait_for(lambda: len(checkpoints(run)) <= args.keep, SETTLE + 30, 0.02)
            except TimeoutError:
                raise Failure(f"ckptd left {len(checkpoints(run))} checkpoints, keep_last is "
                              f"{args.keep}; see {logref(log)}")
        finally:
            peak = sampler.stop()
        return {
            "peak": peak,
            "lags": surplus_lags(done, sampler.vanished, args.keep),
            "at_peak": sampler.peak_listing,
            "samples": sampler.samples,
            "deleted": count_in_log(log, "checkpoint deleted"),
            "log": log,
        }
    finally:
        stop_daemon(daemon)


def scenario_cron(tmp, fs, args, size):
    run = os.path.join(fs, "cron-run")
    os.makedirs(run)
    pipeline = (f"ls -1d checkpoint-* 2>/dev/null | sort -t- -k2 -n | head -n -{args.keep} "
                "| xargs -r rm -rf")
    sampler = Sampler(fs, run)
    stop = threading.Event()
    errors, runs = [], []
    origin = {}

    def cron():
        n = 1
        while not stop.is_set():
            if "t0" not in origin:
                stop.wait(0.01)
                continue
            when = origin["t0"] + n * CRON_EVERY + CRON_PHASE
            if stop.wait(max(0.0, when - time.monotonic())):
                return
            out = subprocess.run(["sh", "-c", pipeline], cwd=run, capture_output=True, text=True)
            runs.append(time.monotonic())
            if out.returncode != 0:
                errors.append(f"cron pipeline exited {out.returncode}: {out.stderr.strip()}")
            n += 1

    job = threading.Thread(target=cron, daemon=True)
    sampler.start()
    job.start()
    try:
        _, done = train(run, args, size, on_start=lambda t0: origin.setdefault("t0", t0))
    finally:
        stop.set()
        job.join()
        peak = sampler.stop()
    if errors:
        raise Failure(errors[0])
    return {
        "peak": peak,
        "lags": surplus_lags(done, sampler.vanished, args.keep),
        "at_peak": sampler.peak_listing,
        "samples": sampler.samples,
        "cron_runs": len(runs),
        "pipeline": pipeline,
    }


def scenario_floor(tmp, fs, args, size, n_saves=6):
    """Returns None (after saying why) when this ckptd does not know min_free."""
    run = os.path.join(fs, "floor-run")
    os.makedirs(run)
    total = os.statvfs(fs).f_blocks * os.statvfs(fs).f_frsize
    base = used_bytes(fs)
    # The floor sits 2 checkpoints above what the run holds; the filler goes 1.5 above it, so
    # ckptd must delete the 2 oldest checkpoints.
    min_free = total - base - (n_saves + 2) * size
    filler_size = int(3.5 * size) // PAGE * PAGE
    config = watch_config(
        tmp, "floor", run, 20,
        extra_daemon='disk_check_interval = "1s"\n',
        extra=f'[[filesystem]]\npath = "{fs}"\nmin_free = "{min_free}B"\n',
    )
    check = subprocess.run([BINARY, "check", "--config", config], capture_output=True, text=True)
    if check.returncode != 0:
        said = " ".join((check.stderr or check.stdout).split())
        print(f"floor crossing: skipped: this ckptd does not know min_free "
              f"(ckptd check failed: {said})")
        return None
    log = os.path.join(tmp, "floor.log")
    filler = os.path.join(fs, "unrelated.bin")
    jitter = random.Random(2)  # where the crossing falls in the 1 s disk check cycle
    daemon = start_daemon(config, log)
    try:
        wait_log(daemon, log, "ckptd ready", 60)
        step, times = 0, []
        for _ in range(args.floor_rounds):
            while len(checkpoints(run)) < n_saves:  # back to n_saves after the last round
                step += 500
                save_checkpoint(run, step, size, write_time=0)
            wait_log(daemon, log, f"checkpoint complete: checkpoint-{step} (", SETTLE + 30)
            time.sleep(1.0 + jitter.random())  # a disk check or two above the floor
            if len(checkpoints(run)) != n_saves:
                raise Failure(f"checkpoints deleted above the floor; see {logref(log)}")
            if free_bytes(fs) < min_free:
                raise Failure(f"free space already below min_free before the filler; "
                              f"see {logref(log)}")
            write_chunks(filler, filler_size, 4 * MiB, 0)
            crossed = time.monotonic()
            if free_bytes(fs) >= min_free:
                raise Failure("the filler did not push free space below min_free")
            try:
                wait_for(lambda: free_bytes(fs) >= min_free, 60, 0.002)
            except TimeoutError:
                raise Failure(f"free space still below min_free 60 s after the crossing "
                              f"({count_in_log(log, 'checkpoint deleted')} checkpoints "
                              f"deleted); see {logref(log)}")
            times.append(time.monotonic() - crossed)
            os.unlink(filler)
        time.sleep(0.5)
        return {
            "seconds": times,
            "min_free": min_free,
            "total": total,
            "deleted": count_in_log(log, "checkpoint deleted"),
            "pressure": count_in_log(log, "checkpoint deleted under pressure"),
            "log": log,
        }
    finally:
        if os.path.exists(filler):
            os.unlink(filler)
        stop_daemon(daemon)


def mib(b):
    return b / MiB


def describe_lags(lags):
    if not lags:
        return "-"
    return f"{statistics.median(lags):.2f} s / {max(lags):.2f} s"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", help="the ckptd binary (default: target/release/ckptd)")
    parser.add_argument("--size-mib", type=float, default=8.0, help="checkpoint size S, MiB")
    parser.add_argument("--keep", type=int, default=3, help="K: keep_last and the cron's K")
    parser.add_argument("--saves", type=int, default=40)
    parser.add_argument("--settle", type=float, default=1.0,
                        help="ckptd's settle, seconds (default 1)")
    parser.add_argument("--dir", help="where the tmpfs is mounted (default: under target/)")
    parser.add_argument("--floor-rounds", type=int, default=10,
                        help="floor crossings to time (default 10)")
    parser.add_argument("--only", choices=["ckptd", "cron", "floor"], action="append",
                        help="run only these scenarios (repeatable)")
    parser.add_argument("--logs", help="copy ckptd's logs (peak.log, floor.log) into DIR")
    args = parser.parse_args()
    global BINARY, SETTLE
    SETTLE = args.settle
    if args.bin:
        BINARY = os.path.abspath(args.bin)
    if not os.path.exists(BINARY):
        sys.exit("build first: cargo build --release")
    if args.keep < 1 or args.saves <= args.keep:
        sys.exit("need 1 <= --keep < --saves")
    size = max(4 * PAGE, int(args.size_mib * MiB) // (4 * PAGE) * (4 * PAGE))
    only = set(args.only or ["ckptd", "cron", "floor"])
    # Room for every save at once (what the cron case would need if it never ran) and more.
    tmpfs_size = -(-(args.saves + 2) * size // MiB) * MiB
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` unmounts

    base = args.dir or os.path.join(ROOT, "target")
    os.makedirs(base, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="ckptd-disk-peak-", dir=base)
    fs = os.path.join(tmp, "fs")
    failures, results = [], {}
    mounted = False
    try:
        mount_tmpfs(fs, tmpfs_size)
        mounted = True
        print(f"P2: {args.saves} saves of {mib(size):.1f} MiB every {EVERY:g} s, keep {args.keep}, "
              f"on a {mib(tmpfs_size):.0f} MiB tmpfs; ckptd {BINARY}", flush=True)
        for name, fn in (("ckptd", scenario_ckptd), ("cron", scenario_cron),
                         ("floor", scenario_floor)):
            if name not in only:
                continue
            empty(fs)
            print(f"{name}: running...", flush=True)
            try:
                results[name] = fn(tmp, fs, args, size)
            except Failure as e:
                failures.append(f"{name}: {e}")
                print(f"{name}: FAILED: {e}", flush=True)
    except Failure as e:
        failures.append(str(e))
    finally:
        if mounted:
            unmount(fs)
        if args.logs:
            os.makedirs(args.logs, exist_ok=True)
            for name in os.listdir(tmp):
                if name.endswith(".log"):
                    shutil.copy(os.path.join(tmp, name), args.logs)
        shutil.rmtree(tmp, ignore_errors=True)

    ideal = (args.keep + 1) * size
    print()
    print(f"{'':24}{'peak MiB':>10}{'x ideal':>9}   surplus gone after save (median / max)")
    print(f"{'ideal (K+1) x S':24}{mib(ideal):10.2f}{1:9.3f}")
    for name, label in (("ckptd", f"ckptd run (settle {SETTLE:g}s)"),
                        ("cron", f"cron every {CRON_EVERY:g} s")):
        r = results.get(name)
        if r is None:
            print(f"{label:24}{'-':>10}{'-':>9}")
            continue
        print(f"{label:24}{mib(r['peak']):10.2f}{r['peak'] / ideal:9.3f}   "
              f"{describe_lags(r['lags'])}   [{len(r['at_peak'])} checkpoint dirs at the peak, "
              f"{r['samples']} samples]")
    if "cron" in results:
        print(f"cron pipeline ({results['cron']['cron_runs']} runs): {results['cron']['pipeline']}")
    floor = results.get("floor")
    if floor:
        t = floor["seconds"]
        print(f"floor crossing -> free >= min_free, {len(t)} crossings: median "
              f"{statistics.median(t):.2f} s, min {min(t):.2f} s, max {max(t):.2f} s "
              f"(disk_check_interval 1s; min_free {mib(floor['min_free']):.1f} MiB of "
              f"{mib(floor['total']):.0f} MiB; {floor['deleted']} checkpoints deleted, "
              f"{floor['pressure']} of them under pressure)")
    elif "floor" in only and not any(f.startswith("floor") for f in failures):
        print("floor crossing -> free: skipped (see above)")
    for f in failures:
        print(f"FAILED {f}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
