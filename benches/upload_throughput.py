#!/usr/bin/env python3
"""Benchmark: upload throughput of a 2 GiB checkpoint to a local S3 server (issue 13, part 6),
ckptd against boto3 in the same run (release build).

    cargo build --release && python3 benches/upload_throughput.py [--bin PATH] [--python PY]
        [--reps 3] [--concurrency 4,8] [--files 16] [--file-mib 128] [--dir DIR] [--keep]

The server is moto (`tests/fixtures/moto_server.py`, on 127.0.0.1, a free port), run by the
venv's python: `--python`, else `target/test-venv/bin/python` as the tests use it (created,
with `pip install 'moto[server]>=5,<6' boto3`, when missing). The same python runs the boto3
side (this file, in its `_worker` mode); this side is stdlib only.

The checkpoint: `runs/exp/checkpoint-100/` of --files files of --file-mib MiB of random bytes
(`model-0000N-of-000NN.safetensors`, written once under DIR/data and hard-linked into the
checkpoint before each ckptd run, since `prune` deletes it), `config.json` and
`trainer_state.json` (`global_step`), and a small newer `checkpoint-200/`; both aged an hour.

- ckptd: `ckptd prune --config X` with `keep_last = 1` and `upload = { to = "s3://ckptd/{run}",
  which = ["all"], concurrency = N }`: prune uploads checkpoint-100 (and the small
  checkpoint-200) inline, verifies and commits them, then deletes checkpoint-100 locally.
  Env: AWS_ACCESS_KEY_ID/SECRET=testing, AWS_REGION=us-east-1, AWS_ENDPOINT_URL=moto.
- boto3: a child process uploads the same --files files to bucket `boto3`, a thread pool of
  N files at once, each `s3.upload_file` with the default TransferConfig (multipart above
  8 MiB, 8 MiB parts, up to 10 parts of a file at once), so up to 10 x N parts in flight.

For each concurrency N, the two alternate (ckptd, boto3, ckptd, ...) --reps times each. Wall
time is the child process's, from spawn to exit (both include their start: ckptd's config,
scan and plan; Python's start and the boto3 import, also reported apart as "inner"). CPU
(utime + stime, all threads) and peak RSS (ru_maxrss) come from wait4 on the child; moto's
CPU is read from /proc/PID/stat (utime + stime, all threads) around each run. MiB/s counts the
--files x --file-mib MiB of the large files. After every run the server is reset (objects
dropped; moto spills large objects to temporary files, kept under DIR) and buckets re-created.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "ckptd")
CLK_TCK = os.sysconf("SC_CLK_TCK")
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def worker(argv):
    """Runs inside the venv's python: `_worker upload ENDPOINT BUCKET PREFIX N FILE...`,
    `_worker buckets ENDPOINT NAME...`, `_worker count ENDPOINT BUCKET`."""
    import boto3

    cmd, endpoint = argv[0], argv[1]
    s3 = boto3.client("s3", endpoint_url=endpoint)
    if cmd == "buckets":
        for name in argv[2:]:
            s3.create_bucket(Bucket=name)
    elif cmd == "count":
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=argv[2]):
            keys += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
        print(json.dumps(keys))
    elif cmd == "upload":
        from concurrent.futures import ThreadPoolExecutor
        from boto3.s3.transfer import TransferConfig

        bucket, prefix, n, files = argv[2], argv[3], int(argv[4]), argv[5:]
        config = TransferConfig()
        t0 = time.monotonic()
        with ThreadPoolExecutor(n) as pool:
            done = [pool.submit(s3.upload_file, path, bucket,
                                f"{prefix}/{os.path.basename(path)}", Config=config)
                    for path in files]
            for d in done:
                d.result()
        print(json.dumps({"inner_s": time.monotonic() - t0}))


def python_of(args):
    if args.python:
        return args.python
    venv = os.path.join(ROOT, "target", "test-venv")
    python = os.path.join(venv, "bin", "python")
    ready = os.path.join(venv, ".ckptd-moto-ready")
    if not os.path.exists(ready):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "moto[server]>=5,<6", "boto3"],
                       check=True)
        open(ready, "w").close()
    return python


def proc_cpu_s(pid):
    """utime + stime of all the process's threads so far, in seconds (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def measured(argv, env, log):
    """Runs argv to its end: (wall s, CPU s, peak RSS KiB, exit status, stdout)."""
    out_path = log + ".out"
    with open(out_path, "w") as out, open(log, "w") as err:
        t0 = time.monotonic()
        child = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.monotonic() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    return (wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, child.returncode,
            open(out_path).read())


