#!/usr/bin/env python3
"""make bench: partner-export measured against the floor of the same work, side by side, same data.

The floor is the sqlite3 shell reading the same selected columns of the same database, with the
same consent and filter conditions, as CSV to /dev/null. Then: preview --out for a JSON and an XML
partner with the same fields, a full run of the JSON partner to the local sandbox over HTTPS, and
`disclosures ID` on a ledger holding ten million disclosure rows. Wall time is the median of
--repeat runs; peak RSS (GNU time) the largest. Ratios are to the floor measured in the same run.

Usage: bench/bench.py [--customers N] [--repeat R] [--binary PATH] [--data DIR]
"""
import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLOOR_SQL = """SELECT c.id, c.email, c.first_name, c.country, c.postal_code, c.services, c.created_at
FROM customers AS c JOIN consents AS k ON k.customer_id = c.id AND k.scope = 'partner-offers' AND k.withdrawn_at IS NULL
WHERE c.account_status IN ('active') ORDER BY c.id"""


def timed(command, env=None, stdout=subprocess.DEVNULL):
    """Runs command under GNU time; returns (wall seconds, peak RSS KiB, exit status)."""
    report = os.path.join(DATA, "time.txt")
    started = time.monotonic()
    status = subprocess.call(["/usr/bin/time", "-v", "-o", report] + command, env=env, stdout=stdout,
                             stderr=subprocess.DEVNULL)
    wall = time.monotonic() - started
    with open(report) as f:
        text = f.read()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return wall, rss, status


def measure(name, command, repeat, env=None, before=None, records=0, output=None, stdout=subprocess.DEVNULL):
    walls, rsss = [], []
    size = 0
    for i in range(repeat):
        if before:
            before(i)
        wall, rss, status = timed(command, env=env, stdout=stdout)
        if status != 0:
            sys.exit(f"bench: {name} failed (exit {status}): {' '.join(command)}")
        walls.append(wall)
        rsss.append(rss)
        if output:
            size = output() if callable(output) else os.path.getsize(output)
    return {"name": name, "wall": statistics.median(walls), "walls": walls, "rss": max(rsss), "records": records, "bytes": size}


