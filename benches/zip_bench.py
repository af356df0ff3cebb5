#!/usr/bin/env python3
"""ZIP bundle benchmark: `POST /api/files/archive` of --files files of --file-mib MiB each,
streamed --runs times. Prints the archive's size, the throughput, and the server's resident
memory (VmRSS from /proc/PID/status) when 10 %, 50 % and 100 % of the archive had arrived
(medians over the runs), next to the server's RSS before the first archive. Flat RSS means the
archive is streamed, not staged.

The first archive is also saved once and checked with `unzip -tq` (not timed). The server is
pinned to core 0, this client to core 1; everything talks to 127.0.0.1, each step is bounded,
and the script stops by itself.

    cargo build --release && python3 benches/zip_bench.py [--files 100] [--file-mib 4] [--runs 5]
    (or --binary target/debug/switchboard, for a debug build's figures)
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from files_bench import ADMIN_PASSWORD, ROOT, free_port, login, rss_kib, upload, wait_http  # noqa: E402

MARKS = (0.10, 0.50, 1.00)
READ = 1 << 20


def make_files(work, count, mib):
    paths = []
    for n in range(count):
        path = os.path.join(work, f"file-{n:03}.bin")
        with open(path, "wb") as f:
            # Random bytes: nothing along the way can shortcut repeated content.
            f.write(os.urandom(mib << 20))
        paths.append(path)
    return paths


def archive(port, token, ids, pid, expect_bytes, save_to=None, timeout=600):
    """Streams one archive; returns (bytes, seconds, {mark: rss_kib})."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = json.dumps({"ids": ids, "name": "bench"})
    start = time.perf_counter()
    conn.request("POST", "/api/files/archive", body,
                 {"content-type": "application/json", "authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise SystemExit(f"archive: {resp.status} {resp.read()[:500]!r}")
    out = open(save_to, "wb") if save_to else None
    got = 0
    rss = {}
    pending = list(MARKS[:-1])
    try:
        while True:
            if time.perf_counter() - start > timeout:
                raise SystemExit("archive took too long")
            chunk = resp.read(READ)
            if not chunk:
                break
            got += len(chunk)
            if out:
                out.write(chunk)
            while pending and got >= pending[0] * expect_bytes:
                rss[pending.pop(0)] = rss_kib(pid)
        # 100 %: the last byte is in, the server has just counted and sent the directory.
        rss[MARKS[-1]] = rss_kib(pid)
    finally:
        if out:
            out.close()
        conn.close()
    return got, time.perf_counter() - start, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--file-mib", type=int, default=4)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/switchboard"))
    args = ap.parse_args()
    if not os.path.exists(args.binary):
        sys.exit("build first: cargo build --release (or pass --binary)")
    if not 1 <= args.files <= 1000:
        sys.exit("--files: 1 to 1000 (the limit of one archive)")
    try:
        os.sched_setaffinity(0, {1})
    except (AttributeError, OSError):
        pass

    work = tempfile.mkdtemp(prefix="sb-zip-bench-")
    server = None
    try:
        paths = make_files(work, args.files, args.file_mib)
        port = free_port()
        env = dict(os.environ, SWITCHBOARD_ADMIN_PASSWORD=ADMIN_PASSWORD, RUST_LOG="warn")
        server = subprocess.Popen(
            ["taskset", "-c", "0", args.binary, "serve", "--data-dir", os.path.join(work, "data"),
             "--listen", f"127.0.0.1:{port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(port)
        token = login(port)
        ids = [upload(port, token, p)["id"] for p in paths]
        data = sum(os.path.getsize(p) for p in paths)

        # One checked archive first (also warms the page cache).
        saved = os.path.join(work, "check.zip")
        size, _, _ = archive(port, token, ids, server.pid, data, save_to=saved)
        subprocess.run(["unzip", "-tq", saved], check=True, stdout=subprocess.DEVNULL)
        os.remove(saved)

        idle = rss_kib(server.pid)
        secs, marks = [], {m: [] for m in MARKS}
        for _ in range(args.runs):
            got, s, rss = archive(port, token, ids, server.pid, size)
            if got != size:
                raise SystemExit(f"archive size changed: {got} != {size}")
            secs.append(s)
            for m in MARKS:
                marks[m].append(rss[m])

        med = statistics.median
        mib = size / (1 << 20)
        binary = os.path.relpath(args.binary, ROOT)
        print(f"{args.files} files of {args.file_mib} MiB, {binary}, runs: {args.runs} (medians)")
        print("| measure | value |")
        print("|---|---|")
        print(f"| archive size | {mib:.1f} MiB ({size - data} bytes of ZIP structure) |")
        print(f"| throughput | {mib / med(secs):.0f} MiB/s ({med(secs):.2f} s) |")
        print(f"| server RSS before | {idle / 1024:.1f} MiB |")
        for m in MARKS:
            print(f"| server RSS at {m:.0%} | {med(marks[m]) / 1024:.1f} MiB |")
    finally:
        if server and server.poll() is None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
