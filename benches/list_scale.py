#!/usr/bin/env python3
"""How list costs grow with the table: users seeded straight into the database (no argon2), then
list, deep page (cursor and offset), search, filter and sort measured with wrk.

For each size the database is first created by the server, then rolled back to the schema
before the list indexes (migration m20261201_000005), seeded, and migrated again with
`switchboard migrate` — so the table also reports how long building the indexes on an existing
database of that size takes. The server is pinned to core 0, wrk to core 1; each scenario runs
--runs times and the medians are printed. Talks only to 127.0.0.1 and stops by itself.

    cargo build --release && python3 benches/list_scale.py --sizes 1000,100000,1000000
    python3 benches/list_scale.py --table files --sizes 1000,100000
    python3 benches/list_scale.py --postgres postgres://postgres@127.0.0.1:5432
"""
import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rest_bench import ADMIN_PASSWORD, free_port, request, wrk  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEW_INDEXES = [
    "users_display_name_id_idx", "users_role_username_idx", "users_disabled_username_idx",
    "users_created_at_id_idx", "users_updated_at_id_idx", "users_last_login_at_id_idx",
    "files_name_lower_id_idx", "files_size_id_idx", "files_content_type_id_idx",
    "files_created_at_id_idx", "files_updated_at_id_idx", "files_download_count_id_idx",
    "files_expires_at_id_idx", "events_type_seq_idx", "events_topic_seq_idx",
    "events_actor_id_seq_idx", "events_actor_username_seq_idx",
]
# The single-column indexes the migration replaces.
OLD_INDEXES = [
    "CREATE INDEX users_created_at_idx ON users (created_at)",
    "CREATE INDEX files_name_lower_idx ON files (name_lower)",
    "CREATE INDEX files_created_at_idx ON files (created_at)",
    "CREATE INDEX events_type_idx ON events (type)",
    "CREATE INDEX events_actor_idx ON events (actor_id)",
]
MIGRATION = "m20261201_000005_list_indexes"
# What the migration adds, so it can be taken away before seeding.
UNDO = [
    "DROP TRIGGER IF EXISTS users_search_insert", "DROP TRIGGER IF EXISTS users_search_delete",
    "DROP TRIGGER IF EXISTS users_search_update", "DROP TABLE IF EXISTS users_search",
    "DROP TRIGGER IF EXISTS files_search_insert", "DROP TRIGGER IF EXISTS files_search_delete",
    "DROP TRIGGER IF EXISTS files_search_update", "DROP TABLE IF EXISTS files_search",
]


def db_args(data_dir, pg_url):
    return ["--data-dir", data_dir] + (["--database-url", pg_url] if pg_url else [])


def start(binary, data_dir, port, pg_url=None, extra=()):
    env = dict(os.environ, SWITCHBOARD_ADMIN_PASSWORD=ADMIN_PASSWORD, RUST_LOG="warn")
    server = subprocess.Popen(
        ["taskset", "-c", "0", binary, "serve", "--listen", f"127.0.0.1:{port}"] + list(extra)
        + db_args(data_dir, pg_url), env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while True:
        try:
            if request(port, "GET", "/healthz")[0] == 200:
                return server
        except OSError:
            pass
        if time.time() > deadline or server.poll() is not None:
            sys.exit("server did not start")
        time.sleep(0.1)


def stop(server):
    server.terminate()
    server.wait(timeout=60)


def common_args(ap, sizes):
    """The flags every scale bench takes."""
    ap.add_argument("--sizes", default=sizes)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/switchboard"))
    ap.add_argument("--postgres", default=None,
                    help="a server URL such as postgres://postgres@127.0.0.1:5432; each run "
                         "gets its own database, dropped afterwards")


def need_wrk():
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install -y wrk)")


def new_pg_database(server_url, prefix):
    """A fresh database on `server_url` (None without PostgreSQL); drop it with `drop_pg`."""
    if not server_url:
        return None
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    psql(f"{server_url}/postgres", f"CREATE DATABASE {name}")
    return f"{server_url}/{name}"


def drop_pg(server_url, pg_url):
    if pg_url:
        psql(f"{server_url}/postgres", f"DROP DATABASE {pg_url.rsplit('/', 1)[1]}")


def login(port):
    status, body = request(port, "POST", "/api/auth/login",
                           {"username": "admin", "password": ADMIN_PASSWORD})
    assert status == 200, body
    return body["access_token"]


