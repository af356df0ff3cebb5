#!/usr/bin/env python3
"""Resumable upload benchmark: a large file uploaded with tus (one PATCH, and in chunks) against
`POST /api/files` multipart, each timed end to end (creation, every PATCH, the file existing),
the median of `--runs` runs each, and the ratios to multipart.

- multipart: `curl -F file=@…` to /api/files.
- tus, one PATCH: POST /api/uploads, then one `curl -T` PATCH of the whole file.
- tus, chunks: POST /api/uploads, then `--chunk-mib` PATCHes (the chunk files are cut before
  timing); the server assembles the parts into the file at the end.

Each file's sha256 is checked against the source after every run, and the file is deleted
again so the store stays small. The server is pinned to core 0 and curl to core 1; everything
talks to 127.0.0.1, each step is bounded, and the script stops by itself.

    cargo build --release && python3 benches/tus_bench.py [--size-mib 1024] [--chunk-mib 64] [--runs 3]
    python3 benches/tus_bench.py --binary target/debug/switchboard   # a debug build
"""
import argparse
import base64
import hashlib
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
import files_bench as fb  # noqa: E402  (shared helpers: ports, login, files, curl)


def request(port, method, path, token, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    hdrs = {"authorization": f"Bearer {token}", **(headers or {})}
    conn.request(method, path, body, hdrs)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def tus_create(port, token, size, name):
    meta = "filename " + base64.b64encode(name.encode()).decode()
    status, headers, body = request(port, "POST", "/api/uploads", token, {
        "tus-resumable": "1.0.0", "upload-length": str(size), "upload-metadata": meta})
    if status != 201:
        raise SystemExit(f"POST /api/uploads: {status} {body[:300]!r}")
    return headers["location"]


def tus_patch(port, token, location, offset, path):
    """One PATCH of the file at `path`, streamed by curl; returns the response headers."""
    out = subprocess.run(
        fb.curl(["-i", "-X", "PATCH", "-T", path, "-H", "Expect:",
                 "-H", f"authorization: Bearer {token}", "-H", "Tus-Resumable: 1.0.0",
                 "-H", "Content-Type: application/offset+octet-stream",
                 "-H", f"Upload-Offset: {offset}", f"http://127.0.0.1:{port}{location}"]),
        check=True, capture_output=True, timeout=1800)
    headers = {}
    for line in out.stdout.decode(errors="replace").split("\r\n")[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return headers


def tus_upload(port, token, size, chunks):
    location = tus_create(port, token, size, "bench.bin")
    offset, headers = 0, {}
    for path in chunks:
        headers = tus_patch(port, token, location, offset, path)
        offset += os.path.getsize(path)
        if int(headers.get("upload-offset", -1)) != offset:
            raise SystemExit(f"PATCH ended at {headers.get('upload-offset')}, expected {offset}")
    return headers["switchboard-file-id"]


def multipart_upload(port, token, path):
    out = subprocess.run(
        fb.curl(["-H", "Expect:", "-H", f"authorization: Bearer {token}",
                 "-F", f"file=@{path}", f"http://127.0.0.1:{port}/api/files"]),
        check=True, capture_output=True, timeout=1800)
    return json.loads(out.stdout)["id"]


def check_and_delete(port, token, file_id, sha):
    status, _, body = request(port, "GET", f"/api/files/{file_id}", token)
    got = json.loads(body).get("sha256") if status == 200 else None
    if got != sha:
        raise SystemExit(f"file {file_id}: sha256 {got}, expected {sha}")
    status, _, _ = request(port, "DELETE", f"/api/files/{file_id}", token)
    if status != 204:
        raise SystemExit(f"DELETE /api/files/{file_id}: {status}")


def cut(path, chunk_bytes, into):
    parts = []
    with open(path, "rb") as src:
        i = 0
        while True:
            block = src.read(chunk_bytes)
            if not block:
                return parts
            part = os.path.join(into, f"chunk-{i:05}")
            with open(part, "wb") as out:
                out.write(block)
            parts.append(part)
            i += 1


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--chunk-mib", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--binary", default=os.path.join(fb.ROOT, "target/release/switchboard"))
    args = ap.parse_args()
    if not os.path.exists(args.binary):
        sys.exit("build first: cargo build --release (or pass --binary)")

    work = tempfile.mkdtemp(prefix="sb-tus-bench-")
    server = None
    try:
        big = os.path.join(work, "big.bin")
        fb.make_file(big, args.size_mib)
        size = os.path.getsize(big)
        sha = sha256_of(big)
        chunk_dir = os.path.join(work, "chunks")
        os.mkdir(chunk_dir)
        chunks = cut(big, args.chunk_mib << 20, chunk_dir)
        port = fb.free_port()
        env = dict(os.environ, SWITCHBOARD_ADMIN_PASSWORD=fb.ADMIN_PASSWORD, RUST_LOG="warn")
        server = subprocess.Popen(
            ["taskset", "-c", "0", args.binary, "serve", "--data-dir", os.path.join(work, "data"),
             "--listen", f"127.0.0.1:{port}", "--max-upload-bytes", str(max(size, 4 << 30))],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        fb.wait_http(port)
        token = fb.login(port)
        fb.timed(["cat", big])  # warm the page cache

        modes = {
            "multipart (POST /api/files)": lambda: multipart_upload(port, token, big),
            "tus, one PATCH": lambda: tus_upload(port, token, size, [big]),
            f"tus, {args.chunk_mib} MiB PATCHes ({len(chunks)})":
                lambda: tus_upload(port, token, size, chunks),
        }
        secs = {name: [] for name in modes}
        for _ in range(args.runs):
            # Interleaved, so that drift (page cache, disk) hits every mode alike.
            for name, run in modes.items():
                start = time.perf_counter()
                file_id = run()
                secs[name].append(time.perf_counter() - start)
                check_and_delete(port, token, file_id, sha)

        mib = size / (1 << 20)
        med = statistics.median
        base = med(secs["multipart (POST /api/files)"])
        print(f"file: {mib:.0f} MiB, runs: {args.runs} (medians), binary: {args.binary}")
        print("| upload | median | throughput | time / multipart |")
        print("|---|---|---|---|")
        for name, s in secs.items():
            print(f"| {name} | {med(s):.2f} s | {mib / med(s):.0f} MiB/s | {med(s) / base:.2f} |")
    finally:
        if server and server.poll() is None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
