#!/usr/bin/env python3
"""make bench: partner-export measured against the floor of the same work, side by side, same data.

The floor is the sqlite3 shell reading the same selected columns of the same database, with the
same consent and filter conditions, as CSV to /dev/null. Then: preview --out for a JSON and an XML
partner with the same fields, a full run of the JSON partner over HTTPS to nginx (a real TLS server
that answers 200 and discards the body, so the figure is the sender's own), and `disclosures ID` on
a ledger holding ten million disclosure rows. Wall time is the median of --repeat runs; peak RSS
(GNU time) the largest. Ratios are to the floor measured in the same run.

With --baseline OTHER_BINARY every step is measured for both binaries, alternating run by run on
the same data, and a second table compares them (the "no slower" check of a change).

Usage: bench/bench.py [--customers N] [--repeat R] [--binary PATH] [--baseline PATH] [--data DIR]
"""
import argparse
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLOOR_SQL = """SELECT c.id, c.email, c.first_name, c.country, c.postal_code, c.services, c.created_at
FROM customers AS c JOIN consents AS k ON k.customer_id = c.id AND k.scope = 'partner-offers' AND k.withdrawn_at IS NULL
WHERE c.account_status IN ('active') ORDER BY c.id"""

# One disclosure row and one holding per delivered record, as the ledger's tables hold them (ids spread
# like the eligible customers', a 32-byte key and a 16-byte hash), in one transaction.
WRITE_FLOOR_SQL = """PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -1024;
CREATE TABLE disclosures (customer_id INTEGER NOT NULL, delivery INTEGER NOT NULL, scope TEXT NOT NULL,
  granted_at TEXT NOT NULL, confirmed INTEGER NOT NULL DEFAULT 1, kind TEXT NOT NULL DEFAULT 'disclosure', reason TEXT,
  log_index INTEGER, PRIMARY KEY (customer_id, delivery, scope)) WITHOUT ROWID;
CREATE TABLE holdings (partner TEXT NOT NULL, customer_id INTEGER NOT NULL, key BLOB NOT NULL, digest BLOB NOT NULL,
  PRIMARY KEY (partner, customer_id)) WITHOUT ROWID;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
INSERT INTO disclosures SELECT i * 2, 1 + i / 750, 'partner-offers', '2026-01-01T00:00:00Z', 1, 'disclosure', NULL, i - 1 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
INSERT INTO holdings SELECT 'bench-json', i * 2, randomblob(32), randomblob(16) FROM n;
COMMIT;"""

