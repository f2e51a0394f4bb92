#!/usr/bin/env python3
"""Fault-injection harness for ckptd: the same fault scenarios against any ckptd binary, one
figure per scenario, so a fix can be reported as before/after numbers.

    python3 scripts/fault-inject.py --bin PATH [--trials N] [--only NAME,...]

Runs as root (it mounts filesystems and uses chattr). Everything it creates lives in a fresh
`tempfile.mkdtemp(prefix="ckptd-faults-")` directory; every process it starts is killed and
every filesystem it mounts is unmounted before it exits (also on Ctrl-C or SIGTERM). Every wait
polls with a deadline. Settle times are short (1 s). Each line of output is
`scenario: N trials, B bad (what "bad" means)`; a final table sums them up. "bad" is the
outcome the bug causes: a correct ckptd scores 0 everywhere.

Scenarios (`--only` takes these names, or a group such as `rewrite-in-place`):

rewrite-in-place/A  (daemon, default 5 trials)
    A reused run directory: ckpt_100.pt, ckpt_150.pt, ckpt_200.pt complete, keep_last = 1,
    ckpt_150 completed *after* ckpt_200 (mtimes 10 min and 60 min ago), so ckptd keeps both as
    the newest complete checkpoint (by completion time and by step) and deletes ckpt_100 at
    start. Then a writer process reopens ckpt_200.pt with O_TRUNC (the trainer re-saving the
    same name after a resume), writes half, pauses 3 s (longer than settle) with the file still
    open, touches an unrelated file in the run to wake the daemon, then writes the rest and
    closes. Bad: ckpt_150 deleted while ckpt_200 is half-written, i.e. no complete checkpoint
    left. (keep_last = 2 with 100/150/200, as first sketched, cannot show it: the half-written
    ckpt_200 then only takes a slot that ckpt_150 shares. keep_last = 1 with two checkpoints
    both kept needs the two "newest" senses to differ, hence the mtimes.)
rewrite-in-place/B  (daemon, default 20 seeded trials, run 4 at a time)
    Random writer schedules (seed = 1000 * --seed + trial): new names, re-saves of names on disk and
    re-saves of older steps, each with O_TRUNC, random sizes and chunks, short pauses and
    (often) one pause longer than settle with the file open; keep_last 1 or 2. A sampler looks
    at the run every 10 ms. A checkpoint is complete when the writer finished and closed it and
    has not reopened it since. Bad trial: the newest complete checkpoint (by step or by finish
    time) vanished, no complete checkpoint was left while one existed, or a checkpoint was
    deleted while the writer had it open.
lagging-clock/prune and lagging-clock/daemon  (default 3 trials each)
    ckpt_100.pt complete (old); a writer appends ckpt_200.pt in 8 chunks 0.1 s apart, opening
    and closing it for each chunk (a writer on another node: nothing open locally), settle =
    "10s". ckptd runs with its clock 120 s ahead of the clock that stamps the files (an
    LD_PRELOAD shim, compiled with `cc` at start, that adds 120 s to clock_gettime(REALTIME)
    in ckptd only): to ckptd the storage's clock lags by 120 s, as on network storage, and a
    probe file it writes gets the storage's time, as it would there. `ckptd prune` runs
    mid-write (prune variant), or `ckptd run` starts mid-write (daemon variant: its first
    look). Bad: ckpt_100.pt (the only complete checkpoint) deleted while ckpt_200 is still
    being written. A control trial without the lag must keep ckpt_100. Without a C compiler
    the fallback sets ckpt_200's mtime 120 s back after each chunk instead; a fix that
    measures ages against a probe file then still reads bad (the row says which was used).
full-disk/prune and full-disk/run  (needs mount; 6 cases each)
    Three full filesystems: tmpfs size=8m filled to 0 bytes free, tmpfs nr_inodes=32 with every
    inode used, a 32 MiB loop-mounted ext4 (mkfs.ext4 -m 0) filled to 0 free blocks; each with
    the run on first start (no .ckptd* files in it yet) and with ckptd's files already there
    (`ckptd prune` run once while there was room). The run holds ckpt_1 and ckpt_2 (old) and
    ckpt_3 (newest), keep_last = 1. Then `ckptd prune`, or `ckptd run` (state_dir outside the
    full filesystem) until ready plus 3 s. Bad: an old checkpoint is still there (the space
    was not freed) or the newest was deleted.
kill9-ledger  (daemon, default 5 trials)
    200 old checkpoint directories of 64 files each, keep_last = 1. `ckptd run` is killed with
    SIGKILL 0-300 ms after start (random, seeded), restarted, left to finish, stopped with
    SIGTERM. Bad: checkpoints gone from disk with no line naming them in
    <state_dir>/ledger.jsonl (the figure is the total over all trials; the kill moments are
    seeded, but how far a pass got by then depends on the machine, so it varies run to run).
pressure-kill9  (daemon on a tmpfs, default 5 trials)
    Eight checkpoint directories of 512 files (2 MiB each), keep_last = 8, the third pinned;
    a [[filesystem]] floor 100 KiB under the free space, disk_check_interval = 1s. Another
    writer takes 7 MiB; once pressure has moved the first checkpoint out, `ckptd run` is
    killed with SIGKILL a random 0-60 ms later (seeded), restarted, and left until the floor
    is met. Bad: the deleted set is not exactly the four oldest unpinned ones (the pinned or
    the newest deleted, or more or fewer than the floor needs), a checkpoint is left with
    some of its files, or the trash is not emptied.
shared-state-dir  (default 2 trials)
    Two `ckptd run` on two configs (different runs, 60 old checkpoints each, keep_last = 1)
    with the same state_dir. B starts after A finished its first pass; then 30 more
    checkpoints land in A's run. Records whether B started at all (a fixed ckptd refuses with
    an error and a non-zero exit: good) and compares counters.json `deletions` with the true
    total. Bad: B ran and the counters are wrong.
fifo-config  (daemon, default 3 trials)
    The config file is replaced by a FIFO, then SIGHUP, then checkpoints arrive that keep_last
    = 1 should delete. Bad: no deletion within 8 s (the daemon is stuck reading the FIFO). The
    harness then unblocks it (opens the FIFO for writing, non-blocking), restores the file and
    stops it.
trash-retry  (daemon, default 1 trial; --trash-deadline, default 90 s)
    A checkpoint directory to be deleted holds an immutable file (chattr +i), so the removal
    fails and it stays in .ckptd-trash/. The flag is then cleared (chattr -i on the path in the
    trash) once the daemon has gone quiet (its log unchanged for 2 s: the move out of the run
    wakes it once more, and that pass must fail too), and nothing else changes in the run.
    Bad: the trash is not emptied within the deadline.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import errno
import json
import os
import queue
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SETTLE = "1s"
KiB = 1024
MiB = 1024 * 1024


class HarnessError(Exception):
    """Something in a trial's setup did not happen as planned: the trial counts as an error."""


@dataclasses.dataclass
class Row:
    """One figure: `name: trials trials, bad bad (what)`."""

    name: str
    trials: int = 0
    bad: int = 0
    what: str = ""
    details: list[str] = dataclasses.field(default_factory=list)
    errors: int = 0
    skipped: str | None = None
    # When set, printed instead of "B bad" (e.g. a total of deletions).
    figure: str | None = None
    unit: str = "trials"

    def line(self) -> str:
        if self.skipped:
            return f"{self.name}: skipped: {self.skipped}"
        figure = self.figure or f"{self.bad} bad"
        text = f"{self.name}: {self.trials} {self.unit}, {figure} ({self.what})"
        if self.errors:
            text += f"; {self.errors} {self.unit} failed to run (not counted as bad)"
        return text


