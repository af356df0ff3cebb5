#!/usr/bin/env python3
"""REST benchmark: list/get throughput and latency, and list latency under concurrent logins.

The server is pinned to core 0 and wrk (plus the login load) to core 1. Each scenario runs
--runs times; the medians are printed as a Markdown table. Talks only to 127.0.0.1 and stops
by itself.

    cargo build --release && python3 benches/rest_bench.py
"""
import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN_PASSWORD = "bench-admin-password"
USER_PASSWORD = "bench-password-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, (json.loads(data) if data else None)


def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, token, seconds, connections):
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-H", f"Authorization: Bearer {token}", url],
        check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"wrk saw {non2xx.group(1)} error responses:\n{out}")
    return rps, to_ms(*p50.groups()), to_ms(*p99.groups())


def login_storm(port, usernames, stop, counter):
    def loop(name):
        while not stop.is_set():
            status, _ = request(port, "POST", "/api/auth/login",
                                {"username": name, "password": USER_PASSWORD})
            if status == 200:
                counter.append(1)
    threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in usernames]
    for t in threads:
        t.start()
    return threads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--logins", type=int, default=20)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/switchboard"))
    ap.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install -y wrk)")

    data_dir = tempfile.mkdtemp(prefix="sb-bench-")
    port = free_port()
    env = dict(os.environ, SWITCHBOARD_ADMIN_PASSWORD=ADMIN_PASSWORD, RUST_LOG="warn")
    cmd = ["taskset", "-c", "0", args.binary, "serve", "--listen", f"127.0.0.1:{port}",
           "--data-dir", data_dir,
           # Never throttle the bench's own logins.
           "--login-max-failures-per-ip", "1000000"]
    if args.database_url:
        cmd += ["--database-url", args.database_url]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                if request(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("server did not start")
            time.sleep(0.1)
        status, body = request(port, "POST", "/api/auth/login",
                               {"username": "admin", "password": ADMIN_PASSWORD})
        assert status == 200, body
        token = body["access_token"]

        def create(i):
            status, body = request(port, "POST", "/api/users", {
                "username": f"user{i:05d}", "email": f"user{i:05d}@bench.example",
                "display_name": f"Bench User {i}", "password": USER_PASSWORD,
                "role": "viewer"}, token)
            assert status == 201, body
            return body["id"]
        t0 = time.time()
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(create, range(args.users)))
        print(f"seeded {len(ids)} users in {time.time() - t0:.1f}s", file=sys.stderr)

        base = f"http://127.0.0.1:{port}"
        scenarios = {
            "list 50": f"{base}/api/users?per_page=50",
            "get one": f"{base}/api/users/{ids[len(ids) // 2]}",
        }
        results = {}
        for name, url in scenarios.items():
            wrk(url, token, 2, args.connections)  # warm-up
            results[name] = [wrk(url, token, args.seconds, args.connections) for _ in range(args.runs)]

        storm = []
        logins = []
        for _ in range(args.runs):
            stop = threading.Event()
            threads = login_storm(port, [f"user{i:05d}" for i in range(args.logins)], stop, logins)
            storm.append(wrk(scenarios["list 50"], token, args.seconds, args.connections))
            stop.set()
            for t in threads:
                t.join()
        results["list 50 + 20 logins"] = storm
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)

    print(f"| scenario | req/s (median of {args.runs}) | p50 ms | p99 ms | runs (req/s) |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        rps = statistics.median(r[0] for r in runs)
        p50 = statistics.median(r[1] for r in runs)
        p99 = statistics.median(r[2] for r in runs)
        print(f"| {name} | {rps:.0f} | {p50:.2f} | {p99:.2f} | {', '.join(f'{r[0]:.0f}' for r in runs)} |")
    quiet = statistics.median(r[2] for r in results["list 50"])
    busy = statistics.median(r[2] for r in results["list 50 + 20 logins"])
    print(f"\nlist p99 under logins / quiet p99: {busy / quiet:.2f}x; "
          f"logins completed during the storm runs: {len(logins)}")


if __name__ == "__main__":
    main()