class Moto:
    def __init__(self, python, tmpdir):
        self.python = python
        self.proc = subprocess.Popen(
            [python, os.path.join(ROOT, "tests", "fixtures", "moto_server.py"), "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**os.environ, "TMPDIR": tmpdir},
        )
        self.port = int(self.proc.stdout.readline())
        self.endpoint = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/data.json").read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def run_worker(self, *argv):
        out = subprocess.run([self.python, os.path.abspath(__file__), "_worker", argv[0],
                              self.endpoint, *argv[1:]],
                             env={**os.environ, **AWS_ENV}, check=True, capture_output=True,
                             text=True)
        return out.stdout

    def reset(self):
        """Drops every bucket and object (and the temporary files holding them)."""
        req = urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST")
        urllib.request.urlopen(req).read()
        self.run_worker("buckets", "ckptd", "boto3")

    def cpu_s(self):
        return proc_cpu_s(self.proc.pid)

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def write_data(data, files, mib):
    """The large files, written once (random bytes); their paths."""
    os.makedirs(data, exist_ok=True)
    paths = []
    for i in range(1, files + 1):
        path = os.path.join(data, f"model-{i:05d}-of-{files:05d}.safetensors")
        if not (os.path.exists(path) and os.path.getsize(path) == mib << 20):
            with open(path, "wb") as f:
                for _ in range(mib):
                    f.write(os.urandom(1 << 20))
        paths.append(path)
    return paths


def make_run(run, paths):
    """checkpoint-100 (the large files, hard-linked) and a small checkpoint-200, aged."""
    shutil.rmtree(run, ignore_errors=True)
    old = time.time() - 3600
    for step, big in ((100, True), (200, False)):
        ckpt = os.path.join(run, f"checkpoint-{step}")
        os.makedirs(ckpt)
        if big:
            for p in paths:
                os.link(p, os.path.join(ckpt, os.path.basename(p)))
        else:
            with open(os.path.join(ckpt, "model.safetensors"), "wb") as f:
                f.write(os.urandom(64 << 10))
        with open(os.path.join(ckpt, "config.json"), "w") as f:
            f.write(json.dumps({"step": step}))
        with open(os.path.join(ckpt, "trainer_state.json"), "w") as f:
            f.write(json.dumps({"global_step": step, "log_history": []}))
        t = old + step
        for name in os.listdir(ckpt):
            os.utime(os.path.join(ckpt, name), (t, t))
        os.utime(ckpt, (t, t))


def ckptd_run(moto, work, paths, n, rep):
    run = os.path.join(work, "runs", "exp")
    make_run(run, paths)
    config = os.path.join(work, "ckptd.toml")
    state = os.path.join(work, "state")
    shutil.rmtree(state, ignore_errors=True)
    with open(config, "w") as f:
        f.write(
            f'[daemon]\nstate_dir = "{state}"\n\n[[watch]]\nname = "bench"\n'
            f'runs = ["{work}/runs/*"]\nlayout = "huggingface"\nkeep_last = 1\n'
            f'upload = {{ to = "s3://ckptd/{{run}}", which = ["all"], concurrency = {n} }}\n'
        )
    env = {**os.environ, **AWS_ENV, "AWS_ENDPOINT_URL": moto.endpoint, "CKPTD_LOG": "warn"}
    log = os.path.join(work, "logs", f"ckptd-c{n}-{rep}.log")
    m0 = moto.cpu_s()
    wall, cpu, rss, code, _ = measured([BINARY, "prune", "--config", config], env, log)
    moto_cpu = moto.cpu_s() - m0
    if code != 0 or os.path.exists(os.path.join(run, "checkpoint-100")):
        sys.exit(f"ckptd prune failed (exit {code}); see {log}")
    keys = dict(json.loads(moto.run_worker("count", "ckptd")))
    for p in paths:
        key = f"exp/checkpoint-100/{os.path.basename(p)}"
        if keys.get(key) != os.path.getsize(p):
            sys.exit(f"ckptd did not upload {key}: {sorted(keys)}")
    if "exp/checkpoint-100/.ckptd-manifest.json" not in keys:
        sys.exit("no manifest for checkpoint-100")
    return {"wall": wall, "cpu": cpu, "rss": rss, "moto_cpu": moto_cpu}


def boto3_run(moto, work, paths, n, rep):
    log = os.path.join(work, "logs", f"boto3-c{n}-{rep}.log")
    env = {**os.environ, **AWS_ENV}
    m0 = moto.cpu_s()
    wall, cpu, rss, code, out = measured(
        [moto.python, os.path.abspath(__file__), "_worker", "upload", moto.endpoint, "boto3",
         f"rep-{rep}", str(n), *paths], env, log)
    moto_cpu = moto.cpu_s() - m0
    if code != 0:
        sys.exit(f"boto3 upload failed (exit {code}); see {log}")
    keys = dict(json.loads(moto.run_worker("count", "boto3")))
    if len(keys) != len(paths) or any(s != os.path.getsize(paths[0]) for s in keys.values()):
        sys.exit(f"boto3 did not upload every file: {keys}")
    return {"wall": wall, "cpu": cpu, "rss": rss, "moto_cpu": moto_cpu,
            "inner": json.loads(out)["inner_s"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", help="the ckptd binary (default: target/release/ckptd)")
    parser.add_argument("--python", help="a python with moto[server] and boto3 "
                        "(default: target/test-venv, created when missing)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--concurrency", default="4,8", help="files at once, comma-separated")
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--file-mib", type=int, default=128)
    parser.add_argument("--dir", help="where to work (default: target/bench-upload)")
    parser.add_argument("--keep", action="store_true", help="keep the data and logs")
    parser.add_argument("--json", help="write every sample to this file")
    args = parser.parse_args()
    global BINARY
    if args.bin:
        BINARY = os.path.abspath(args.bin)
    if not os.path.exists(BINARY):
        sys.exit("build first: cargo build --release")
    python = python_of(args)
    work = os.path.abspath(args.dir or os.path.join(ROOT, "target", "bench-upload"))
    os.makedirs(os.path.join(work, "logs"), exist_ok=True)
    moto_tmp = os.path.join(work, "moto-tmp")
    os.makedirs(moto_tmp, exist_ok=True)
    total_mib = args.files * args.file_mib
    print(f"writing {args.files} x {args.file_mib} MiB of random bytes ...", flush=True)
    paths = write_data(os.path.join(work, "data"), args.files, args.file_mib)
    moto = Moto(python, moto_tmp)
    results = {}
    try:
        for n in [int(c) for c in args.concurrency.split(",")]:
            for rep in range(args.reps):
                for side, fn in (("ckptd", ckptd_run), ("boto3", boto3_run)):
                    moto.reset()
                    r = fn(moto, work, paths, n, rep)
                    results.setdefault((side, n), []).append(r)
                    print(f"  c={n} rep {rep + 1} {side}: {total_mib / r['wall']:.0f} MiB/s "
                          f"({r['wall']:.2f} s, CPU {r['cpu']:.2f} s, peak RSS "
                          f"{r['rss'] / 1024:.0f} MiB, moto CPU {r['moto_cpu']:.2f} s)",
                          flush=True)
            moto.reset()
    finally:
        moto.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{s}-c{n}": v for (s, n), v in results.items()}, f, indent=1)

    med = lambda rs, k: statistics.median(r[k] for r in rs)
    print(f"\n{total_mib} MiB in {args.files} files, median of {args.reps} (min..max MiB/s):")
    print("| files at once | ckptd MiB/s | boto3 MiB/s | ckptd / boto3 | ckptd CPU s | "
          "ckptd peak RSS | boto3 CPU s | boto3 peak RSS | moto CPU s (ckptd / boto3) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sorted({n for _, n in results}):
        c, b = results[("ckptd", n)], results[("boto3", n)]
        rate = lambda rs: (total_mib / med(rs, "wall"),
                           min(total_mib / r["wall"] for r in rs),
                           max(total_mib / r["wall"] for r in rs))
        cr, br = rate(c), rate(b)
        print(f"| {n} | {cr[0]:.0f} ({cr[1]:.0f}..{cr[2]:.0f}) | {br[0]:.0f} ({br[1]:.0f}..{br[2]:.0f})"
              f" | {cr[0] / br[0]:.2f} | {med(c, 'cpu'):.2f} | {med(c, 'rss') / 1024:.0f} MiB"
              f" | {med(b, 'cpu'):.2f} | {med(b, 'rss') / 1024:.0f} MiB"
              f" | {med(c, 'moto_cpu'):.1f} / {med(b, 'moto_cpu'):.1f} |")
        print(f"  (boto3 inner upload time, without Python start: median "
              f"{med(b, 'inner'):.2f} s = {total_mib / med(b, 'inner'):.0f} MiB/s)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        worker(sys.argv[2:])
    else:
        main()