# --------------------------------------------------------------------------------------------
# Resources: processes, mounts, immutable files, the temp directory. Always released.
# --------------------------------------------------------------------------------------------


class Resources:
    def __init__(self, keep_tmp: bool):
        self.base = tempfile.mkdtemp(prefix="ckptd-faults-")
        self.keep_tmp = keep_tmp
        self.procs: list[subprocess.Popen] = []
        self.mounts: list[tuple[str, str | None]] = []  # (mountpoint, loop image)
        self.immutable_roots: list[str] = []
        self.lock = threading.Lock()

    def dir(self, *parts: str) -> str:
        path = os.path.join(self.base, *parts)
        os.makedirs(path, exist_ok=True)
        return path

    def spawn(self, argv: list[str], **kw) -> subprocess.Popen:
        proc = subprocess.Popen(argv, start_new_session=True, **kw)
        with self.lock:
            self.procs.append(proc)
        return proc

    def mount(self, argv: list[str], mountpoint: str, image: str | None = None) -> None:
        """Runs `mount ARGV... MOUNTPOINT`; raises OSError with mount's message on failure."""
        os.makedirs(mountpoint, exist_ok=True)
        with self.lock:  # recorded first: an interrupt during `mount` still gets cleaned up
            self.mounts.append((mountpoint, image))
        r = subprocess.run(["mount", *argv, mountpoint], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            self.umount(mountpoint)  # detaches a loop device mount may have set up
            raise OSError(f"mount {' '.join(argv)}: {r.stderr.strip() or r.returncode}")

    def umount(self, mountpoint: str) -> None:
        with self.lock:
            entries = [m for m in self.mounts if m[0] == mountpoint]
            self.mounts = [m for m in self.mounts if m[0] != mountpoint]
        for mp, image in entries:
            _umount(mp, image)

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    proc.kill()
                except OSError:
                    pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                print(f"warning: process {proc.pid} did not exit after SIGKILL", file=sys.stderr)
        for mp, image in reversed(self.mounts):
            _umount(mp, image)
        self.mounts = []
        for root in self.immutable_roots:
            if os.path.exists(root) and shutil.which("chattr"):
                subprocess.run(["chattr", "-R", "-i", root], capture_output=True, timeout=60)
        still = [mp for mp in mounted_paths() if mp == self.base or mp.startswith(self.base + "/")]
        if still:
            print(f"warning: still mounted, {self.base} left in place: {still}", file=sys.stderr)
        elif not self.keep_tmp:
            shutil.rmtree(self.base, ignore_errors=True)
        else:
            print(f"kept {self.base}")


def _umount(mountpoint: str, image: str | None) -> None:
    if mountpoint in mounted_paths():
        r = subprocess.run(["umount", mountpoint], capture_output=True, text=True, timeout=30)
        if r.returncode != 0 and mountpoint in mounted_paths():
            print(f"warning: umount {mountpoint}: {r.stderr.strip()}; lazy unmount", file=sys.stderr)
            subprocess.run(["umount", "-l", mountpoint], capture_output=True, timeout=30)
    if image:
        # `mount -o loop` sets autoclear; detach explicitly in case it did not.
        r = subprocess.run(["losetup", "-j", image], capture_output=True, text=True, timeout=10)
        for line in r.stdout.splitlines():
            device = line.split(":", 1)[0]
            if device.startswith("/dev/loop"):
                subprocess.run(["losetup", "-d", device], capture_output=True, timeout=10)


def mounted_paths() -> list[str]:
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 1:
                out.append(fields[1].replace("\\040", " "))
    return out


# --------------------------------------------------------------------------------------------
# Small helpers: waiting, files, configs.
# --------------------------------------------------------------------------------------------


# Set on Ctrl-C or SIGTERM: every sleep and poll of a trial (also in worker threads) ends.
ABORT = threading.Event()


def nap(seconds: float) -> None:
    """time.sleep that ends the trial at once when the harness is interrupted."""
    if ABORT.wait(seconds):
        raise HarnessError("interrupted")


def wait_until(condition, timeout: float, interval: float = 0.02) -> bool:
    """Polls `condition` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        nap(interval)


def make_file(path: str, size: int, age_s: float) -> None:
    """Writes `size` bytes at `path`, its mtime `age_s` seconds in the past."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"\x42" * size)
    set_age(path, age_s)


def set_age(path: str, age_s: float) -> None:
    t = time.time() - age_s
    os.utime(path, (t, t), follow_symlinks=False)


def exists(path: str) -> bool:
    return os.path.lexists(path)


def toml_str(s: str) -> str:
    return json.dumps(s)  # a TOML basic string for the plain paths used here


def write_config(
    path: str,
    run: str,
    state_dir: str,
    keep_last: int = 1,
    settle: str = SETTLE,
    pattern: str = "ckpt_{step}.pt",
) -> str:
    text = "\n".join(
        [
            "[daemon]",
            'log_format = "json"',
            f"state_dir = {toml_str(state_dir)}",
            "",
            "[[watch]]",
            'name = "faults"',
            f"runs = [{toml_str(run)}]",
            'layout = "generic"',
            f"pattern = {toml_str(pattern)}",
            f"keep_last = {keep_last}",
            f"settle = {toml_str(settle)}",
            "",
        ]
    )
    with open(path, "w") as f:
        f.write(text)
    return text


def ckptd_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["CKPTD_LOG"] = "info"
    for key in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "STATE_DIRECTORY", "CKPTD_EVENT_QUEUE", "LD_PRELOAD"):
        env.pop(key, None)
    env.update(extra or {})
    return env


def log_errors(text: str) -> list[str]:
    """The ERROR lines of a JSON log, as `message (error)`."""
    out = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("level") == "ERROR":
            msg = event.get("message", "")
            if event.get("error"):
                msg += f" ({event['error']})"
            out.append(msg)
    return out


