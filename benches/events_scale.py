#!/usr/bin/env python3
"""How `GET /api/events` and `resume` replays cost as the log grows: events seeded straight into
the database, then pages by seq, filters by type and actor measured with wrk, and the replay
throughput of one socket in events/s.

The log is seeded with its indexes dropped and then rebuilt with the exact statements the
migrations made, except those of the newest events migration, which `switchboard migrate` then
builds on the full log (its duration is in the table). Types: 60 % user.updated, 15 % download.completed, 10 % file.created, 10 %
user.created, 5 % file.updated, and one user.deleted in 10,000 (the rare type). Actors: 1,000
admins in turn (`admin0`…`admin999`, ids `actor-0`…), plus `rare-actor` on one event in a
million. Payloads are about 200 bytes, like a user object. The server keeps the whole log
(retention raised) and is pinned to core 0, wrk and the replay client to core 1. Each scenario
runs --runs times; the medians are printed. Talks only to 127.0.0.1 and stops by itself.

    cargo build --release && cargo bench --no-run --bench events_replay
    python3 benches/events_scale.py --sizes 10000,10000000
    python3 benches/events_scale.py --postgres postgres://postgres@127.0.0.1:5432
"""
import argparse
import glob
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from list_scale import (  # noqa: E402
    common_args, db_args, drop_pg, login, measure, need_wrk, new_pg_database, print_table,
    psql, start, stop)
from rest_bench import free_port, request  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIGRATION = "m20261202_000006_event_filter_indexes"
# What that migration adds: dropped after seeding, so `switchboard migrate` builds them on the
# full log and the table reports how long that takes.
MIGRATION_INDEXES = ["events_type_actor_id_seq_idx", "events_type_actor_username_seq_idx"]
RETAIN = ["--event-retention-count", "1000000000", "--event-retention-days", "36500"]
REPLAY = 100_000

KIND = """CASE WHEN i % 10000 = 5000 THEN 'user.deleted'
    WHEN i % 100 < 60 THEN 'user.updated' WHEN i % 100 < 75 THEN 'download.completed'
    WHEN i % 100 < 85 THEN 'file.created' WHEN i % 100 < 95 THEN 'user.created'
    ELSE 'file.updated' END"""
TOPIC = """CASE WHEN i % 10000 = 5000 THEN 'users'
    WHEN i % 100 < 60 THEN 'users' WHEN i % 100 < 75 THEN 'downloads'
    WHEN i % 100 < 85 THEN 'files' WHEN i % 100 < 95 THEN 'users' ELSE 'files' END"""


def seed_sqlite(db_path, first, n):
    """Appends events first..first+n-1 after the server's own, with the indexes rebuilt after."""
    db = sqlite3.connect(db_path)
    indexes = [r for r in db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' "
        "AND sql IS NOT NULL")]
    for name, _ in indexes:
        db.execute(f"DROP INDEX {name}")
    db.execute(f"""INSERT INTO events (seq, type, topic, actor_id, actor_username, data,
        created_at)
        WITH RECURSIVE c(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM c
                                WHERE i < {first + n - 1})
        SELECT i, {KIND}, {TOPIC},
               CASE WHEN i % 1000000 = 7 THEN 'rare-actor-id' ELSE 'actor-' || (i % 1000) END,
               CASE WHEN i % 1000000 = 7 THEN 'rare-actor' ELSE 'admin' || (i % 1000) END,
               printf('{{"user":{{"id":"%08d-0000-4000-8000-000000000000","username":"user%07d",'
                      || '"email":"user%07d@bench.example","display_name":"Bench User %d",'
                      || '"role":"viewer","disabled":false,"version":2}}}}',
                      i % 100000, i % 100000, i % 100000, i % 100000),
               strftime('%Y-%m-%d %H:%M:%S.000000+00:00', 'now')
        FROM c""")
    for _, sql in indexes:
        db.execute(sql)
    db.execute(f"UPDATE event_seq SET last = {first + n - 1} WHERE id = 1")
    for name in MIGRATION_INDEXES:
        db.execute(f"DROP INDEX {name}")
    db.execute("DELETE FROM seaql_migrations WHERE version = ?", (MIGRATION,))
    db.commit()
    db.execute("ANALYZE")
    db.close()


