#!/usr/bin/env python3
"""Memory at rest: the server's resident memory when idle, and again after a burst of logins
and uploads.

Each run starts the release server on a fresh SQLite data dir, pinned to core 0, and samples
VmRSS plus the anonymous / file-backed split (from /proc/PID/smaps_rollup) at four points:

- start:   as soon as /healthz answers
- idle:    --idle-secs later, without any request in between
- burst:   right after --logins concurrent logins and --uploads multipart uploads of
           --upload-mib MiB each (--upload-concurrency at a time)
- settled: once RSS stops falling after the burst (polled once a second, at most
           --settle-secs; "stopped" = no drop of more than 256 KiB over --stable-secs, which
           defaults to longer than tokio's 10 s keep-alive of idle blocking threads)

Prints a Markdown table with every run and the medians. Talks only to 127.0.0.1, every step
is bounded, and the script stops by itself.

    cargo build --release && python3 benches/idle_rss.py [--runs 3] [--binary PATH]
"""
import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rest_bench import ADMIN_PASSWORD, ROOT, free_port, request  # noqa: E402

POINTS = ("start", "idle", "burst", "settled")


def memory_kib(pid):
    """(rss, anon, file) in KiB; file = file-backed mappings, the binary's own text included."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                fields[parts[0][:-1]] = int(parts[1])
    rss = fields.get("Rss", 0)
    anon = fields.get("Anonymous", 0)
    return rss, anon, rss - anon


def wait_healthy(port, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}")
        try:
            if request(port, "GET", "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit("server did not start")


def login(port):
    status, body = request(port, "POST", "/api/auth/login",
                           {"username": "admin", "password": ADMIN_PASSWORD})
    if status != 200:
        raise SystemExit(f"login failed: {status} {body}")
    return body["access_token"]


def upload(port, token, payload, name):
    boundary = "----idle-rss-bench-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    body = head + payload + f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/api/files", body, {
        "content-type": f"multipart/form-data; boundary={boundary}",
        "authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.status != 201:
        raise SystemExit(f"upload failed: {resp.status} {data[:200]!r}")


def settle(pid, max_secs, stable_secs):
    """Poll once a second until RSS has not dropped by more than 256 KiB for stable_secs."""
    samples = [memory_kib(pid)]
    start = time.time()
    while time.time() - start < max_secs:
        time.sleep(1)
        samples.append(memory_kib(pid))
        window = [s[0] for s in samples[-(stable_secs + 1):]]
        if len(window) == stable_secs + 1 and window[0] - min(window) <= 256:
            break
    return samples[-1], time.time() - start


def one_run(args, run):
    data_dir = tempfile.mkdtemp(prefix="sb-idle-rss-")
    port = free_port()
    env = dict(os.environ, SWITCHBOARD_ADMIN_PASSWORD=ADMIN_PASSWORD, RUST_LOG="warn")
    # taskset execs the binary, so the child's pid is the server's.
    cmd = ["taskset", "-c", "0", args.binary, "serve", "--listen", f"127.0.0.1:{port}",
           "--data-dir", data_dir, "--login-max-failures-per-ip", "1000000"]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = {}
    try:
        wait_healthy(port, server)
        out["start"] = memory_kib(server.pid)
        time.sleep(args.idle_secs)
        out["idle"] = memory_kib(server.pid)

        t0 = time.time()
        with ThreadPoolExecutor(args.logins) as pool:
            tokens = list(pool.map(lambda _: login(port), range(args.logins)))
        payload = os.urandom(args.upload_mib << 20)
        with ThreadPoolExecutor(args.upload_concurrency) as pool:
            list(pool.map(lambda i: upload(port, tokens[i % len(tokens)], payload,
                                           f"run{run}-{i}.bin"), range(args.uploads)))
        burst_secs = time.time() - t0
        out["burst"] = memory_kib(server.pid)
        out["settled"], settle_secs = settle(server.pid, args.settle_secs, args.stable_secs)
        print(f"run {run}: burst took {burst_secs:.1f}s, settled after {settle_secs:.0f}s",
              file=sys.stderr)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
    return out


def mib(kib):
    return f"{kib / 1024:.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--binary", default=os.environ.get(
        "SWITCHBOARD_BIN", os.path.join(ROOT, "target/release/switchboard")))
    ap.add_argument("--idle-secs", type=int, default=10)
    ap.add_argument("--logins", type=int, default=20)
    ap.add_argument("--uploads", type=int, default=20)
    ap.add_argument("--upload-mib", type=int, default=1)
    ap.add_argument("--upload-concurrency", type=int, default=4)
    ap.add_argument("--settle-secs", type=int, default=30)
    ap.add_argument("--stable-secs", type=int, default=12)
    args = ap.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} does not exist: cargo build --release (or pass --binary)")

    runs = [one_run(args, i + 1) for i in range(args.runs)]

    print(f"RSS in MiB (anon / file-backed from smaps_rollup); {args.logins} concurrent logins, "
          f"{args.uploads} x {args.upload_mib} MiB uploads ({args.upload_concurrency} at a time)\n")
    print("| run | " + " | ".join(POINTS) + " |")
    print("|---|" + "---|" * len(POINTS))
    rows = [(str(i + 1), r) for i, r in enumerate(runs)]
    median = {p: tuple(statistics.median(r[p][k] for r in runs) for k in range(3)) for p in POINTS}
    rows.append(("**median**", median))
    for label, r in rows:
        cells = [f"{mib(r[p][0])} ({mib(r[p][1])} / {mib(r[p][2])})" for p in POINTS]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
