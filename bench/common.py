"""Helpers shared by the bench/ scripts: building Warden in release mode, percentiles, RSS."""
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# How Warden is built for production (scripts/build-release does the same): one static binary,
# optimised for size, linked by lld with packed relative relocations and no exported symbols, which
# keeps the pages the loader and the runtime touch (and so the resident memory) small.
RELEASE = ["swift", "build", "-c", "release", "--static-swift-stdlib", "-Xswiftc", "-Osize", "-Xswiftc", "-use-ld=lld",
           "-Xlinker", "--no-export-dynamic", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
           "--scratch-path", ".build-release"]


def build_release():
    """Builds warden and warden-sample as shipped (release, Swift runtime linked in statically);
    returns the products directory."""
    for product in ("warden", "warden-sample"):
        subprocess.run(RELEASE + ["--product", product], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return subprocess.run(RELEASE + ["--show-bin-path"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()


def compile_c(source, name):
    os.makedirs(OUT, exist_ok=True)
    binary = os.path.join(OUT, name)
    subprocess.run(["gcc", "-O2", "-o", binary, os.path.join(ROOT, "bench", source)], check=True)
    return binary


def percentile(values, p):
    """Nearest-rank percentile of a list (p in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, int(round(p / 100 * len(ordered) + 0.5)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values):
    return statistics.median(values) if values else float("nan")


def rss_kib(pid):
    """Resident set size of one process, in KiB (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_until(condition, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def stop(process, timeout=30):
    """SIGTERM, then SIGKILL after `timeout` seconds (said, since a killed Warden leaves its services
    running by design, for the next one to adopt); returns how long it took."""
    start = time.time()
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        log(f"pid {process.pid} did not stop within {timeout} s of SIGTERM: killed")
        process.kill()
        process.wait()
    return time.time() - start
