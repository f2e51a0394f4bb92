"""What the benchmark scripts read of a process and how they wait: shared by daemon.py and
scale.py (stdlib only)."""
import time


def wait_for(predicate, timeout, step=0.0005):
    """Polls `predicate` every `step` seconds until it holds; TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(step)


def cpu_ns(pid):
    """CPU time the process has used so far, in nanoseconds (/proc/PID/schedstat)."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def rss_kib(pid):
    """The process's resident memory (VmRSS), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
