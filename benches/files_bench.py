#!/usr/bin/env python3
"""File transfer benchmark: download throughput of a large file against two baselines, server
memory during 50 concurrent downloads for two file sizes, and upload throughput.

- download: `curl -o /dev/null` of /api/files/{id}/download, against `cat file > /dev/null`
  (the page cache's speed), Python's `http.server` and, when installed, nginx with sendfile
  (plain static servers) serving the same file. Ratios of medians are printed.
- memory: the server's peak RSS while 50 clients download the same file at a capped rate, for a
  small and a large file; flat means independent of file size.
- upload: `curl -F file=@…` of the same file.

The server is pinned to core 0 and the clients to core 1. Everything talks to 127.0.0.1, each
step is bounded in count and time, and the script stops by itself.

`--storage` picks where the server keeps the bytes: `file` (the data dir, default), `s3` (an
S3-compatible server on loopback, started through `.ci/s3-server` and pinned to the server's
core, removed afterwards) or `s3://bucket/prefix` (a bucket named by the `AWS_*` environment;
the benchmark's files are deleted through the API at the end).

    cargo build --release && python3 benches/files_bench.py [--size-mib 1024] [--runs 5] \
        [--storage file|s3|s3://bucket/prefix]
"""
import argparse
import hashlib
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN_PASSWORD = "bench-admin-password"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, path="/healthz", timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listening on {port}")


def login(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"username": "admin", "password": ADMIN_PASSWORD})
    conn.request("POST", "/api/auth/login", body, {"content-type": "application/json"})
    return json.loads(conn.getresponse().read())["access_token"]


def make_file(path, mib):
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(mib):
            # Vary each MiB so nothing along the way can shortcut repeated content.
            f.write(hashlib.sha256(i.to_bytes(8, "little")).digest() + block[32:])


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def curl(args):
    return ["taskset", "-c", "1", "curl", "-sS", "--fail", *args]


def upload(port, token, path):
    out = subprocess.run(
        curl(["-H", f"authorization: Bearer {token}", "-F", f"file=@{path}",
              f"http://127.0.0.1:{port}/api/files"]),
        check=True, capture_output=True)
    return json.loads(out.stdout)


def start_loopback_s3(work, env):
    """Starts `.ci/s3-server` with its state under `work`; adds its `export`s to `env`."""
    env["S3_SERVER_STATE"] = os.path.join(work, "s3-server")
    out = subprocess.run([os.path.join(ROOT, ".ci/s3-server"), "start"], check=True,
                         capture_output=True, text=True, env=env)
    for line in out.stdout.splitlines():
        if line.startswith("export "):
            key, value = line[len("export "):].split("=", 1)
            env[key] = value
    with open(os.path.join(env["S3_SERVER_STATE"], "pid")) as f:
        pid = f.read().strip()
    # It serves the switchboard server, so it shares the server's core.
    subprocess.run(["taskset", "-a", "-p", "-c", "0", pid], check=True,
                   stdout=subprocess.DEVNULL)
    return f"s3://{env['SWITCHBOARD_TEST_S3_BUCKET']}/bench-{uuid.uuid4().hex}"


def stop_loopback_s3(env):
    subprocess.run([os.path.join(ROOT, ".ci/s3-server"), "stop"], env=env, check=False)


def delete_file(port, token, file_id):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("DELETE", f"/api/files/{file_id}", headers={"authorization": f"Bearer {token}"})
    conn.getresponse().read()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def peak_rss_during(pid, procs):
    peak = 0
    while any(p.poll() is None for p in procs):
        peak = max(peak, rss_kib(pid))
        time.sleep(0.05)
    return peak


