#!/usr/bin/env python3
"""Write throughput: `PATCH /api/users/{id}` (a display-name change, one `user.updated` event
each) by 1 and by 8 concurrent writers, on SQLite and on PostgreSQL.

Every update is one transaction that changes the row and appends its event, so the figure
includes the event log's ordering (the `event_seq` row, docs/ARCHITECTURE.md) and the commit's
flush to disk. The server is pinned to core 0 and wrk (one Lua-scripted request per update,
cycling over 64 users) to core 1; PostgreSQL itself is not pinned. Each scenario runs --runs
times; the medians are printed. Talks only to 127.0.0.1 and stops by itself.

    cargo build --release && python3 benches/write_bench.py
    python3 benches/write_bench.py --postgres postgres://postgres@127.0.0.1:5432
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from list_scale import drop_pg, login, need_wrk, new_pg_database, start, stop  # noqa: E402
from rest_bench import USER_PASSWORD, free_port, request, to_ms  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = """
local ids = {}
for line in io.lines(os.getenv("SB_IDS")) do ids[#ids + 1] = line end
local token = os.getenv("SB_TOKEN")
local n = 0
request = function()
  n = n + 1
  return wrk.format("PATCH", "/api/users/" .. ids[(n % #ids) + 1],
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token},
    '{"display_name":"write ' .. n .. '"}')
end
"""


def wrk_writes(port, script, env, seconds, connections):
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-s", script, f"http://127.0.0.1:{port}"],
        check=True, capture_output=True, text=True, env=env).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"wrk saw {non2xx.group(1)} error responses:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    done = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    return rps, to_ms(*p50.groups()), to_ms(*p99.groups()), done


def head(port, token):
    status, body = request(port, "GET", "/api/events?limit=1", token=token)
    assert status == 200, body
    return body["latest_seq"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--writers", default="1,8")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/switchboard"))
    ap.add_argument("--postgres", default=None,
                    help="a server URL such as postgres://postgres@127.0.0.1:5432; the run "
                         "gets its own database, dropped afterwards")
    args = ap.parse_args()
    need_wrk()
    data_dir = tempfile.mkdtemp(prefix="sb-writes-")
    pg_url = new_pg_database(args.postgres, "sb_writes")
    port = free_port()
    results = {}
    server = start(args.binary, data_dir, port, pg_url)
    try:
        token = login(port)
        ids = []
        for i in range(64):
            status, body = request(port, "POST", "/api/users", {
                "username": f"writer{i:02d}", "email": f"writer{i:02d}@bench.example",
                "password": USER_PASSWORD, "role": "viewer"}, token)
            assert status == 201, body
            ids.append(body["id"])
        ids_path = os.path.join(data_dir, "ids.txt")
        script = os.path.join(data_dir, "patch.lua")
        with open(ids_path, "w") as f:
            f.write("\n".join(ids) + "\n")
        with open(script, "w") as f:
            f.write(SCRIPT)
        env = dict(os.environ, SB_IDS=ids_path, SB_TOKEN=token)
        for writers in [int(w) for w in args.writers.split(",")]:
            wrk_writes(port, script, env, 1, writers)  # warm-up
            runs = []
            for _ in range(args.runs):
                before = head(port, token)
                runs.append(wrk_writes(port, script, env, args.seconds, writers))
                # Every completed update appended exactly one event (requests still in flight
                # when wrk stopped may add up to one per writer).
                appended = head(port, token) - before
                assert runs[-1][3] <= appended <= runs[-1][3] + writers, (runs[-1], appended)
            results[writers] = runs
            print(f"{writers} writers: {runs}", file=sys.stderr)
    finally:
        stop(server)
        shutil.rmtree(data_dir, ignore_errors=True)
        drop_pg(args.postgres, pg_url)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"| {backend} | writers | updates/s (median of {args.runs}) | p50 ms | p99 ms | runs |")
    print("|---|---|---|---|---|---|")
    for writers, runs in results.items():
        rps = statistics.median(r[0] for r in runs)
        p50 = statistics.median(r[1] for r in runs)
        p99 = statistics.median(r[2] for r in runs)
        print(f"| {backend} | {writers} | {rps:.0f} | {p50:.2f} | {p99:.2f} | "
              f"{', '.join(f'{r[0]:.0f}' for r in runs)} |")


if __name__ == "__main__":
    main()