def seed_pg(url, first, n):
    out = subprocess.run(
        ["psql", "-qAt", url, "-c",
         "SELECT indexname || '|' || indexdef FROM pg_indexes WHERE tablename = 'events' "
         "AND indexname NOT LIKE '%pkey'"], check=True, capture_output=True, text=True).stdout
    indexes = [line.split("|", 1) for line in out.splitlines() if "|" in line]
    for name, _ in indexes:
        psql(url, f"DROP INDEX {name}")
    psql(url, f"""INSERT INTO events (seq, type, topic, actor_id, actor_username, data,
        created_at)
        SELECT i, {KIND}, {TOPIC},
               CASE WHEN i % 1000000 = 7 THEN 'rare-actor-id' ELSE 'actor-' || (i % 1000) END,
               CASE WHEN i % 1000000 = 7 THEN 'rare-actor' ELSE 'admin' || (i % 1000) END,
               format('{{"user":{{"id":"%s-0000-4000-8000-000000000000","username":"user%s",'
                      || '"email":"user%s@bench.example","display_name":"Bench User %s",'
                      || '"role":"viewer","disabled":false,"version":2}}}}',
                      lpad((i % 100000)::text, 8, '0'), lpad((i % 100000)::text, 7, '0'),
                      lpad((i % 100000)::text, 7, '0'), i % 100000),
               now()
        FROM generate_series({first}, {first + n - 1}) AS i""")
    for _, sql in indexes:
        psql(url, sql)
    psql(url, f"UPDATE event_seq SET last = {first + n - 1} WHERE id = 1")
    for name in MIGRATION_INDEXES:
        psql(url, f"DROP INDEX {name}")
    psql(url, f"DELETE FROM seaql_migrations WHERE version = '{MIGRATION}'")
    psql(url, "ANALYZE events")


def head_seq(port, token):
    status, body = request(port, "GET", "/api/events?limit=1", token=token)
    assert status == 200, body
    return body["latest_seq"]


def replay_client():
    found = sorted(glob.glob(os.path.join(ROOT, "target/release/deps/events_replay-*")),
                   key=os.path.getmtime)
    found = [f for f in found if os.access(f, os.X_OK) and not f.endswith(".d")]
    if not found:
        sys.exit("build the replay client first: cargo bench --no-run --bench events_replay")
    return found[-1]


def replay(client, port, token, after, upto):
    out = subprocess.run(
        ["taskset", "-c", "1", client, "--addr", f"127.0.0.1:{port}", "--token", token,
         "--after", str(after), "--upto", str(upto)],
        check=True, capture_output=True, text=True, timeout=400).stdout
    return float(re.search(r"([\d.]+) events/s", out).group(1))


def main():
    ap = argparse.ArgumentParser()
    common_args(ap, "10000,10000000")
    args = ap.parse_args()
    need_wrk()
    client = replay_client()
    table = []
    for n in [int(s) for s in args.sizes.split(",")]:
        data_dir = tempfile.mkdtemp(prefix="sb-events-")
        db_path = os.path.join(data_dir, "switchboard.db")
        port = free_port()
        pg_url = new_pg_database(args.postgres, "sb_events")
        try:
            server = start(args.binary, data_dir, port, pg_url, RETAIN)
            first = head_seq(port, login(port)) + 1
            stop(server)
            t0 = time.time()
            if pg_url:
                seed_pg(pg_url, first, n)
            else:
                seed_sqlite(db_path, first, n)
            seeded = time.time() - t0
            t0 = time.time()
            subprocess.run(["taskset", "-c", "0", args.binary, "migrate"]
                           + db_args(data_dir, pg_url), check=True, capture_output=True)
            migrated = time.time() - t0
            server = start(args.binary, data_dir, port, pg_url, RETAIN)
            try:
                token = login(port)
                head = head_seq(port, token)
                base = f"http://127.0.0.1:{port}/api/events?limit=100"
                newest = f"{base}&before={head + 1}"
                scenarios = {
                    "newest page (before=head)": newest,
                    "page from the middle (after=head/2)": f"{base}&after={head // 2}",
                    "type=user.updated (60 %)": f"{newest}&type=user.updated",
                    "type=user.deleted (1 in 10,000)": f"{newest}&type=user.deleted",
                    "actor=admin7 (username, 1 in 1,000)": f"{newest}&actor=admin7",
                    "actor=actor-7 (id)": f"{newest}&actor=actor-7",
                    "actor=rare-actor (1 in 1,000,000)": f"{newest}&actor=rare-actor",
                    "type + actor": f"{newest}&type=file.created&actor=admin7",
                }
                for label, url in scenarios.items():
                    measure(table, n, label, url, token, args)
                count = min(REPLAY, head - 1)
                runs = [replay(client, port, token, head - count, head)
                        for _ in range(args.runs)]
                table.append((n, f"resume replay of {count:,} events (events/s)",
                              statistics.median(runs), None, [round(r) for r in runs]))
                print(f"{n} replay: {runs}", file=sys.stderr)
                table.append((n, f"(seeded in {seeded:.1f} s; migration {MIGRATION} "
                                 f"{migrated:.1f} s)", 0, 0, []))
            finally:
                stop(server)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
            drop_pg(args.postgres, pg_url)
    print_table("events", table, args.runs)


if __name__ == "__main__":
    main()
