#!/usr/bin/env python3
"""make bench (second part): partner-export reading PostgreSQL, against the floor of the same work.

A throw-away PostgreSQL cluster (initdb in a folder under /tmp, loopback, a free port) is loaded with the
same customers as bench.py's SQLite file. The floor is psql reading the same columns with the same
consent and filter conditions to /dev/null (`\\copy (SELECT …) TO '/dev/null'`); then `preview --out`
of the JSON partner from PostgreSQL, and the same from the SQLite file for comparison. Wall time is
the median of --repeat runs, alternating; peak RSS (GNU time) the largest.

Usage: bench/postgres.py [--customers N] [--repeat R] [--binary PATH] [--baseline PATH] [--data DIR]
"""
import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the floor's SQL, GNU time, a free port)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCHEMA = open(os.path.join(ROOT, "ops/postgresql-schema.sql")).read()


class Cluster:
    """initdb, pg_ctl start and stop, as the postgres user when run as root."""

    def __init__(self, folder):
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
        if not versions:
            sys.exit("bench: no PostgreSQL server programs (make deps installs postgresql-15)")
        self.bin = os.path.dirname(versions[0])
        self.folder = folder
        self.port = bench.free_port()
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        os.chmod(folder, 0o755)
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        if os.getuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        subprocess.check_call(self.prefix + [f"{self.bin}/initdb", "-D", f"{folder}/data", "-A", "trust", "-U", "postgres",
                                             "-E", "UTF8", "--locale=C.UTF-8"], stdout=subprocess.DEVNULL)
        subprocess.check_call(self.prefix + [f"{self.bin}/pg_ctl", "-D", f"{folder}/data", "-l", f"{folder}/log", "-w", "-o",
                                             f"-p {self.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off",
                                             "start"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def psql(self, *arguments, stdin=None):
        return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.url] + list(arguments), stdin=stdin,
                              stdout=subprocess.PIPE, check=True, text=True).stdout

    def stop(self):
        subprocess.call(self.prefix + [f"{self.bin}/pg_ctl", "-D", f"{self.folder}/data", "-m", "immediate", "stop"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def load(cluster, db):
    """The SQLite file's customers and consents into the server, as CSV through COPY."""
    cluster.psql("-c", SCHEMA)
    for table in ("customers", "consents"):
        dump = subprocess.Popen(["sqlite3", "-csv", db, f"SELECT * FROM {table}"], stdout=subprocess.PIPE)
        cluster.psql("-c", f"COPY {table} FROM STDIN (FORMAT csv)", stdin=dump.stdout)
        if dump.wait() != 0:
            sys.exit(f"bench: sqlite3 could not read {table} of {db}")
    cluster.psql("-c", "VACUUM ANALYZE")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/partner-export"))
    parser.add_argument("--data", default=os.path.join(ROOT, "bench-data"))
    parser.add_argument("--baseline", help="another partner-export binary, measured alternately on the ledger runs")
    args = parser.parse_args()
    bench.DATA = args.data
    os.makedirs(args.data, exist_ok=True)
    n = args.customers
    db = os.path.join(args.data, f"customers-{n}.sqlite")
    if not os.path.exists(db):
        print(f"bench: generating {n:,} customers (once; kept in {args.data})", flush=True)
        subprocess.check_call([args.binary, "demo-data", "--customers", str(n), "--seed", "7", "--db", db], stdout=subprocess.DEVNULL)
    # A folder of its own under /tmp: the server's user must reach it, and nothing above it is loosened.
    cluster = Cluster(tempfile.mkdtemp(prefix="partner-export-bench-pg-"))
    try:
        started = time.monotonic()
        load(cluster, db)
        print(f"bench: PostgreSQL {os.path.basename(os.path.dirname(cluster.bin))} on 127.0.0.1:{cluster.port}, "
              f"{n:,} customers loaded in {time.monotonic() - started:.1f} s", flush=True)
        eligible = int(cluster.psql("-A", "-t", "-c", f"SELECT count(*) FROM ({bench.FLOOR_SQL}) AS s").strip())
        env = dict(os.environ, BENCH_TOKEN="unused", BENCH_PSEUDONYM_KEY=os.urandom(24).hex(), PARTNER_EXPORT_LOG_LEVEL="error")
        config = os.path.join(args.data, "config")
        if not os.path.exists(config):
            sys.exit("bench: run bench/bench.py first (it writes the benchmark partners' configuration)")
        no_ledger = ["--state", os.path.join(args.data, "no-ledger", "ledger.sqlite")]
        out = os.path.join(args.data, "preview-pg.json")
        feeds = os.path.join(args.data, "dry-run-pg")
        floor_sql = " ".join(bench.FLOOR_SQL.split())
        # The export is the dry run (select, minimise, render, batch into files: a run without the
        # network); the preview also reads every excluded customer, to count them by reason.
        steps = [
            ("floor: psql \\copy (SELECT …) TO /dev/null", ["psql", "-X", "-q", cluster.url, "-c",
                                                            f"\\copy ({floor_sql}) TO '/dev/null'"]),
            ("run --dry-run (JSON) from PostgreSQL", [args.binary, "run", "bench-json", "--dry-run", "--out", feeds,
                                                    "--db", cluster.url, "--config", config] + no_ledger),
            ("run --dry-run (JSON) from SQLite", [args.binary, "run", "bench-json", "--dry-run", "--out", feeds,
                                                "--db", db, "--config", config] + no_ledger),
            ("preview --out (JSON) from PostgreSQL", [args.binary, "preview", "bench-json", "--out", out, "--limit", "0",
                                                    "--db", cluster.url, "--config", config] + no_ledger),
            ("preview --out (JSON) from SQLite", [args.binary, "preview", "bench-json", "--out", out, "--limit", "0",
                                                "--db", db, "--config", config] + no_ledger),
        ]
        walls = {name: [] for name, _ in steps}
        cpus = {name: [] for name, _ in steps}
        rss = {name: 0 for name, _ in steps}
        for _ in range(args.repeat):
            for name, command in steps:
                shutil.rmtree(feeds, ignore_errors=True)
                wall, peak, status, cpu = bench.timed(command, env=env)
                if status != 0:
                    sys.exit(f"bench: {name} failed (exit {status}): {' '.join(command)}")
                walls[name].append(wall)
                cpus[name].append(cpu)
                rss[name] = max(rss[name], peak)
        size = os.path.getsize(out)
        os.remove(out)
        shutil.rmtree(feeds, ignore_errors=True)
        # The ledger in PostgreSQL: the bench's run over HTTPS with each ledger (bench.py's nginx sink),
        # the server durable again (fsync on) as a ledger's server would be.
        cluster.psql("-c", "ALTER SYSTEM SET fsync = on", "-c", "SELECT pg_reload_conf()", "-c", "CREATE DATABASE ledger")
        ledger_url = cluster.url.rsplit("/", 1)[0] + "/ledger"
        subprocess.check_call([sys.executable, os.path.join(ROOT, "bench/bench.py"), "--customers", str(args.customers),
                               "--repeat", str(args.repeat), "--binary", args.binary, "--ledger-only",
                               "--postgres-ledger", ledger_url] + (["--baseline", args.baseline] if args.baseline else []))
    finally:
        cluster.stop()
        shutil.rmtree(cluster.folder, ignore_errors=True)

    base = statistics.median(walls[steps[0][0]])
    print(f"bench: {eligible:,} eligible; median of {args.repeat}; JSON feed {size / 1e6:.1f} MB")
    print(f"{'step':<44} {'wall s':>8} {'CPU s':>7} {'records/s':>12} {'peak RSS':>10} {'x floor':>8}")
    for name, _ in steps:
        wall = statistics.median(walls[name])
        print(f"{name:<44} {wall:>8.2f} {statistics.median(cpus[name]):>7.2f} {eligible / wall:>12,.0f} "
              f"{rss[name] / 1024:>7.1f} MiB {wall / base:>8.2f}")
    print("runs (s): " + "; ".join(f"{name}: " + ", ".join(f"{w:.2f}" for w in walls[name]) for name, _ in steps))
    # The machine drifts between faster and slower spells: each export is also compared with the floor
    # measured just before it (same repeat), and the median of those ratios given beside.
    paired = statistics.median(e / f for e, f in zip(walls[steps[1][0]], walls[steps[0][0]]))
    print(f"target: the export from PostgreSQL {statistics.median(walls[steps[1][0]]) / base:.2f} x the psql floor by medians, "
          f"{paired:.2f} x by paired ratios (<= 1.5)")


if __name__ == "__main__":
    main()
