#!/usr/bin/env python3
"""Backup and bulk-import benchmark (docs/BENCHMARKS.md, "Backups and bulk import").

1. Imports --users users through `POST /api/users/import` in CSV batches of 10,000 rows that carry
   a precomputed argon2id `password_hash` (no hashing at import), and times each batch: rows/s.
   Then one batch of --plain-rows rows with plaintext passwords, which the server hashes
   (argon2id, 19 MiB, 2 passes, --hash-concurrency = cores): rows/s with the hash cost.
2. Uploads --files files of 1–16 KiB (random bytes) over one keep-alive connection.
3. Takes --runs backups through `POST /api/backups`, polling `GET /api/backups/{id}` every 50 ms,
   and samples the server's VmRSS every 20 ms meanwhile: the first copies every object, the
   later ones are incremental (nothing new to copy). Prints each run's time, objects copied and
   peak RSS against the RSS before it.

The server is pinned to core 0, this client to core 1; everything talks to 127.0.0.1, each step
is bounded, and the script stops by itself.

    cargo build --release && taskset -c 1 python3 benches/backup_bench.py \
        [--users 100000] [--files 10000] [--runs 3] [--plain-rows 2000]
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
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from files_bench import ADMIN_PASSWORD, ROOT, free_port, login, rss_kib, wait_http  # noqa: E402

BATCH = 10_000


def request(port, method, path, token, body=None, headers=None, timeout=600):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = {"authorization": f"Bearer {token}"}
    h.update(headers or {})
    conn.request(method, path, body, h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def hash_password(port, token):
    """The server's own argon2id hash of a known password, read back from an export."""
    status, _ = request(port, "POST", "/api/users", token, json.dumps({
        "username": "hash_source", "email": "hash_source@example.com",
        "password": "bench-user-password", "role": "viewer"}),
        {"content-type": "application/json"})
    assert status == 201, status
    status, data = request(port, "GET", "/api/users/export?format=jsonl&password_hashes=true&q=hash_source", token)
    assert status == 200, (status, data[:200])
    for line in data.decode().splitlines():
        row = json.loads(line)
        if row["username"] == "hash_source":
            return row["password_hash"]
    raise SystemExit("no hash exported")


def csv_batch(start, count, password_hash=None):
    if password_hash:
        lines = ["username,email,role,password_hash"]
        lines += [f"u{n:07},u{n:07}@example.com,viewer,\"{password_hash}\"" for n in range(start, start + count)]
    else:
        lines = ["username,email,role,password"]
        lines += [f"p{n:07},p{n:07}@example.com,viewer,plain-password-{n}" for n in range(start, start + count)]
    return ("\n".join(lines) + "\n").encode()


def import_batch(port, token, body):
    t = time.perf_counter()
    status, data = request(port, "POST", "/api/users/import?format=csv&mode=all_or_nothing",
                           token, body, {"content-type": "text/csv"}, timeout=1800)
    took = time.perf_counter() - t
    if status != 200:
        raise SystemExit(f"import: {status} {data[:300]!r}")
    report = json.loads(data)
    if report["errors"]:
        raise SystemExit(f"import errors: {report['errors'][:3]}")
    return report["created"], took


def upload_files(port, token, count):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    boundary = "benchboundary7d1f"
    for n in range(count):
        data = os.urandom(1024 + (n * 1543) % (15 * 1024))
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"f{n:05}.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        body += data + f"\r\n--{boundary}--\r\n".encode()
        conn.request("POST", "/api/files", body, {
            "authorization": f"Bearer {token}",
            "content-type": f"multipart/form-data; boundary={boundary}"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 201:
            raise SystemExit(f"upload {n}: {resp.status}")
    conn.close()


def backup_once(port, token, pid):
    before = rss_kib(pid)
    peak = [before]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t = time.perf_counter()
    status, data = request(port, "POST", "/api/backups", token, b"{}", {"content-type": "application/json"})
    if status != 202:
        raise SystemExit(f"backup: {status} {data[:200]!r}")
    bid = json.loads(data)["id"]
    deadline = time.time() + 900
    while True:
        status, data = request(port, "GET", f"/api/backups/{bid}", token)
        b = json.loads(data)
        if b["status"] != "running":
            break
        if time.time() > deadline:
            raise SystemExit("backup took too long")
        time.sleep(0.05)
    took = time.perf_counter() - t
    stop.set()
    sampler.join()
    if b["status"] != "completed":
        raise SystemExit(f"backup failed: {b}")
    return took, b, before, peak[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/switchboard"))
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--plain-rows", type=int, default=2_000)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="sb-backup-bench-")
    port = free_port()
    env = dict(os.environ, SWITCHBOARD_ADMIN_PASSWORD=ADMIN_PASSWORD, RUST_LOG="warn")
    server = subprocess.Popen(
        ["taskset", "-c", "0", args.binary, "serve", "--data-dir", os.path.join(work, "data"),
         "--listen", f"127.0.0.1:{port}", "--event-retention-count", "1000000"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(port)
        token = login(port)
        password_hash = hash_password(port, token)
        rates = []
        for start in range(0, args.users, BATCH):
            count = min(BATCH, args.users - start)
            created, took = import_batch(port, token, csv_batch(start, count, password_hash))
            assert created == count, (created, count)
            rates.append(count / took)
            token = login(port)
        print(f"import with argon2id hashes given: {len(rates)} batches of {BATCH} rows, "
              f"median {statistics.median(rates):,.0f} rows/s (min {min(rates):,.0f}, max {max(rates):,.0f})")
        if args.plain_rows:
            created, took = import_batch(port, token, csv_batch(0, args.plain_rows))
            print(f"import with plaintext passwords (argon2id m=19 MiB t=2 hashed by the server): "
                  f"{created} rows in {took:.1f} s = {created / took:,.1f} rows/s")
        token = login(port)
        t = time.perf_counter()
        upload_files(port, token, args.files)
        print(f"uploaded {args.files} files in {time.perf_counter() - t:.1f} s")
        token = login(port)
        for run in range(args.runs):
            took, b, before, peak = backup_once(port, token, server.pid)
            print(f"backup {run + 1}: {took:.2f} s, {b['objects_total']} objects "
                  f"({b['objects_copied']} copied, {b['bytes_copied'] / 1048576:.1f} MiB), "
                  f"{b['size_bytes'] / 1048576:.1f} MiB in all; RSS {before / 1024:.1f} -> peak "
                  f"{peak / 1024:.1f} MiB")
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