def measure(table, n, label, url, token, args):
    """A 1 s warm-up, then --runs wrk runs of `url`; appends the medians to `table`."""
    wrk(url, token, 1, args.connections)
    runs = [wrk(url, token, args.seconds, args.connections) for _ in range(args.runs)]
    table.append((n, label, statistics.median(r[0] for r in runs),
                  statistics.median(r[2] for r in runs), [round(r[0]) for r in runs]))
    print(f"{n} {label}: {table[-1][2:]}", file=sys.stderr)


def print_table(what, table, runs):
    """Rows of (size, label, req/s, p99 or None, runs); a row without runs is a note."""
    print(f"| {what} | request | req/s (median of {runs}) | p99 ms | runs |")
    print("|---|---|---|---|---|")
    for n, label, rps, p99, values in table:
        if not values:
            print(f"| {n:,} | {label} | | | |")
            continue
        p99_text = "" if p99 is None else f"{p99:.1f}"
        print(f"| {n:,} | {label} | {rps:.0f} | {p99_text} | {', '.join(map(str, values))} |")


def rollback(db):
    """Takes the schema back to before the list indexes."""
    for sql in UNDO:
        db.execute(sql)
    for name in NEW_INDEXES:
        db.execute(f"DROP INDEX IF EXISTS {name}")
    for sql in OLD_INDEXES:
        db.execute(sql)
    db.execute("DELETE FROM seaql_migrations WHERE version = ?", (MIGRATION,))


def seed(db_path, n):
    """Rolls the schema back to before the list indexes and inserts `n` users."""
    db = sqlite3.connect(db_path)
    rollback(db)
    now = "2026-12-01 10:00:00.000000+00:00"
    # A real argon2 hash is not needed: nobody logs in as these users.
    rows = ((str(uuid.uuid4()), f"user{i:07d}", f"user{i:07d}@bench.example",
             f"user{i:07d}@bench.example", f"Bench User {i}",
             "admin" if i % 1000 == 0 else "viewer", i % 97 == 0, "x", 1,
             f"2026-01-{1 + i // 86400 % 28:02d} {i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
             f"{i % 60:02d}.{i % 1000000:06d}+00:00", now)
            for i in range(n))
    db.executemany(
        "INSERT INTO users (id, username, email, email_lower, display_name, role, disabled, "
        "password_hash, version, created_at, updated_at, last_login_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)", rows)
    db.commit()
    db.close()