NGINX_CONF = """daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
  log_format counted '$request_length $status';
  access_log {dir}/access.log counted;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  client_max_body_size 0;
  client_body_buffer_size 1m;
  keepalive_requests 100000;
  keepalive_timeout 120s;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location / {{ return 200 '{{"ok":true}}'; }}
  }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(command, env=None):
    """Runs command under GNU time; returns (wall seconds, peak RSS KiB, exit status, CPU seconds)."""
    report = os.path.join(DATA, "time.txt")
    started = time.monotonic()
    status = subprocess.call(["/usr/bin/time", "-v", "-o", report] + command, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    wall = time.monotonic() - started
    with open(report) as f:
        text = f.read()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    cpu = float(re.search(r"User time \(seconds\): ([0-9.]+)", text).group(1)) + \
        float(re.search(r"System time \(seconds\): ([0-9.]+)", text).group(1))
    return wall, rss, status, cpu


class Step:
    """One measured command, for each binary: median wall time, largest peak RSS."""

    def __init__(self, name, command, records=0, output=None, before=None, repeat=None, floor=False):
        self.name, self.command, self.records, self.output, self.before = name, command, records, output, before
        self.repeat, self.floor = repeat, floor
        self.walls = {}
        self.cpus = {}
        self.rss = {}
        self.bytes = {}

    def run(self, label, binary, env, index):
        if self.before:
            self.before(binary, index)
        command = [binary if part == "@BIN" else part for part in self.command(binary)]
        wall, rss, status, cpu = timed(command, env=env)
        if status != 0:
            sys.exit(f"bench: {self.name} failed with {label} (exit {status}): {' '.join(command)}")
        self.walls.setdefault(label, []).append(wall)
        self.cpus.setdefault(label, []).append(cpu)
        self.rss[label] = max(self.rss.get(label, 0), rss)
        if self.output:
            self.bytes[label] = self.output()

    def wall(self, label):
        return statistics.median(self.walls[label])


def main():
    global DATA
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--disclosures", type=int, default=10_000_000)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/partner-export"))
    parser.add_argument("--baseline", help="another partner-export binary, measured alternately on every step")
    parser.add_argument("--data", default=os.path.join(ROOT, "bench-data"))
    parser.add_argument("--changes-only", action="store_true", help="only the changes-mode measurement (and the floor)")
    parser.add_argument("--postgres-ledger", metavar="URL",
                        help="also measure the run with its ledger in this PostgreSQL database (its schema partner_export is "
                             "dropped before each run)")
    parser.add_argument("--ledger-only", action="store_true", help="only the floor and the runs (with --postgres-ledger, both ledgers)")
    parser.add_argument("--workers-only", action="store_true",
                        help="with --postgres-ledger: a two-shard partner's run by one worker, by two workers started "
                             "together (two run --due), and by one process with two threads")
    args = parser.parse_args()
    DATA = args.data
    os.makedirs(DATA, exist_ok=True)
    binaries = [("this", os.path.abspath(args.binary))]
    if args.baseline:
        binaries.append(("baseline", os.path.abspath(args.baseline)))
    n = args.customers

    db = os.path.join(DATA, f"customers-{n}.sqlite")
    if not os.path.exists(db):
        print(f"bench: generating {n:,} customers (once; kept in {DATA})", flush=True)
        subprocess.check_call([binaries[0][1], "demo-data", "--customers", str(n), "--seed", "7", "--db", db],
                              stdout=subprocess.DEVNULL)
    eligible = sqlite3.connect(db).execute(f"SELECT count(*) FROM ({FLOOR_SQL})").fetchone()[0]

    pki = os.path.join(DATA, "pki")
    if not os.path.exists(os.path.join(pki, "ca.pem")):
        subprocess.check_call([os.path.join(ROOT, "sandbox/make-pki.sh"), pki], stdout=subprocess.DEVNULL)
    env = dict(os.environ, BENCH_TOKEN=os.urandom(16).hex(), BENCH_PSEUDONYM_KEY=os.urandom(24).hex(),
               PARTNER_EXPORT_LOG_LEVEL="error")

    sink = os.path.join(DATA, "nginx")
    shutil.rmtree(sink, ignore_errors=True)
    os.makedirs(sink)
    port = free_port()
    with open(os.path.join(sink, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(dir=sink, port=port, cert=os.path.join(pki, "server.pem"), key=os.path.join(pki, "server.key")))
    nginx_binary = shutil.which("nginx") or "/usr/sbin/nginx"
    nginx = subprocess.Popen([nginx_binary, "-c", os.path.join(sink, "nginx.conf"), "-p", sink],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit("bench: nginx did not start (make deps installs nginx-light); see " + os.path.join(sink, "error.log"))
        def write_config(source, name):
            config = os.path.join(DATA, name)
            shutil.rmtree(config, ignore_errors=True)
            for folder in ("partners", "mappings"):
                os.makedirs(os.path.join(config, folder))
                for file in os.listdir(os.path.join(ROOT, source, folder)):
                    text = open(os.path.join(ROOT, source, folder, file)).read()
                    text = text.replace("SANDBOX_PORT", str(port)).replace("../pki/ca.pem", os.path.join(pki, "ca.pem"))
                    open(os.path.join(config, folder, file), "w").write(text)
            return config

        config = write_config("bench/config", "config")
        # The changes-mode partner has a folder of its own: a baseline binary from before modes would refuse it.
        changes_config = write_config("bench/config-changes", "config-changes")
        common = ["--db", db, "--config", config]
        # Previews read no ledger (a preview with one counts changes against what the partner holds).
        no_ledger = ["--state", os.path.join(DATA, "no-ledger", "ledger.sqlite")]
        print(f"bench: {n:,} customers, {eligible:,} eligible for the benchmark partner; median of {args.repeat}; "
              f"sink: nginx on 127.0.0.1:{port}", flush=True)

        out_json = os.path.join(DATA, "preview.json")
        out_xml = os.path.join(DATA, "preview.xml")
        state = os.path.join(DATA, "state")
        ledger = os.path.join(state, "ledger.sqlite")

        def fresh_state(_binary, _index):
            shutil.rmtree(state, ignore_errors=True)

        def payload_bytes():
            total = 0
            for folder, _, files in os.walk(os.path.join(state, "payloads")):
                total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
            return total

        steps = [
            Step("floor: sqlite3 -csv", lambda b: ["sh", "-c", f'sqlite3 -csv "{db}" "{FLOOR_SQL}" > /dev/null'],
                 records=eligible, floor=True),
            Step("preview --out (JSON)", lambda b: [b, "preview", "bench-json", "--out", out_json, "--limit", "0"] + common + no_ledger,
                 records=eligible, output=lambda: os.path.getsize(out_json)),
            Step("preview --out (XML)", lambda b: [b, "preview", "bench-xml", "--out", out_xml, "--limit", "0"] + common + no_ledger,
                 records=eligible, output=lambda: os.path.getsize(out_xml)),
            Step("run over HTTPS to nginx (JSON)", lambda b: [b, "run", "bench-json", "--state", ledger] + common,
                 records=eligible, output=payload_bytes, before=fresh_state),
        ]
        if args.postgres_ledger:
            def fresh_schema(_binary, _index):
                fresh_state(_binary, _index)
                subprocess.check_call(["psql", "-q", "-X", args.postgres_ledger, "-c",
                                       "DROP SCHEMA IF EXISTS partner_export CASCADE"], stdout=subprocess.DEVNULL)
            steps.append(Step("run over HTTPS to nginx (JSON), PostgreSQL ledger",
                              lambda b: [b, "run", "bench-json", "--state", args.postgres_ledger] + common,
                              records=eligible, before=fresh_schema))
            env["PARTNER_EXPORT_STATE_DIR"] = state
        if args.ledger_only:
            steps = [steps[0]] + steps[3:]
        if args.workers_only:
            if not args.postgres_ledger:
                sys.exit("bench: --workers-only needs --postgres-ledger URL")
            shards = ["--db", db, "--config", write_config("bench/config-shards", "config-shards"), "--state", args.postgres_ledger]
            run = lambda b, *extra: [b, "run", "--due", "--parallel", "1", *extra] + shards
            quoted = lambda command: " ".join(f"'{c}'" for c in command)
            steps = [
                Step("floor: sqlite3 -csv", lambda b: ["sh", "-c", f'sqlite3 -csv "{db}" "{FLOOR_SQL}" > /dev/null'],
                     records=eligible, floor=True),
                Step("run, 2 shards, 1 worker (--parallel 1)", lambda b: run(b), records=eligible, before=fresh_schema),
                Step("run, 2 shards, 2 workers (2 processes)",
                     lambda b: ["sh", "-c", f"{quoted(run(b))} > /dev/null & a=$!; {quoted(run(b))} > /dev/null & c=$!; "
                                            "wait $a && wait $c"],
                     records=eligible, before=fresh_schema),
                Step("run, 2 shards, 1 process, 2 threads", lambda b: [b, "run", "--due", "--parallel", "2"] + shards,
                     records=eligible, before=fresh_schema),
            ]
        if args.changes_only:
            steps = steps[:2]
        # The write floor: what the run must write per delivered record, alone — the sqlite3 shell
        # inserting, in one transaction of a WAL database set up as the ledger is, a disclosure row
        # and a holding (key, hash) for each eligible customer.
        write_db = os.path.join(DATA, "write-floor.sqlite")

        def fresh_write_db(_binary, _index):
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(write_db + suffix):
                    os.remove(write_db + suffix)
        write_floor = Step("write floor: sqlite3 inserting the rows", lambda b: ["sqlite3", write_db, WRITE_FLOOR_SQL.format(n=eligible)],
                           records=eligible, before=fresh_write_db, floor=True)
        measured = steps + ([] if args.changes_only or args.workers_only or args.postgres_ledger else [write_floor])
        for step in measured:
            labels = binaries if not step.floor else binaries[:1]
            for i in range(args.repeat):
                for label, binary in labels:
                    step.run(label, binary, env, i)
        for path in (out_json, out_xml):
            if os.path.exists(path):
                os.remove(path)

        if args.ledger_only and not args.postgres_ledger:
            print()
            for step in steps:
                line = f"{step.name:<52} {step.wall('this'):>8.2f} s, CPU {statistics.median(step.cpus['this']):.2f} s"
                if args.baseline and not step.floor:
                    ratio = statistics.median(t / b for t, b in zip(step.walls["this"], step.walls["baseline"]))
                    cpu = statistics.median(t / b for t, b in zip(step.cpus["this"], step.cpus["baseline"]))
                    line += (f"; baseline {step.wall('baseline'):.2f} s, paired {100 * (ratio - 1):+.1f}%, "
                             f"CPU paired {100 * (cpu - 1):+.1f}%")
                print(line)
            return
        if args.workers_only:
            print()
            print(f"{'step':<52} {'wall s':>8} {'CPU s':>7} {'peak RSS':>10}")
            for step in steps:
                print(f"{step.name:<52} {step.wall('this'):>8.2f} {statistics.median(step.cpus['this']):>7.2f} "
                      f"{step.rss['this'] / 1024:>6.1f} MiB")
            one, two, threads = steps[1], steps[2], steps[3]
            paired = statistics.median(t / o for t, o in zip(two.walls["this"], one.walls["this"]))
            print(f"2 workers / 1 worker: {two.wall('this') / one.wall('this'):.2f} x by medians, {paired:.2f} x by paired ratios "
                  f"(runs (s) 1 worker {', '.join(f'{w:.2f}' for w in one.walls['this'])}; "
                  f"2 workers {', '.join(f'{w:.2f}' for w in two.walls['this'])}; "
                  f"1 process 2 threads {', '.join(f'{w:.2f}' for w in threads.walls['this'])})")
            return
        if args.postgres_ledger and args.ledger_only:
            sqlite_run, postgres_run = steps[1], steps[2]
            print()
            print(f"{'step':<52} {'wall s':>8} {'CPU s':>7} {'peak RSS':>10}")
            for step in (steps[0], sqlite_run, postgres_run):
                print(f"{step.name:<52} {step.wall('this'):>8.2f} {statistics.median(step.cpus['this']):>7.2f} "
                      f"{step.rss['this'] / 1024:>6.1f} MiB")
            ratio = postgres_run.wall("this") / sqlite_run.wall("this")
            print(f"PostgreSQL ledger / SQLite ledger, the same run: {ratio:.2f} x by medians "
                  f"(runs (s) SQLite {', '.join(f'{w:.2f}' for w in sqlite_run.walls['this'])}; "
                  f"PostgreSQL {', '.join(f'{w:.2f}' for w in postgres_run.walls['this'])})")
            if args.baseline:
                for step in (sqlite_run, postgres_run):
                    paired = statistics.median(t / b for t, b in zip(step.walls["this"], step.walls["baseline"]))
                    cpu = statistics.median(t / b for t, b in zip(step.cpus["this"], step.cpus["baseline"]))
                    print(f"{step.name}: baseline {step.wall('baseline'):.2f} s, paired wall {100 * (paired - 1):+.1f}%, "
                          f"CPU {100 * (cpu - 1):+.1f}%, peak RSS {step.rss['this'] / 1024:.1f} MiB vs "
                          f"{step.rss['baseline'] / 1024:.1f} MiB (runs (s), baseline: "
                          f"{', '.join(f'{w:.2f}' for w in step.walls['baseline'])})")
            return
        changes = measure_changes(binaries[0][1], db, changes_config, config, env, args.repeat, n, no_ledger)
        # disclosures ID at ten million rows: each binary's own last run's ledger, topped up with synthetic rows.
        for label, binary in ([] if args.changes_only else binaries):
            shutil.rmtree(state, ignore_errors=True)
            subprocess.check_call([binary, "run", "bench-json", "--state", ledger] + common, env=env, stdout=subprocess.DEVNULL)
            customer, total = top_up(ledger, n, args.disclosures)
            step = Step(f"disclosures ID ({total:,} rows)", lambda b: [b, "disclosures", str(customer), "--json", "--state", ledger])
            for i in range(max(args.repeat, 5)):
                step.run(label, binary, env, i)
            if label == "this":
                steps.append(step)
                disclosures_step = step
            else:
                disclosures_step.walls["baseline"] = step.walls["baseline"]
                disclosures_step.cpus["baseline"] = step.cpus["baseline"]
                disclosures_step.rss["baseline"] = step.rss["baseline"]
        requests = sum(1 for _ in open(os.path.join(sink, "access.log")))
    finally:
        nginx.terminate()
        nginx.wait()

    print_changes(changes)
    if args.changes_only:
        return
    base = steps[0].wall("this")
    print()
    print(f"{'step':<44} {'wall s':>8} {'records/s':>12} {'MB/s':>8} {'peak RSS':>10} {'x floor':>8}")
    for s in steps[:1] + [write_floor] + steps[1:]:
        wall = s.wall("this")
        rate = f"{s.records / wall:,.0f}" if s.records else "-"
        size = s.bytes.get("this", 0)
        mbs = f"{size / wall / 1e6:,.1f}" if size else "-"
        ratio = f"{wall / base:.2f}" if s is not steps[-1] else "-"
        shown = f"{wall:.3f}" if wall < 1 else f"{wall:.2f}"
        print(f"{s.name:<44} {shown:>8} {rate:>12} {mbs:>8} {s.rss['this'] / 1024:>7.1f} MiB {ratio:>8}")
    print()
    print("runs (s): " + "; ".join(f"{s.name}: " + ", ".join(f"{w:.2f}" for w in s.walls["this"]) for s in steps))
    xml, js, run = steps[2].wall("this"), steps[1].wall("this"), steps[3].wall("this")
    writes = write_floor.wall("this")
    print(f"write floor: {writes:.2f} s ({writes / base:.2f} x the read floor); the run is {run / (base + writes):.2f} x "
          f"read floor + write floor")
    print(f"targets: JSON preview {js / base:.2f} x floor (<= 1.1); XML {xml / js:.2f} x JSON (<= 1.2); "
          f"run {run / base:.2f} x floor (<= 2.0); peak RSS {max(s.rss['this'] for s in steps[1:4]) / 1024:.1f} MiB "
          f"(<= 56); disclosures {steps[-1].wall('this') * 1000:.0f} ms (< 100)")
    print(f"nginx answered {requests:,} requests")
    if args.baseline:
        # The machine drifts between faster and slower spells over minutes: runs of the two binaries
        # alternate, and each pair (one right after the other) is compared on its own; the median of
        # those paired ratios is the change that counts.
        def paired(values):
            return statistics.median(t / b for t, b in zip(values["this"], values["baseline"])) - 1
        print()
        print(f"{'step':<36} {'this':>8} {'baseline':>9} {'wall':>7} {'paired':>7} {'CPU paired':>10} {'RSS this':>9} {'baseline':>9}")
        for s in steps[1:]:
            a, b = s.wall("this"), s.wall("baseline")
            print(f"{s.name:<36} {a:>7.3f}s {b:>8.3f}s {100 * (a - b) / b:>+6.1f}% {100 * paired(s.walls):>+6.1f}% "
                  f"{100 * paired(s.cpus):>+9.1f}% {s.rss['this'] / 1024:>5.1f} MiB {s.rss['baseline'] / 1024:>5.1f} MiB")
        print("runs (s), baseline: " + "; ".join(f"{s.name}: " + ", ".join(f"{w:.2f}" for w in s.walls["baseline"])
                                                  for s in steps[1:]))


def measure_changes(binary, db, changes_config, json_config, env, repeat, n, no_ledger):
    """A changes-mode partner after 1% of customers changed, next to a JSON preview of the same records.

    On a copy of the database: a full first run (untimed) leaves the ledger holding every eligible
    customer; then 1% of all customers get a new first name, and the changes run (the ledger restored
    before each) is timed alternately with `preview --out` of the JSON partner with the same fields."""
    copy = os.path.join(DATA, f"customers-{n}-changes.sqlite")
    shutil.copyfile(db, copy)
    state = os.path.join(DATA, "state-changes")
    ledger = os.path.join(state, "ledger.sqlite")
    shutil.rmtree(state, ignore_errors=True)
    common = ["--db", copy, "--config", changes_config]
    subprocess.check_call([binary, "run", "bench-changes", "--state", ledger] + common, env=env, stdout=subprocess.DEVNULL)
    connection = sqlite3.connect(ledger)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    full = connection.execute("SELECT sum(bytes), sum(record_count) FROM deliveries WHERE status = 'delivered'").fetchone()
    held = connection.execute("SELECT count(*) FROM holdings").fetchone()[0]
    connection.close()
    saved = ledger + ".saved"
    shutil.copyfile(ledger, saved)
    source = sqlite3.connect(copy)
    source.execute("UPDATE customers SET first_name = first_name || 'x' WHERE id % 100 = 0")
    source.commit()
    source.close()

    def restore(_binary, _index):
        for suffix in ("-wal", "-shm"):
            if os.path.exists(ledger + suffix):
                os.remove(ledger + suffix)
        shutil.copyfile(saved, ledger)

    out = os.path.join(DATA, "preview-changes.json")
    run = Step("changes run, 1% changed", lambda b: [b, "run", "bench-changes", "--state", ledger] + common, before=restore)
    preview = Step("preview --out (JSON), same records", lambda b: [b, "preview", "bench-json", "--out", out, "--limit", "0",
                                                                  "--db", copy, "--config", json_config] + no_ledger)
    for i in range(repeat):
        run.run("this", binary, env, i)
        preview.run("this", binary, env, i)
    connection = sqlite3.connect(ledger)
    sent = connection.execute("SELECT sum(bytes), sum(record_count) FROM deliveries WHERE run_id = "
                              "(SELECT id FROM runs ORDER BY rowid DESC LIMIT 1)").fetchone()
    connection.close()
    os.remove(out)
    return {"customers": n, "held": held, "full_bytes": full[0], "full_records": full[1], "sent_bytes": sent[0] or 0,
            "sent_records": sent[1] or 0, "run": run, "preview": preview}


def print_changes(c):
    run, preview = c["run"], c["preview"]
    print()
    print(f"changes mode, {c['customers']:,} customers, the partner holding {c['held']:,}; 1% of customers changed:")
    print(f"  {'step':<40} {'wall s':>8} {'peak RSS':>10}")
    for s in (run, preview):
        print(f"  {s.name:<40} {s.wall('this'):>8.3f} {s.rss['this'] / 1024:>7.1f} MiB")
    ratio = run.wall("this") / preview.wall("this")
    print(f"  sent {c['sent_records']:,} records, {c['sent_bytes']:,} bytes: {100 * c['sent_bytes'] / c['full_bytes']:.2f}% of the "
          f"full feed's {c['full_bytes']:,} bytes ({c['full_records']:,} records)")
    print(f"  targets: bytes ~1% of the full feed; cost {ratio:.2f} x the JSON preview (<= 1.2)")
    print("  runs (s): " + "; ".join(f"{s.name}: " + ", ".join(f"{w:.2f}" for w in s.walls["this"]) for s in (run, preview)))


def top_up(ledger, n, wanted):
    """Copies the last delivery row and adds synthetic disclosure rows until the ledger holds `wanted`."""
    connection = sqlite3.connect(ledger)
    have = connection.execute("SELECT count(*) FROM disclosures").fetchone()[0]
    need = max(0, wanted - have)
    seq = connection.execute("SELECT max(seq) FROM deliveries").fetchone()[0]
    columns = [row[1] for row in connection.execute("PRAGMA table_info(deliveries)") if row[1] not in ("seq", "id", "manifest")]
    copies = max(1, -(-need // max(1, n)))
    for k in range(copies):
        connection.execute(f"INSERT INTO deliveries (seq, id, manifest, {', '.join(columns)}) "
                           f"SELECT ?, id || '-bench-' || ?, x'', {', '.join(columns)} FROM deliveries WHERE seq = ?",
                           (seq + 1 + k, k, seq))
    disclosure_columns = [row[1] for row in connection.execute("PRAGMA table_info(disclosures)")]
    if "granted_at" in disclosure_columns:
        connection.execute("""INSERT INTO disclosures (customer_id, delivery, scope, granted_at)
            WITH RECURSIVE series(value) AS (SELECT 1 WHERE ?4 > 0 UNION ALL SELECT value + 1 FROM series WHERE value < ?4)
            SELECT (value - 1) % ?1 + 1, ?2 + 1 + (value - 1) / ?3, 'partner-offers', '2024-01-01T00:00:00Z'
            FROM series""", (n, seq, n, need))
    connection.commit()
    total = connection.execute("SELECT count(*) FROM disclosures").fetchone()[0]
    customer = connection.execute("SELECT customer_id FROM disclosures ORDER BY customer_id LIMIT 1 OFFSET ?",
                                  (total // 2,)).fetchone()[0]
    connection.close()
    return customer, total


if __name__ == "__main__":
    main()