def concurrent_downloads(port, token, file_id, clients, rate, seconds):
    url = f"http://127.0.0.1:{port}/api/files/{file_id}/download"
    procs = [subprocess.Popen(
        ["taskset", "-c", "1", "curl", "-s", "-o", "/dev/null", "--limit-rate", rate,
         "--max-time", str(seconds), "-H", f"authorization: Bearer {token}", url])
        for _ in range(clients)]
    return procs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--small-mib", type=int, default=64)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--upload-runs", type=int, default=None,
                    help="uploads of the large file (default: half of --runs)")
    ap.add_argument("--storage", default="file",
                    help="file, s3 (a loopback S3 server) or s3://bucket/prefix")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/switchboard"))
    args = ap.parse_args()
    if not os.path.exists(args.binary):
        sys.exit("build first: cargo build --release")

    if args.storage not in ("file", "s3") and not args.storage.startswith("s3://"):
        sys.exit("--storage is file, s3 or s3://bucket/prefix")
    work = tempfile.mkdtemp(prefix="sb-files-bench-")
    server = static = None
    env = dict(os.environ, SWITCHBOARD_ADMIN_PASSWORD=ADMIN_PASSWORD, RUST_LOG="warn")
    storage = args.storage
    uploaded = []
    try:
        if storage == "s3":
            storage = start_loopback_s3(work, env)
        big = os.path.join(work, "big.bin")
        small = os.path.join(work, "small.bin")
        make_file(big, args.size_mib)
        make_file(small, args.small_mib)
        port = free_port()
        server = subprocess.Popen(
            ["taskset", "-c", "0", args.binary, "serve", "--data-dir", os.path.join(work, "data"),
             "--listen", f"127.0.0.1:{port}", "--max-upload-bytes", str(4 << 30),
             "--storage", storage],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(port)
        token = login(port)

        up_secs = []
        for _ in range(args.upload_runs or max(1, args.runs // 2)):
            start = time.perf_counter()
            f = upload(port, token, big)
            up_secs.append(time.perf_counter() - start)
            uploaded.append(f["id"])
        small_file = upload(port, token, small)
        uploaded.append(small_file["id"])
        size = os.path.getsize(big)

        # Warm the page cache for everyone alike.
        timed(["cat", big])
        cat = [timed(["taskset", "-c", "1", "sh", "-c", f"cat {big} > /dev/null"])
               for _ in range(args.runs)]
        url = f"http://127.0.0.1:{port}/api/files/{f['id']}/download"
        ours = [timed(curl(["-o", "/dev/null", "-H", f"authorization: Bearer {token}", url]))
                for _ in range(args.runs)]

        sport = free_port()
        static = subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, "-m", "http.server", str(sport),
             "--bind", "127.0.0.1", "--directory", work],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(sport, "/")
        plain = [timed(curl(["-o", "/dev/null", f"http://127.0.0.1:{sport}/big.bin"]))
                 for _ in range(args.runs)]

        nginx_secs = None
        if shutil.which("nginx"):
            nport = free_port()
            conf = os.path.join(work, "nginx.conf")
            with open(conf, "w") as c:
                c.write(f"""daemon off; user root; worker_processes 1; pid {work}/nginx.pid;
error_log {work}/nginx.err; events {{ worker_connections 256; }}
http {{ access_log off; sendfile on; tcp_nopush on;
  server {{ listen 127.0.0.1:{nport}; root {work}; }} }}""")
            nginx = subprocess.Popen(["taskset", "-c", "0", "nginx", "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_http(nport, "/")
                nginx_secs = [timed(curl(["-o", "/dev/null", f"http://127.0.0.1:{nport}/big.bin"]))
                              for _ in range(args.runs)]
            finally:
                nginx.terminate()
                nginx.wait(timeout=10)

        idle = rss_kib(server.pid)
        peaks = {}
        for label, fid in (("small", small_file["id"]), ("large", f["id"])):
            procs = concurrent_downloads(port, token, fid, 50, "20M", 8)
            peaks[label] = peak_rss_during(server.pid, procs)

        mib = size / (1 << 20)
        med = statistics.median
        print(f"file: {mib:.0f} MiB, runs: {args.runs}, uploads: {len(up_secs)} (medians), "
              f"storage: {args.storage}, binary: {args.binary}")
        print("| measure | value |")
        print("|---|---|")
        print(f"| download, switchboard | {mib / med(ours):.0f} MiB/s |")
        print(f"| cat > /dev/null | {mib / med(cat):.0f} MiB/s |")
        print(f"| download, python http.server | {mib / med(plain):.0f} MiB/s |")
        print(f"| ratio switchboard / cat | {med(cat) / med(ours):.2f} |")
        print(f"| ratio switchboard / http.server | {med(plain) / med(ours):.2f} |")
        if nginx_secs:
            print(f"| download, nginx (sendfile) | {mib / med(nginx_secs):.0f} MiB/s |")
            print(f"| ratio switchboard / nginx | {med(nginx_secs) / med(ours):.2f} |")
        print(f"| upload (multipart, curl) | {mib / med(up_secs):.0f} MiB/s |")
        print(f"| server RSS idle | {idle / 1024:.1f} MiB |")
        print(f"| peak RSS, 50 downloads of {args.small_mib} MiB | {peaks['small'] / 1024:.1f} MiB |")
        print(f"| peak RSS, 50 downloads of {args.size_mib} MiB | {peaks['large'] / 1024:.1f} MiB |")
        if args.storage.startswith("s3://"):
            for file_id in uploaded:
                delete_file(port, token, file_id)
    finally:
        for p in (server, static):
            if p and p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
        if args.storage == "s3":
            stop_loopback_s3(env)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    threading.stack_size(1 << 20)
    main()