def main():
    global DATA
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--disclosures", type=int, default=10_000_000)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/partner-export"))
    parser.add_argument("--data", default=os.path.join(ROOT, "bench-data"))
    args = parser.parse_args()
    DATA = args.data
    os.makedirs(DATA, exist_ok=True)
    binary = args.binary
    n = args.customers

    db = os.path.join(DATA, f"customers-{n}.sqlite")
    if not os.path.exists(db):
        print(f"bench: generating {n:,} customers (once; kept in {DATA})", flush=True)
        subprocess.check_call([binary, "demo-data", "--customers", str(n), "--seed", "7", "--db", db],
                              stdout=subprocess.DEVNULL)
    eligible = sqlite3.connect(db).execute(f"SELECT count(*) FROM ({FLOOR_SQL})").fetchone()[0]

    pki = os.path.join(DATA, "pki")
    if not os.path.exists(os.path.join(pki, "ca.pem")):
        subprocess.check_call([os.path.join(ROOT, "sandbox/make-pki.sh"), pki], stdout=subprocess.DEVNULL)
    env = dict(os.environ, BENCH_TOKEN=os.urandom(16).hex(), BENCH_PSEUDONYM_KEY=os.urandom(24).hex(),
               PARTNER_EXPORT_LOG_LEVEL="error")
    sandbox_dir = os.path.join(DATA, "sandbox")
    shutil.rmtree(sandbox_dir, ignore_errors=True)
    os.makedirs(sandbox_dir)
    routes = os.path.join(sandbox_dir, "routes.json")
    with open(routes, "w") as f:
        json.dump({"/feeds/bench-json": {"bearer_token_env": "BENCH_TOKEN"}}, f)
    sandbox = subprocess.Popen([sys.executable, os.path.join(ROOT, "sandbox/partner_sandbox.py"), "--dir", sandbox_dir,
                                "--cert", os.path.join(pki, "server.pem"), "--key", os.path.join(pki, "server.key"),
                                "--listen", "tls:0", "--routes", routes, "--no-bodies"], env=env, stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(os.path.join(sandbox_dir, "ports.json")):
                break
            time.sleep(0.1)
        port = json.load(open(os.path.join(sandbox_dir, "ports.json")))["tls"]
        config = os.path.join(DATA, "config")
        shutil.rmtree(config, ignore_errors=True)
        for folder in ("partners", "mappings"):
            os.makedirs(os.path.join(config, folder))
            for name in os.listdir(os.path.join(ROOT, "bench/config", folder)):
                text = open(os.path.join(ROOT, "bench/config", folder, name)).read()
                text = text.replace("SANDBOX_PORT", str(port)).replace("../pki/ca.pem", os.path.join(pki, "ca.pem"))
                open(os.path.join(config, folder, name), "w").write(text)
        common = ["--db", db, "--config", config]
        results = []
        print(f"bench: {n:,} customers, {eligible:,} eligible for the benchmark partner; median of {args.repeat}", flush=True)

        csv = os.path.join(DATA, "floor.csv")
        floor = measure("floor: sqlite3 -csv", ["sh", "-c", f'sqlite3 -csv "{db}" "{FLOOR_SQL}" > /dev/null'], args.repeat,
                        records=eligible)
        subprocess.check_call(["sh", "-c", f'sqlite3 -csv "{db}" "{FLOOR_SQL}" > "{csv}"'])
        floor["bytes"] = os.path.getsize(csv)
        os.remove(csv)
        results.append(floor)
        out_json = os.path.join(DATA, "preview.json")
        results.append(measure("preview --out (JSON)", [binary, "preview", "bench-json", "--out", out_json, "--limit", "0"] + common,
                               args.repeat, env=env, records=eligible, output=out_json))
        out_xml = os.path.join(DATA, "preview.xml")
        results.append(measure("preview --out (XML)", [binary, "preview", "bench-xml", "--out", out_xml, "--limit", "0"] + common,
                               args.repeat, env=env, records=eligible, output=out_xml))
        for path in (out_json, out_xml):
            os.remove(path)

        state = os.path.join(DATA, "state")

        def fresh_state(_):
            shutil.rmtree(state, ignore_errors=True)

        def payload_bytes():
            total = 0
            for folder, _, files in os.walk(os.path.join(state, "payloads")):
                total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
            return total

        results.append(measure("run to the sandbox over HTTPS (JSON)",
                               [binary, "run", "bench-json", "--state", os.path.join(state, "ledger.sqlite")] + common,
                               args.repeat, env=env, before=fresh_state, records=eligible, output=payload_bytes))

        # disclosures ID at ten million rows: the last run's real ledger, topped up with synthetic rows.
        ledger = os.path.join(state, "ledger.sqlite")
        connection = sqlite3.connect(ledger)
        have = connection.execute("SELECT count(*) FROM disclosures").fetchone()[0]
        need = max(0, args.disclosures - have)
        seq = connection.execute("SELECT max(seq) FROM deliveries").fetchone()[0]
        copies = max(1, -(-need // max(1, n)))
        for k in range(copies):
            connection.execute("""INSERT INTO deliveries (seq, id, run_id, partner, batch, record_count, bytes, sha256, records_offset,
                records_length, payload_path, content_type, gzip, status, created_at, delivered_at, fields, purpose, consent_scopes, manifest)
                SELECT ?, id || '-bench-' || ?, run_id, partner, batch, record_count, bytes, sha256, records_offset, records_length, payload_path,
                content_type, gzip, status, created_at, delivered_at, fields, purpose, consent_scopes, x''
                FROM deliveries WHERE seq = ?""", (seq + 1 + k, k, seq))
        connection.execute("""INSERT INTO disclosures (customer_id, delivery, scope, granted_at, confirmed)
            WITH RECURSIVE series(value) AS (SELECT 1 WHERE ?4 > 0 UNION ALL SELECT value + 1 FROM series WHERE value < ?4)
            SELECT (value - 1) % ?1 + 1, ?2 + 1 + (value - 1) / ?3, 'partner-offers', '2024-01-01T00:00:00Z', 1
            FROM series""", (n, seq, n, need))
        connection.commit()
        total = connection.execute("SELECT count(*) FROM disclosures").fetchone()[0]
        customer = connection.execute("SELECT customer_id FROM disclosures ORDER BY customer_id LIMIT 1 OFFSET ?",
                                      (total // 2,)).fetchone()[0]
        connection.close()
        d = measure(f"disclosures ID ({total:,} rows)",
                    [binary, "disclosures", str(customer), "--json", "--state", ledger], max(args.repeat, 5), env=env)
        results.append(d)
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait()

    base = results[0]["wall"]
    print()
    print(f"{'step':<44} {'wall s':>8} {'records/s':>12} {'MB/s':>8} {'peak RSS':>10} {'x floor':>8}")
    for r in results:
        rate = f"{r['records'] / r['wall']:,.0f}" if r["records"] else "-"
        mbs = f"{r['bytes'] / r['wall'] / 1e6:,.1f}" if r["bytes"] else "-"
        ratio = f"{r['wall'] / base:.2f}" if r is not results[-1] else "-"
        wall = f"{r['wall']:.3f}" if r["wall"] < 1 else f"{r['wall']:.2f}"
        print(f"{r['name']:<44} {wall:>8} {rate:>12} {mbs:>8} {r['rss'] / 1024:>7.1f} MiB {ratio:>8}")
    print()
    print("runs (s): " + "; ".join(f"{r['name']}: " + ", ".join(f"{w:.2f}" for w in r["walls"]) for r in results))
    xml, js = results[2]["wall"], results[1]["wall"]
    print(f"targets: JSON preview {js / base:.2f} x floor (<= 1.5); XML {xml / js:.2f} x JSON (<= 1.3); "
          f"run {results[3]['wall'] / base:.2f} x floor (<= 2); peak RSS {max(r['rss'] for r in results[1:4]) / 1024:.1f} MiB "
          f"(<= 64); disclosures {results[4]['wall'] * 1000:.0f} ms (< 100)")


if __name__ == "__main__":
    main()