def seed_files(db_path, n):
    """Rolls the schema back to before the list indexes and inserts `n` file rows (no bytes:
    listing never reads objects)."""
    db = sqlite3.connect(db_path)
    rollback(db)
    rows = ((str(uuid.uuid4()), f"Report {i:07d}.pdf", f"report {i:07d}.pdf",
             i * 7919 % 10_000_000, "application/pdf", "0" * 64, f"bench/{i}", None,
             f"2026-01-{1 + i // 86400 % 28:02d} {i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
             f"{i % 60:02d}.{i % 1000000:06d}+00:00", "2026-12-01 10:00:00.000000+00:00",
             i % 50, None, None, 1)
            for i in range(n))
    db.executemany(
        "INSERT INTO files (id, name, name_lower, size, content_type, sha256, storage_key, "
        "uploaded_by, created_at, updated_at, download_count, expires_at, max_downloads, "
        "version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()


PG_TRGM = ["users_username_trgm_idx", "users_email_trgm_idx", "users_display_name_trgm_idx",
           "files_name_trgm_idx"]


def psql(url, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True,
                   capture_output=True)


def seed_pg(url, n):
    """The same rollback and seed on PostgreSQL, with generate_series (then ANALYZE)."""
    for name in NEW_INDEXES + PG_TRGM:
        psql(url, f"DROP INDEX IF EXISTS {name}")
    for sql in OLD_INDEXES:
        psql(url, sql)
    psql(url, f"DELETE FROM seaql_migrations WHERE version = '{MIGRATION}'")
    psql(url, f"""INSERT INTO users (id, username, email, email_lower, display_name, role,
        disabled, password_hash, version, created_at, updated_at, last_login_at)
        SELECT gen_random_uuid()::text, 'user' || lpad(i::text, 7, '0'),
               'user' || lpad(i::text, 7, '0') || '@bench.example',
               'user' || lpad(i::text, 7, '0') || '@bench.example', 'Bench User ' || i,
               CASE WHEN i % 1000 = 0 THEN 'admin' ELSE 'viewer' END, i % 97 = 0, 'x', 1,
               timestamptz '2026-01-01' + i * interval '1 second', now(), NULL
        FROM generate_series(0, {n - 1}) AS i""")
    psql(url, "ANALYZE users")


def seed_files_pg(url, n):
    for name in NEW_INDEXES + PG_TRGM:
        psql(url, f"DROP INDEX IF EXISTS {name}")
    for sql in OLD_INDEXES:
        psql(url, sql)
    psql(url, f"DELETE FROM seaql_migrations WHERE version = '{MIGRATION}'")
    psql(url, f"""INSERT INTO files (id, name, name_lower, size, content_type, sha256,
        storage_key, uploaded_by, created_at, updated_at, download_count, expires_at,
        max_downloads, version)
        SELECT gen_random_uuid()::text, 'Report ' || lpad(i::text, 7, '0') || '.pdf',
               'report ' || lpad(i::text, 7, '0') || '.pdf', i::bigint * 7919 % 10000000,
               'application/pdf', repeat('0', 64), 'bench/' || i, NULL,
               timestamptz '2026-01-01' + i * interval '1 second', now(), i % 50, NULL, NULL, 1
        FROM generate_series(0, {n - 1}) AS i""")
    psql(url, "ANALYZE files")


def scenarios_for(table, base, deep_page, cursor, some_id):
    if table == "files":
        return {
            "list page 1": f"{base}?per_page=50",
            f"deep page (offset, page {deep_page})": f"{base}?per_page=50&page={deep_page}",
            "deep page (cursor)": f"{base}?per_page=50&after={cursor}",
            "search q=report 0001234": f"{base}?per_page=50&q=report%200001234",
            "search q=ort 12 (many hits)": f"{base}?per_page=50&q=ort%2012",
            "sort -size": f"{base}?per_page=50&sort=-size",
            "sort -download_count": f"{base}?per_page=50&sort=-download_count",
            "get one": f"{base}/{some_id}",
        }
    return {
        "list page 1": f"{base}?per_page=50",
        f"deep page (offset, page {deep_page})": f"{base}?per_page=50&page={deep_page}",
        "deep page (cursor)": f"{base}?per_page=50&after={cursor}",
        "search q=user000123": f"{base}?per_page=50&q=user000123",
        "search q=ser 12 (many hits)": f"{base}?per_page=50&q=ser%2012",
        "filter role=admin": f"{base}?per_page=50&role=admin",
        "sort -created_at": f"{base}?per_page=50&sort=-created_at",
        "get one": f"{base}/{some_id}",
    }


def main():
    ap = argparse.ArgumentParser()
    common_args(ap, "1000,100000,1000000")
    ap.add_argument("--table", choices=["users", "files"], default="users")
    args = ap.parse_args()
    need_wrk()
    table = []
    for n in [int(s) for s in args.sizes.split(",")]:
        data_dir = tempfile.mkdtemp(prefix="sb-scale-")
        db_path = os.path.join(data_dir, "switchboard.db")
        port = free_port()
        pg_url = new_pg_database(args.postgres, "sb_scale")
        try:
            stop(start(args.binary, data_dir, port, pg_url))
            t0 = time.time()
            if pg_url:
                (seed_files_pg if args.table == "files" else seed_pg)(pg_url, n)
            else:
                (seed_files if args.table == "files" else seed)(db_path, n)
            seeded = time.time() - t0
            t0 = time.time()
            subprocess.run(["taskset", "-c", "0", args.binary, "migrate"]
                           + db_args(data_dir, pg_url), check=True, capture_output=True)
            migrated = time.time() - t0
            server = start(args.binary, data_dir, port, pg_url)
            try:
                token = login(port)
                base = f"http://127.0.0.1:{port}/api/{args.table}"
                # Page N/100 of 50 (halfway), and the cursor that starts the page after it.
                deep_page = max(1, n // 100)
                status, body = request(port, "GET",
                                       f"/api/{args.table}?per_page=50&page={deep_page}",
                                       token=token)
                cursor = body.get("next", "")
                some_id = body["items"][0]["id"]
                scenarios = scenarios_for(args.table, base, deep_page, cursor, some_id)
                for name, url in scenarios.items():
                    measure(table, n, name, url, token, args)
                table.append((n, f"(seed {seeded:.1f} s; migration with the new indexes "
                                 f"{migrated:.1f} s)", 0, 0, []))
            finally:
                stop(server)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
            drop_pg(args.postgres, pg_url)
    print_table(args.table, table, args.runs)


if __name__ == "__main__":
    main()