def run_ckptd(
    ctx: "Ctx", args: list[str], cwd: str, timeout: float = 30, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """A one-shot ckptd command, stdin closed, with a deadline."""
    try:
        return subprocess.run(
            [ctx.binary, *args],
            cwd=cwd,
            env=ckptd_env(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        raise HarnessError(f"ckptd {' '.join(args)} did not finish within {timeout:.0f} s") from e


def plan_reasons(ctx: "Ctx", config: str, cwd: str, name: str) -> str:
    """What `ckptd plan --json` says about checkpoint `name` right now: a control, since the
    one-shot scan always checks for open writers."""
    try:
        r = run_ckptd(ctx, ["plan", "--json", "--config", config], cwd, timeout=10)
        for c in json.loads(r.stdout)["runs"][0]["checkpoints"]:
            if c["name"] == name:
                return f"{c['decision']} {','.join(c['reasons'])}: {c.get('detail') or ''}".strip()
        return f"{name} not in the plan"
    except (HarnessError, ValueError, KeyError, IndexError) as e:
        return f"plan failed: {e}"


class Daemon:
    """A `ckptd run`, its stderr (JSON log lines) in a file."""

    def __init__(self, ctx: "Ctx", config: str, log_path: str, env: dict[str, str] | None = None):
        self.log_path = log_path
        self.logf = open(log_path, "ab")
        self.proc = ctx.res.spawn(
            [ctx.binary, "run", "--config", config],
            cwd=os.path.dirname(config),
            env=ckptd_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.logf,
        )

    def text(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_log(self, needle: str, timeout: float) -> bool:
        """True once `needle` is in the log; False on timeout or when the daemon exits first."""
        found = wait_until(lambda: needle in self.text() or not self.alive(), timeout)
        return found and needle in self.text()

    def wait_ready(self, timeout: float = 15) -> bool:
        return self.wait_log("ckptd ready", timeout)

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`. Returns the exit code."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.logf.close()
        return self.proc.returncode


# A separate writer process, driven one command at a time over stdin: the file it writes is
# open in *another* process, as a trainer's would be. Answers "ok" (or "err ...") per command.
WRITER_SRC = r"""
import json, os, sys, time
fd = None
for line in sys.stdin:
    cmd = json.loads(line)
    try:
        op = cmd[0]
        if op == "open":
            fd = os.open(cmd[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        elif op == "write":
            n = cmd[1]
            buf = b"\x5a" * min(n, 1 << 20)
            while n > 0:
                n -= os.write(fd, buf[: min(n, len(buf))])
            os.fsync(fd)
        elif op == "close":
            os.close(fd)
            fd = None
        elif op == "append":
            # Open, append, close (a writer on another node); mtime set `back` seconds back.
            path, n, back = cmd[1], cmd[2], cmd[3]
            f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(f, b"\x5a" * n)
            finally:
                os.close(f)
            if back:
                t = time.time() - back
                os.utime(path, (t, t))
        elif op == "quit":
            print(json.dumps(["ok"]), flush=True)
            break
        print(json.dumps(["ok"]), flush=True)
    except Exception as e:
        print(json.dumps(["err", repr(e)]), flush=True)
"""


class Writer:
    def __init__(self, ctx: "Ctx"):
        self.proc = ctx.res.spawn(
            [sys.executable, "-u", "-c", WRITER_SRC],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.answers: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.answers.put(line)
        self.answers.put(None)

    def call(self, *cmd, timeout: float = 20) -> None:
        try:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        except OSError as e:
            raise HarnessError(f"writer process gone: {e}") from e
        try:
            line = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise HarnessError(f"writer did not answer {cmd[0]} within {timeout:.0f} s") from None
        if line is None:
            raise HarnessError("writer process exited")
        answer = json.loads(line)
        if answer[0] != "ok":
            raise HarnessError(f"writer {cmd[0]}: {answer[1]}")

    def quit(self) -> None:
        try:
            if self.proc.poll() is None:
                self.call("quit", timeout=5)
            self.proc.wait(timeout=5)
        except (HarnessError, subprocess.TimeoutExpired, OSError):
            self.proc.kill()
            self.proc.wait(timeout=5)


@dataclasses.dataclass
class Ctx:
    res: Resources
    binary: str
    trials: int | None
    seed: int
    jobs: int
    trash_deadline: float
    verbose: bool

    def n(self, default: int) -> int:
        return self.trials if self.trials is not None else default

    def note(self, text: str) -> None:
        if self.verbose:
            print(f"    {text}", flush=True)


def run_trials(ctx: Ctx, row: Row, count: int, trial, label: str, jobs: int = 1) -> None:
    """Runs `trial(i)` `count` times (up to `jobs` at once); each returns (bad, detail)."""

    def one(i: int):
        try:
            return trial(i)
        except (HarnessError, OSError, subprocess.SubprocessError) as e:
            return None, f"trial {i}: failed to run: {e!r}"

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, range(count)))
    for i, (bad, detail) in enumerate(results):
        row.trials += 1
        if bad is None:
            row.errors += 1
        elif bad:
            row.bad += 1
        if detail:
            row.details.append(detail)
            ctx.note(f"{label} {detail}")


# --------------------------------------------------------------------------------------------
# 1. rewrite-in-place
# --------------------------------------------------------------------------------------------


def scenario_rewrite_a(ctx: Ctx) -> list[Row]:
    row = Row("rewrite-in-place/A", what="older checkpoint deleted while the newest was half-written")
    pause = 3.0

    def trial(i: int):
        tdir = ctx.res.dir("rewrite-a", str(i))
        run = ctx.res.dir("rewrite-a", str(i), "run")
        p100, p150, p200 = (os.path.join(run, f"ckpt_{s}.pt") for s in (100, 150, 200))
        total, half = 2 * MiB, 1 * MiB
        make_file(p100, 256 * KiB, 90 * 60)
        make_file(p200, total, 60 * 60)
        make_file(p150, 256 * KiB, 10 * 60)  # completed after ckpt_200: a reused directory
        config = os.path.join(tdir, "ckptd.toml")
        write_config(config, run, os.path.join(tdir, "state"), keep_last=1)
        d = Daemon(ctx, config, os.path.join(tdir, "daemon.log"))
        writer = None
        try:
            if not d.wait_ready():
                raise HarnessError("daemon not ready")
            if not wait_until(lambda: not exists(p100), 10):
                raise HarnessError("ckpt_100 was not deleted by the policy at start")
            if not (exists(p150) and exists(p200)):
                raise HarnessError("ckpt_150 or ckpt_200 deleted before the rewrite")
            writer = Writer(ctx)
            writer.call("open", p200)
            writer.call("write", half)
            start, nudged, lost_at, plan_says = time.monotonic(), False, None, None
            while (elapsed := time.monotonic() - start) < pause:
                if not nudged and elapsed > 1.5:
                    make_file(os.path.join(run, "notes.txt"), 10, 0)  # not a checkpoint
                    nudged = True
                if lost_at is None and not exists(p150):
                    lost_at = (elapsed, os.stat(p200).st_size if exists(p200) else "(gone)")
                if plan_says is None and elapsed > 2.0:
                    plan_says = plan_reasons(ctx, config, tdir, "ckpt_200.pt")
                nap(0.02)
            writer.call("write", total - half)
            writer.call("close")
            # Sanity: once the rewrite settles, ckpt_150 goes by policy.
            settled_ok = lost_at is not None or wait_until(lambda: not exists(p150), 8)
            if lost_at:
                return True, (
                    f"trial {i}: ckpt_150 deleted {lost_at[0]:.1f} s into the pause, "
                    f"ckpt_200 at {lost_at[1]} of {total} bytes (meanwhile `plan` said: {plan_says})"
                )
            return False, None if settled_ok else f"trial {i}: note: ckpt_150 never deleted after the rewrite"
        finally:
            if writer:
                writer.quit()
            d.stop()

    run_trials(ctx, row, ctx.n(5), trial, row.name)
    return [row]


class Oracle:
    """What the harness knows about the run in rewrite-in-place/B, shared with the sampler."""

    def __init__(self):
        self.lock = threading.Lock()
        self.complete: dict[str, tuple[int, float]] = {}  # name -> (step, finish time)
        self.writing: dict[str, bool] = {}  # name -> open() returned
        self.violations: dict[str, str] = {}
        # The complete set at the previous sample: a deletion seen now happened at some instant
        # since then, so it is only surely wrong when the name was the newest complete both
        # then and now (a writer may have begun re-saving the newest in between, after ckptd
        # rightly deleted the older one).
        self.complete_at_last_sample: dict[str, tuple[int, float]] = {}

    def check(self, run: str, t: float) -> None:
        """Lists the run, judges the deletions since the last sample, forgets the deleted names."""
        with self.lock:
            before = set(self.complete)
            open_before = {n for n, opened in self.writing.items() if opened}
        try:
            present = set(os.listdir(run))
        except OSError:
            return
        with self.lock:
            # Only names complete both before and after the listing: no race with the writer.
            gone = [n for n in self.complete if n in before and n not in present]
            if gone:
                def newest(complete):
                    by_step = max(complete, key=lambda n: complete[n])
                    by_time = max(complete, key=lambda n: complete[n][1])
                    return {by_step, by_time}
                then = self.complete_at_last_sample or self.complete
                surely_newest = newest(self.complete) & newest(then)
                for name in gone:
                    if name in surely_newest:
                        self.violations.setdefault("newest", f"{name} (newest complete) deleted at {t:.1f} s")
                # "None left" likewise only when nothing else was complete at the last sample.
                others_then = [n for n in then if n not in gone and n in present]
                if len(gone) == len(self.complete) and not others_then:
                    self.violations.setdefault("none", f"no complete checkpoint left at {t:.1f} s")
                for name in gone:
                    del self.complete[name]
            self.complete_at_last_sample = dict(self.complete)
            for name in open_before:
                if self.writing.get(name) and name not in present:
                    self.violations.setdefault("writing", f"{name} deleted while open at {t:.1f} s")


def scenario_rewrite_b(ctx: Ctx) -> list[Row]:
    row = Row(
        "rewrite-in-place/B",
        what="trial deleted the newest complete checkpoint, left none, or deleted one being written",
    )
    kinds = {"newest": 0, "none": 0, "writing": 0}

    def trial(i: int):
        rng = random.Random(ctx.seed * 1000 + i)
        tdir = ctx.res.dir("rewrite-b", str(i))
        run = ctx.res.dir("rewrite-b", str(i), "run")
        keep_last = rng.choice([1, 1, 2])
        oracle = Oracle()
        steps = [100, 200]
        for age, step in ((60 * 60, 100), (30 * 60, 200)):
            make_file(os.path.join(run, f"ckpt_{step}.pt"), 256 * KiB, age)
            oracle.complete[f"ckpt_{step}.pt"] = (step, time.time() - age)
        config = os.path.join(tdir, "ckptd.toml")
        write_config(config, run, os.path.join(tdir, "state"), keep_last=keep_last)
        d = Daemon(ctx, config, os.path.join(tdir, "daemon.log"))
        writer, stop, t0, ops = None, threading.Event(), time.monotonic(), []

        def sample():
            while not stop.is_set() and not ABORT.is_set():
                oracle.check(run, time.monotonic() - t0)
                stop.wait(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        try:
            if not d.wait_ready():
                raise HarnessError("daemon not ready")
            sampler.start()
            writer = Writer(ctx)
            for _ in range(4):
                on_disk = sorted(n for n in os.listdir(run) if n.startswith("ckpt_"))
                kind = rng.choices(["new", "rewrite", "older"], weights=[3, 4, 3])[0]
                if kind == "rewrite" and on_disk:
                    name = rng.choice(on_disk)
                    step = int(name[5:-3])
                elif kind == "older":
                    step = rng.choice(steps[:-1])
                    name = f"ckpt_{step}.pt"
                else:
                    step = max(steps) + 100
                    steps.append(step)
                    name = f"ckpt_{step}.pt"
                path = os.path.join(run, name)
                size = rng.choice([256 * KiB, 512 * KiB, 1 * MiB, 2 * MiB])
                chunks = []
                while sum(chunks) < size:
                    chunks.append(min(rng.choice([64, 128, 256, 512]) * KiB, size - sum(chunks)))
                long_pause_at = rng.randrange(len(chunks)) if rng.random() < 0.7 else None
                ops.append(f"{time.monotonic() - t0:.1f}s {kind} {name}" + (" (long pause)" if long_pause_at is not None else ""))
                with oracle.lock:
                    oracle.complete.pop(name, None)
                    oracle.writing[name] = False
                writer.call("open", path)
                with oracle.lock:
                    oracle.writing[name] = True
                for k, chunk in enumerate(chunks):
                    if k == long_pause_at:
                        nap(rng.uniform(1.4, 2.4))  # longer than settle, file open
                    writer.call("write", chunk)
                    nap(rng.uniform(0.01, 0.12))
                writer.call("close")
                with oracle.lock:
                    del oracle.writing[name]
                    oracle.complete[name] = (step, time.time())
                nap(rng.uniform(0.1, 1.2))
            nap(2.0)  # let the daemon act on the last completion
        finally:
            stop.set()
            if sampler.is_alive():
                sampler.join(timeout=5)
            if writer:
                writer.quit()
            d.stop()
        if oracle.violations:
            for k in oracle.violations:
                kinds[k] += 1
            return True, (
                f"trial {i} (keep_last={keep_last}): " + "; ".join(oracle.violations.values())
                + f" [writer: {', '.join(ops)}]"
            )
        return False, None

    run_trials(ctx, row, ctx.n(20), trial, row.name, jobs=ctx.jobs)
    row.what += (
        f"; newest deleted in {kinds['newest']}, none left in {kinds['none']}, "
        f"deleted while written in {kinds['writing']}"
    )
    return [row]


# --------------------------------------------------------------------------------------------
# 2. lagging-clock
# --------------------------------------------------------------------------------------------


# An LD_PRELOAD shim that moves ckptd's CLOCK_REALTIME `CKPTD_FAULTS_CLOCK_AHEAD` seconds ahead,
# while the kernel keeps stamping files with the true time: exactly what ckptd sees when the
# storage's clock lags its own. Only clock_gettime(REALTIME*) is touched (Rust's SystemTime).
CLOCK_SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
static int (*real_clock_gettime)(clockid_t, struct timespec *);
static long ahead = -1;
int clock_gettime(clockid_t id, struct timespec *ts) {
    if (!real_clock_gettime) real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
    if (ahead < 0) { const char *s = getenv("CKPTD_FAULTS_CLOCK_AHEAD"); ahead = s ? atol(s) : 0; }
    int r = real_clock_gettime(id, ts);
    if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += ahead;
    return r;
}
"""


def clock_ahead_env(ctx: Ctx, seconds: int) -> dict[str, str] | None:
    """The environment that runs ckptd `seconds` ahead of the storage clock; None when no C
    compiler is at hand to build the shim."""
    so = os.path.join(ctx.res.base, "clock-ahead.so")
    if not os.path.exists(so):
        cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
        if not cc:
            return None
        src = os.path.join(ctx.res.base, "clock-ahead.c")
        with open(src, "w") as f:
            f.write(CLOCK_SHIM_C)
        r = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", so, src, "-ldl"], capture_output=True, timeout=60)
        if r.returncode != 0:
            return None
    return {"LD_PRELOAD": so, "CKPTD_FAULTS_CLOCK_AHEAD": str(seconds)}


def scenario_lagging_clock(ctx: Ctx) -> list[Row]:
    rows = []
    chunks, chunk_size, lag = 8, 128 * KiB, 120
    shim = clock_ahead_env(ctx, lag)
    how = (
        f"ckptd's clock {lag} s ahead of the files' (LD_PRELOAD shim)"
        if shim
        else f"fallback, no C compiler: mtimes set {lag} s back; a probe-based fix still reads bad"
    )

    for mode in ("prune", "daemon"):
        row = Row(f"lagging-clock/{mode}", what=f"the only complete checkpoint deleted mid-write; {how}")

        def trial(i: int, mode=mode, lagging=True):
            tdir = ctx.res.dir(f"lagging-{mode}", str(i))
            run = ctx.res.dir(f"lagging-{mode}", str(i), "run")
            p100, p200 = os.path.join(run, "ckpt_100.pt"), os.path.join(run, "ckpt_200.pt")
            make_file(p100, 256 * KiB, 60 * 60)
            config = os.path.join(tdir, "ckptd.toml")
            write_config(config, run, os.path.join(tdir, "state"), keep_last=1, settle="10s")
            env = shim if lagging else None
            backdate = lag if lagging and not shim else 0
            writer, d, lost, note = Writer(ctx), None, False, ""
            try:
                for k in range(chunks):
                    # Opened, appended, closed: a writer on another node holds nothing open here.
                    writer.call("append", p200, chunk_size, backdate)
                    if k == 2 and mode == "prune":
                        r = run_ckptd(ctx, ["prune", "--config", config], tdir, env=env)
                        summary = (r.stdout.strip().splitlines() or [""])[-1]
                        note = f"prune exit {r.returncode}: {summary}"
                    if k == 2 and mode == "daemon":
                        d = Daemon(ctx, config, os.path.join(tdir, "daemon.log"), env=env)
                        if not d.wait_ready():
                            raise HarnessError("daemon not ready")
                        note = "deleted at the daemon's first pass" if not exists(p100) else ""
                    lost = lost or not exists(p100)
                    nap(0.1)
            finally:
                writer.quit()
                if d:
                    d.stop()
            return lost, (f"trial {i}: ckpt_100 deleted; {note}" if lost else None)

        run_trials(ctx, row, ctx.n(3), trial, row.name)
        # Control: the same write with no lag must leave ckpt_100 alone (settle is 10 s).
        try:
            control_bad, _ = trial(ctx.n(3), lagging=False)
            row.what += f"; control without lag: ckpt_100 {'DELETED' if control_bad else 'kept'}"
        except (HarnessError, OSError) as e:
            row.what += f"; control without lag failed: {e}"
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# 3. full-disk
# --------------------------------------------------------------------------------------------


def can_mount(ctx: Ctx) -> str | None:
    """None when a tmpfs can be mounted here, else why not."""
    if os.geteuid() != 0:
        return "not root"
    if not shutil.which("mount"):
        return "no mount command"
    probe = os.path.join(ctx.res.base, "mount-probe")
    try:
        ctx.res.mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs"], probe)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"mounting is not permitted here ({e})"
    ctx.res.umount(probe)
    return None


def fill_blocks(mnt: str) -> None:
    """Writes filler files until the filesystem has no free block left."""
    for n in range(4):
        path = os.path.join(mnt, f"filler{n}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                return
            raise
        try:
            for size in (MiB, 64 * KiB, 4 * KiB, 512, 1):
                buf = b"\0" * size
                try:
                    while True:
                        os.write(fd, buf)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
            try:
                os.fsync(fd)
            except OSError:
                pass
        finally:
            os.close(fd)
        os.sync()
        if os.statvfs(mnt).f_bavail == 0:
            return


def fill_inodes(mnt: str) -> None:
    """Creates empty files until no inode is left."""
    for n in range(200000):
        try:
            os.close(os.open(os.path.join(mnt, f"f{n}"), os.O_WRONLY | os.O_CREAT, 0o644))
        except OSError as e:
            if e.errno == errno.ENOSPC:
                return
            raise
    raise HarnessError("could not exhaust the inodes")


FULL_DISK_KINDS = {
    # kind: (what "full" means, checkpoint size)
    "tmpfs-size": ("tmpfs size=8m, 0 bytes free", 1 * MiB),
    "tmpfs-inodes": ("tmpfs nr_inodes=32, 0 inodes free", 16 * KiB),
    "ext4-loop": ("32 MiB ext4 -m 0 on a loop device, 0 blocks free", 1 * MiB),
}


def mount_full_disk_fs(ctx: Ctx, kind: str, cdir: str) -> str:
    mnt = os.path.join(cdir, "mnt")
    if kind == "tmpfs-size":
        ctx.res.mount(["-t", "tmpfs", "-o", "size=8m,mode=755", "tmpfs"], mnt)
    elif kind == "tmpfs-inodes":
        ctx.res.mount(["-t", "tmpfs", "-o", "size=16m,nr_inodes=32,mode=755", "tmpfs"], mnt)
    else:
        image = os.path.join(cdir, "ext4.img")
        with open(image, "wb") as f:
            f.truncate(32 * MiB)
        r = subprocess.run(["mkfs.ext4", "-F", "-q", "-m", "0", image], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise OSError(f"mkfs.ext4: {r.stderr.strip()}")
        ctx.res.mount(["-o", "loop", image], mnt, image=image)
    return mnt


def full_disk_case(ctx: Ctx, kind: str, variant: str, mode: str) -> tuple[bool | None, str]:
    cdir = ctx.res.dir("full-disk", f"{kind}-{variant}-{mode}")
    label = f"{kind}, {variant}"
    mnt = mount_full_disk_fs(ctx, kind, cdir)
    try:
        run = os.path.join(mnt, "run")
        os.makedirs(run)
        size = FULL_DISK_KINDS[kind][1]
        config = os.path.join(cdir, "ckptd.toml")
        write_config(config, run, os.path.join(cdir, "state"), keep_last=1)
        newest = os.path.join(run, "ckpt_3.pt")
        olds = [os.path.join(run, "ckpt_1.pt"), os.path.join(run, "ckpt_2.pt")]
        make_file(newest, size, 30 * 60)
        if variant == "ckptd-files-present":
            r = run_ckptd(ctx, ["prune", "--config", config], cdir)
            if r.returncode != 0:
                raise HarnessError(f"prune with room exited {r.returncode}: {r.stderr[-300:]}")
        make_file(olds[0], size, 90 * 60)
        make_file(olds[1], size, 60 * 60)
        if kind == "tmpfs-inodes":
            fill_inodes(mnt)
        else:
            fill_blocks(mnt)
        st = os.statvfs(mnt)
        full = f"{st.f_bavail * st.f_frsize} B, {st.f_favail} inodes free"
        if mode == "prune":
            r = run_ckptd(ctx, ["prune", "--config", config], cdir)
            errors = log_errors(r.stderr)
            how = f"prune exit {r.returncode}"
        else:
            d = Daemon(ctx, config, os.path.join(cdir, "daemon.log"))
            try:
                ready = d.wait_ready()
                if ready:
                    wait_until(lambda: not any(exists(o) for o in olds), 3)
                how = "run " + ("ready" if ready else "never ready")
                errors = log_errors(d.text())
            finally:
                d.stop()
        left = [os.path.basename(o) for o in olds if exists(o)]
        problems = []
        if left:
            problems.append(f"{len(left)} of 2 old checkpoints left")
        if not exists(newest):
            problems.append("newest deleted")
        bad = bool(problems)
        detail = f"{label} ({full}): {how}; " + ("; ".join(problems) if bad else "freed")
        if bad and errors:
            detail += f"; first ERROR: {errors[0]}"
        return bad, detail
    finally:
        ctx.res.umount(mnt)


FULL_DISK_BAD = "an old checkpoint not freed, or the newest deleted, on a full filesystem"


def scenario_full_disk(ctx: Ctx) -> list[Row]:
    rows = [
        Row("full-disk/prune", what=FULL_DISK_BAD, unit="cases"),
        Row("full-disk/run", what=FULL_DISK_BAD, unit="cases"),
    ]
    why_not = can_mount(ctx)
    if why_not:
        for row in rows:
            row.skipped = why_not
        return rows
    for row, mode in zip(rows, ("prune", "run")):
        for kind in FULL_DISK_KINDS:
            if kind == "ext4-loop" and not shutil.which("mkfs.ext4"):
                row.details.append(f"{kind}: skipped: mkfs.ext4 not found")
                continue
            for variant in ("first-start", "ckptd-files-present"):
                try:
                    bad, detail = full_disk_case(ctx, kind, variant, mode)
                except (HarnessError, OSError, subprocess.TimeoutExpired) as e:
                    bad, detail = None, f"{kind}, {variant}: setup failed: {e}"
                row.trials += 1
                if bad is None:
                    row.errors += 1
                elif bad:
                    row.bad += 1
                row.details.append(detail)
                ctx.note(f"{row.name} {detail}")
    return rows


# --------------------------------------------------------------------------------------------
# 4. kill9-ledger
# --------------------------------------------------------------------------------------------


def scenario_kill9_ledger(ctx: Ctx) -> list[Row]:
    row = Row("kill9-ledger", what="checkpoints deleted with no line in ledger.jsonl, total over all trials")
    count, files_each = 200, 64
    rng = random.Random(ctx.seed)
    unrecorded_total, mid_pass = 0, 0

    def trial(i: int):
        nonlocal unrecorded_total, mid_pass
        tdir = ctx.res.dir("kill9", str(i))
        run = ctx.res.dir("kill9", str(i), "run")
        names = [f"ckpt_{s}" for s in range(1, count + 1)]
        for s, name in enumerate(names, start=1):
            unit = os.path.join(run, name)
            os.mkdir(unit)
            for j in range(files_each):
                make_file(os.path.join(unit, f"shard_{j}.bin"), 512, (1000 - s) * 60)
            set_age(unit, (1000 - s) * 60)
        state = os.path.join(tdir, "state")
        config = os.path.join(tdir, "ckptd.toml")
        write_config(config, run, state, keep_last=1, pattern="ckpt_{step}")
        delay = rng.uniform(0, 0.3)
        d = Daemon(ctx, config, os.path.join(tdir, "daemon-1.log"))
        nap(delay)
        d.kill9()
        d.stop()
        finished_first_pass = "ckptd ready" in d.text()
        after_kill = sum(not exists(os.path.join(run, n)) for n in names)
        d2 = Daemon(ctx, config, os.path.join(tdir, "daemon-2.log"))
        try:
            if not d2.wait_ready():
                raise HarnessError("restarted daemon not ready")
            wait_until(lambda: sorted(n for n in os.listdir(run) if n.startswith("ckpt_")) == [names[-1]], 30)
        finally:
            rc = d2.stop()
        try:
            with open(os.path.join(state, "ledger.jsonl"), errors="replace") as f:
                ledger = f.read()
        except FileNotFoundError:
            ledger = ""
        deleted = [n for n in names if not exists(os.path.join(run, n))]
        unrecorded = [n for n in deleted if f'"{n}"' not in ledger]
        unrecorded_total += len(unrecorded)
        if not finished_first_pass:
            mid_pass += 1
        detail = (
            f"trial {i}: killed at {delay * 1000:.0f} ms with {after_kill} deleted; "
            f"{len(deleted)} deleted in all, {len(unrecorded)} without a ledger line; exit {rc}"
        )
        return bool(unrecorded), detail

    run_trials(ctx, row, ctx.n(5), trial, row.name)
    row.figure = f"{unrecorded_total} unrecorded deletions, {row.bad} bad trials"
    row.what += f"; killed before its first pass ended in {mid_pass} trials"
    return [row]


# --------------------------------------------------------------------------------------------
# 4b. pressure-kill9: a free-space floor crossed by another writer; the daemon is killed -9
# while pressure deletes, and restarted. Exactly the checkpoints pressure needs must go, in
# its order, never the pinned one or the newest, and none may be left half deleted.
# --------------------------------------------------------------------------------------------

PRESSURE_BAD = "the deleted set is not exactly the four oldest unpinned (the pinned or newest deleted, too many or too few), or a checkpoint is left half deleted"


def scenario_pressure_kill9(ctx: Ctx) -> list[Row]:
    row = Row("pressure-kill9", what=PRESSURE_BAD)
    why_not = can_mount(ctx)
    if why_not:
        row.skipped = why_not
        return [row]
    rng = random.Random(ctx.seed + 11)
    # Many small files, so that deleting one checkpoint takes long enough to be cut.
    files_each, file_size, count = 512, 4 * KiB, 8
    names = [f"ckpt_{s}" for s in range(1, count + 1)]
    # 2 MiB each; 6.9 MiB missing: four checkpoints, the oldest, skipping the pinned ckpt_3.
    expected_gone = {"ckpt_1", "ckpt_2", "ckpt_4", "ckpt_5"}

    def trial(i: int):
        tdir = ctx.res.dir("pressure", str(i))
        mnt = os.path.join(tdir, "mnt")
        ctx.res.mount(["-t", "tmpfs", "-o", "size=32m,mode=755", "tmpfs"], mnt)
        try:
            run = os.path.join(mnt, "run")
            for s, name in enumerate(names, start=1):
                unit = os.path.join(run, name)
                os.makedirs(unit)
                for j in range(files_each):
                    make_file(os.path.join(unit, f"shard_{j}.bin"), file_size, (1000 - s) * 60)
                set_age(unit, (1000 - s) * 60)
            os.makedirs(os.path.join(run, ".ckptd-pins"))
            open(os.path.join(run, ".ckptd-pins", "ckpt_3"), "w").close()
            state = os.path.join(tdir, "state")
            config = os.path.join(tdir, "ckptd.toml")
            text = write_config(config, run, state, keep_last=count, pattern="ckpt_{step}")
            # ckptd's own files first (lock, clock probe), so the floor is exact.
            r = run_ckptd(ctx, ["prune", "--config", config], tdir)
            if r.returncode != 0:
                raise HarnessError(f"first prune exited {r.returncode}: {r.stderr[-300:]}")
            floor = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize - 100 * KiB
            text = text.replace("[daemon]\n", '[daemon]\ndisk_check_interval = "1s"\n', 1)
            text += f"\n[[filesystem]]\npath = {toml_str(mnt)}\nmin_free = {floor}\n"
            with open(config, "w") as f:
                f.write(text)
            d = Daemon(ctx, config, os.path.join(tdir, "daemon-1.log"))
            if not d.wait_ready():
                d.stop()
                raise HarnessError("daemon not ready")
            make_file(os.path.join(mnt, "dataset.bin"), 7 * MiB, 0)
            crossed = time.monotonic()
            # Killed once pressure has started (the first checkpoint left the run), a random
            # moment into its deletions.
            wait_until(lambda: not exists(os.path.join(run, names[0])), 10, interval=0.002)
            nap(rng.uniform(0, 0.06))
            delay = time.monotonic() - crossed
            d.kill9()
            d.stop()
            gone_at_kill = sorted(n for n in names if not exists(os.path.join(run, n)))
            d2 = Daemon(ctx, config, os.path.join(tdir, "daemon-2.log"))
            try:
                if not d2.wait_ready():
                    raise HarnessError("restarted daemon not ready")
                wait_until(lambda: os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize >= floor, 20)
                nap(2.5)
            finally:
                rc = d2.stop()
            gone = {n for n in names if not exists(os.path.join(run, n))}
            half = [
                n for n in names
                if exists(os.path.join(run, n)) and len(os.listdir(os.path.join(run, n))) != files_each
            ]
            problems = []
            if gone != expected_gone:
                problems.append(f"deleted {sorted(gone)}, expected {sorted(expected_gone)}")
            if half:
                problems.append(f"half deleted: {half}")
            if os.path.exists(os.path.join(run, ".ckptd-trash")) and os.listdir(os.path.join(run, ".ckptd-trash")):
                problems.append("trash not emptied")
            detail = (
                f"trial {i}: killed {delay * 1000:.0f} ms after the floor was crossed, "
                f"{len(gone_at_kill)} gone then; " + ("; ".join(problems) if problems else "exact")
                + f"; exit {rc}"
            )
            return bool(problems), detail
        finally:
            ctx.res.umount(mnt)

    run_trials(ctx, row, ctx.n(5), trial, row.name)
    return [row]


# --------------------------------------------------------------------------------------------
# 5. shared-state-dir
# --------------------------------------------------------------------------------------------


def scenario_shared_state_dir(ctx: Ctx) -> list[Row]:
    row = Row("shared-state-dir", what="second daemon ran on the same state_dir and counters.json is wrong")
    started = 0

    def old_checkpoints(run: str, steps) -> None:
        for s in steps:
            make_file(os.path.join(run, f"ckpt_{s}.pt"), 1 * KiB, (1000 - s) * 60)

    def left(run: str) -> list[str]:
        return [n for n in os.listdir(run) if n.startswith("ckpt_")]

    def trial(i: int):
        nonlocal started
        tdir = ctx.res.dir("shared-state", str(i))
        state = os.path.join(tdir, "state")
        runs = [ctx.res.dir("shared-state", str(i), n) for n in ("run-a", "run-b")]
        configs = []
        for n, run in zip("ab", runs):
            old_checkpoints(run, range(1, 61))
            configs.append(os.path.join(tdir, f"ckptd-{n}.toml"))
            write_config(configs[-1], run, state, keep_last=1)
        a = Daemon(ctx, configs[0], os.path.join(tdir, "daemon-a.log"))
        b = None
        try:
            if not a.wait_ready() or not wait_until(lambda: len(left(runs[0])) == 1, 15):
                raise HarnessError("daemon A did not finish its first pass")
            b = Daemon(ctx, configs[1], os.path.join(tdir, "daemon-b.log"))
            wait_until(lambda: "ckptd ready" in b.text() or not b.alive(), 15)
            if not b.alive():
                said = (log_errors(b.text()) or b.text().strip().splitlines()[-1:] or ["(nothing logged)"])[0]
                return False, f"trial {i}: second daemon refused (exit {b.proc.returncode}): {said}"
            started += 1
            if not wait_until(lambda: len(left(runs[1])) == 1, 15):
                raise HarnessError("daemon B did not finish its first pass")
            old_checkpoints(runs[0], range(61, 91))  # A deletes 30 more after B saved its counters
            wait_until(lambda: len(left(runs[0])) == 1, 15)
            nap(0.3)
        finally:
            a.stop()
            if b:
                b.stop()
        truth = (90 - len(left(runs[0]))) + (60 - len(left(runs[1])))
        try:
            with open(os.path.join(state, "counters.json")) as f:
                counted = json.load(f).get("deletions")
        except (OSError, ValueError) as e:
            counted = f"unreadable ({e})"
        bad = counted != truth
        return bad, f"trial {i}: both daemons ran; counters.json deletions = {counted}, true total {truth}"

    run_trials(ctx, row, ctx.n(2), trial, row.name)
    row.what += f"; second daemon started in {started} of {row.trials} trials"
    return [row]


# --------------------------------------------------------------------------------------------
# 6. fifo-config
# --------------------------------------------------------------------------------------------


def scenario_fifo_config(ctx: Ctx) -> list[Row]:
    row = Row("fifo-config", what="no deletion within 8 s after SIGHUP with the config replaced by a FIFO")

    def trial(i: int):
        tdir = ctx.res.dir("fifo", str(i))
        run = ctx.res.dir("fifo", str(i), "run")
        paths = [os.path.join(run, f"ckpt_{s}.pt") for s in (1, 2, 3)]
        make_file(paths[0], 1 * KiB, 90 * 60)
        config = os.path.join(tdir, "ckptd.toml")
        text = write_config(config, run, os.path.join(tdir, "state"), keep_last=1)
        d = Daemon(ctx, config, os.path.join(tdir, "daemon.log"))
        try:
            if not d.wait_ready():
                raise HarnessError("daemon not ready")
            os.unlink(config)
            os.mkfifo(config)
            d.signal(signal.SIGHUP)
            nap(0.3)
            make_file(paths[1], 1 * KiB, 60 * 60)
            make_file(paths[2], 1 * KiB, 30 * 60)
            acted = wait_until(lambda: not exists(paths[0]) and not exists(paths[1]), 8)
            alive = d.alive()
        finally:
            unblock_fifo(config, text)
            d.stop()
        if acted:
            return False, None
        return True, f"trial {i}: nothing deleted in 8 s (daemon {'alive' if alive else 'exited'})"

    run_trials(ctx, row, ctx.n(3), trial, row.name)
    return [row]


def unblock_fifo(config: str, text: str) -> None:
    """If `config` is a FIFO with a reader blocked on it, feeds it the config; then puts the
    regular file back."""
    try:
        if not os.path.exists(config) or not stat_is_fifo(config):
            return
        try:
            fd = os.open(config, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO:  # ENXIO: nobody reads it, nothing to unblock
                raise
        else:
            try:
                os.write(fd, text.encode())
            except OSError:
                pass
            os.close(fd)
        os.unlink(config)
        with open(config, "w") as f:
            f.write(text)
    except OSError as e:
        print(f"warning: could not restore {config}: {e}", file=sys.stderr)


def stat_is_fifo(path: str) -> bool:
    return stat.S_ISFIFO(os.lstat(path).st_mode)


# --------------------------------------------------------------------------------------------
# 7. trash-retry
# --------------------------------------------------------------------------------------------


def wait_quiet(d: Daemon, quiet: float, timeout: float) -> bool:
    """Waits until the daemon's log has not grown for `quiet` seconds."""
    last = [len(d.text()), time.monotonic()]

    def still() -> bool:
        size = len(d.text())
        if size != last[0]:
            last[:] = [size, time.monotonic()]
        return time.monotonic() - last[1] >= quiet

    return wait_until(still, timeout, interval=0.1)


def chattr_works(directory: str) -> bool:
    probe = os.path.join(directory, "chattr-probe")
    make_file(probe, 1, 0)
    r = subprocess.run(["chattr", "+i", probe], capture_output=True, timeout=10)
    if r.returncode != 0:
        os.unlink(probe)
        return False
    try:
        os.unlink(probe)
        immutable = False  # the flag did not stop the unlink
    except PermissionError:
        immutable = True
    if immutable:
        subprocess.run(["chattr", "-i", probe], capture_output=True, timeout=10)
        os.unlink(probe)
    return immutable


def scenario_trash_retry(ctx: Ctx) -> list[Row]:
    deadline = ctx.trash_deadline
    row = Row("trash-retry", what=f"trash not emptied {deadline:.0f} s after the immutable flag was cleared")
    if os.geteuid() != 0 or not shutil.which("chattr"):
        row.skipped = "needs root and chattr"
        return [row]

    def trial(i: int):
        tdir = ctx.res.dir("trash", str(i))
        ctx.res.immutable_roots.append(tdir)
        base = tdir
        if not chattr_works(tdir):
            base = os.path.join(tdir, "mnt")
            try:
                ctx.res.mount(["-t", "tmpfs", "-o", "size=8m", "tmpfs"], base)
            except OSError as e:
                raise HarnessError(f"chattr +i unsupported here and no tmpfs: {e}") from e
            if not chattr_works(base):
                raise HarnessError("chattr +i is not supported on the temp dir nor on tmpfs")
        run = os.path.join(base, "run")
        for s, age in ((1, 60 * 60), (2, 30 * 60)):
            unit = os.path.join(run, f"ckpt_{s}")
            make_file(os.path.join(unit, "weights.bin"), 64 * KiB, age)
            if s == 1:
                make_file(os.path.join(unit, "locked.bin"), 4 * KiB, age)
            set_age(unit, age)
        locked = os.path.join(run, "ckpt_1", "locked.bin")
        if subprocess.run(["chattr", "+i", locked], capture_output=True, timeout=10).returncode != 0:
            raise HarnessError("chattr +i failed")
        config = os.path.join(tdir, "ckptd.toml")
        write_config(config, run, os.path.join(tdir, "state"), keep_last=1, pattern="ckpt_{step}")
        trash = os.path.join(run, ".ckptd-trash")
        d = Daemon(ctx, config, os.path.join(tdir, "daemon.log"))
        try:
            if not d.wait_ready():
                raise HarnessError("daemon not ready")
            wait_until(lambda: not exists(os.path.join(run, "ckpt_1")) or bool(log_errors(d.text())), 10)
            wait_until(lambda: bool(log_errors(d.text())), 2)  # the failed removal, if any
            # The move out of the run wakes the daemon again, ~50 ms later: clear the flag only
            # once it has gone quiet, so what follows is only what the daemon does on its own.
            if not wait_quiet(d, quiet=2.0, timeout=15):
                raise HarnessError("the daemon never went quiet after the failed removal")
            # Wherever the file is now (in the trash, or still in the run), clear its flag.
            candidates = [locked] + [
                os.path.join(trash, e, "locked.bin") for e in (os.listdir(trash) if os.path.isdir(trash) else [])
            ]
            where = next((p for p in candidates if exists(p)), None)
            if where is None:
                raise HarnessError("the immutable file vanished (was the flag ignored?)")
            failed_first = bool(log_errors(d.text()))
            subprocess.run(["chattr", "-i", where], capture_output=True, timeout=10)
            cleared = time.monotonic()

            def done() -> bool:
                in_trash = os.listdir(trash) if os.path.isdir(trash) else []
                return not in_trash and not exists(os.path.join(run, "ckpt_1"))

            emptied = wait_until(done, deadline, interval=0.1)
            took = time.monotonic() - cleared
        finally:
            d.stop()
        where_rel = os.path.relpath(where, run)
        first = "removal failed first" if failed_first else "no ERROR logged for the removal"
        if emptied:
            return False, f"trial {i}: emptied {took:.1f} s after clearing ({first}; file was {where_rel})"
        return True, f"trial {i}: still in the trash after {deadline:.0f} s ({first}; file was {where_rel})"

    run_trials(ctx, row, ctx.n(1), trial, row.name)
    return [row]


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

SCENARIOS = [
    ("rewrite-in-place/A", scenario_rewrite_a),
    ("rewrite-in-place/B", scenario_rewrite_b),
    ("lagging-clock", scenario_lagging_clock),
    ("full-disk", scenario_full_disk),
    ("kill9-ledger", scenario_kill9_ledger),
    ("pressure-kill9", scenario_pressure_kill9),
    ("shared-state-dir", scenario_shared_state_dir),
    ("fifo-config", scenario_fifo_config),
    ("trash-retry", scenario_trash_retry),
]


def selected(only: str | None) -> list:
    if not only:
        return SCENARIOS
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    known = {name for name, _ in SCENARIOS} | {name.split("/")[0] for name, _ in SCENARIOS}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        sys.exit(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return [(n, f) for n, f in SCENARIOS if n in wanted or n.split("/")[0] in wanted]


def print_table(rows: list[Row]) -> None:
    print("\nSummary")
    header = ("scenario", "trials", "bad", 'what counts as "bad"')
    table = [header]
    for r in rows:
        if r.skipped:
            table.append((r.name, "-", "-", f"skipped: {r.skipped}"))
        else:
            bad = r.figure or str(r.bad)
            if r.errors:
                bad += f" ({r.errors} errors)"
            table.append((r.name, str(r.trials), bad, r.what))
    widths = [max(len(row[c]) for row in table) for c in range(3)]
    for k, row in enumerate(table):
        print("  ".join(row[c].ljust(widths[c]) for c in range(3)) + "  " + row[3])
        if k == 0:
            print("  ".join("-" * w for w in widths) + "  " + "-" * len(header[3]))


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Fault-injection scenarios against a ckptd binary (each one is described in the "
        "docstring at the top of this file).",
        epilog="scenarios: " + ", ".join(name for name, _ in SCENARIOS),
    )
    parser.add_argument("--bin", required=True, help="the ckptd binary to test")
    parser.add_argument(
        "--trials",
        type=int,
        help="trials per repeated scenario (defaults: rewrite A 5, B 20, lagging-clock 3+3, kill9 5, "
        "pressure-kill9 5, shared-state-dir 2, fifo-config 3, trash-retry 1; full-disk always runs its 6 cases)",
    )
    parser.add_argument("--only", help="comma-separated scenario names or groups")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random schedules (default 1)")
    parser.add_argument("--jobs", type=int, default=4, help="rewrite-in-place/B trials run at once (default 4)")
    parser.add_argument("--trash-deadline", type=float, default=90, help="trash-retry deadline, s (default 90)")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temp directory (still unmounts)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every trial's detail")
    args = parser.parse_args()

    scenarios = selected(args.only)
    binary = os.path.abspath(args.bin)
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary}: not an executable")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()

    def terminate(signum, frame):
        ABORT.set()
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    res = Resources(args.keep_tmp)
    ctx = Ctx(res, binary, args.trials, args.seed, args.jobs, args.trash_deadline, args.verbose)
    print(f"ckptd fault injection: {binary} ({version or 'version unknown'}); files in {res.base}", flush=True)
    rows: list[Row] = []
    started = time.monotonic()
    try:
        for name, scenario in scenarios:
            t0 = time.monotonic()
            try:
                new_rows = scenario(ctx)
            except (HarnessError, OSError, subprocess.SubprocessError) as e:
                traceback.print_exc()
                new_rows = [Row(name, what="-", skipped=f"harness failure: {e}")]
            for row in new_rows:
                print(f"{row.line()}  [{time.monotonic() - t0:.0f} s]", flush=True)
                if not args.verbose:
                    for detail in row.details[:6]:
                        print(f"    {detail}")
                    if len(row.details) > 6:
                        print(f"    ... {len(row.details) - 6} more (-v shows all)")
            rows.extend(new_rows)
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        return 130
    finally:
        res.cleanup()
    print_table(rows)
    print(f"\ntotal time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
