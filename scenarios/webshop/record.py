"""Record the shop's own traffic, as a consultant gets it from production: the servers'
real logs of a deterministic drive (drive.py) through a staged copy of today's shop.

    python scenarios/webshop/record.py      (from the lab's checkout; needs the engine)

It runs `invoke pilot webshop --keep`, turns on PostgreSQL's statement log
(log_statement = 'all', Debian's log_line_prefix) and a Redis MONITOR capture in the
baseline copy, drives customers and the accounting export through nginx, runs the
hosting provider's monitoring (the munin plugin's query, `redis-cli INFO keyspace`) and
the owner's session in the browser, then writes into traffic/:

    access.log            nginx's access log (combined)
    owner-session.har     the owner's session, exported by the browser (HAR 1.2)
    postgresql.log        PostgreSQL's log (stderr format, every statement)
    redis-monitor.txt     redis-cli MONITOR

and removes the copies. The requests are the same on every run; the logs' times and
process ids are those of the run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = HERE / "traffic"
LABEL = "io.upgrade-pilot-lab"
MUNIN = "SELECT checkpoints_timed, checkpoints_req, buffers_checkpoint, buffers_backend FROM pg_stat_bgwriter"
REVENUE = (
    "SELECT to_char(date_trunc('month', o.placed), 'YYYY-MM') AS month, sum(i.price * i.quantity) AS revenue"
    " FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.status <> 'cancelled'"
    " AND o.placed BETWEEN '2024-01-01' AND '2024-12-31' GROUP BY 1 ORDER BY 1"
)


def docker(*args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(["docker", *args], input=stdin, capture_output=True, check=True)
    return done.stdout.decode()


def containers(run_id: str) -> dict[str, str]:
    listed = docker(
        "ps",
        "--filter",
        f"label={LABEL}.run={run_id}",
        "--filter",
        f"label={LABEL}.variant=baseline",
        "--format",
        f'{{{{.Label "{LABEL}.service"}}}} {{{{.Names}}}}',
    )
    return dict(line.split() for line in listed.splitlines() if line.strip())


def main() -> None:
    invoke = [sys.executable, "-m", "invoke"]
    subprocess.run([*invoke, "pilot", "webshop", "--keep"], cwd=ROOT, check=False)
    run_id = sorted(p.name for p in (ROOT / "pilots" / "webshop").iterdir() if p.is_dir())[-1]
    try:
        names = containers(run_id)
        db, cache, probe, proxy = names["db"], names["cache"], names["lab-probe"], names["proxy"]
        psql = ["exec", db, "psql", "--no-psqlrc", "--quiet", "--username=postgres", "--dbname=shop"]
        docker(*psql, "--command=ALTER SYSTEM SET log_statement = 'all'")
        docker(*psql, "--command=ALTER SYSTEM SET log_line_prefix = '%m [%p] %q%u@%d '")
        docker(*psql, "--command=SELECT pg_reload_conf()")
        since = str(time.time())
        monitor = subprocess.Popen(["docker", "exec", cache, "redis-cli", "MONITOR"], stdout=subprocess.PIPE)
        drive = (HERE / "drive.py").read_bytes()
        docker("exec", "-i", probe, "python3", "-", "customers", stdin=drive)
        for _ in range(2):  # the plugins run every few minutes
            docker(*psql, "--tuples-only", f"--command={MUNIN}")
            docker("exec", cache, "redis-cli", "INFO", "keyspace")
        docker(*psql, f"--command={REVENUE}")
        sid = docker("exec", cache, "redis-cli", "--scan", "--pattern", "session:*").split()[0][len("session:") :]
        har = docker("exec", "-i", probe, "python3", "-", "admin", sid, stdin=drive)
        monitor.terminate()
        captured, _ = monitor.communicate()
        OUT.mkdir(exist_ok=True)
        (OUT / "owner-session.har").write_text(har)
        (OUT / "redis-monitor.txt").write_bytes(captured)
        access = subprocess.run(["docker", "logs", "--since", since, proxy], capture_output=True, check=True)
        (OUT / "access.log").write_bytes(access.stdout)
        server = subprocess.run(["docker", "logs", "--since", since, db], capture_output=True, check=True)
        (OUT / "postgresql.log").write_bytes(server.stderr)
    finally:
        subprocess.run([*invoke, "down", run_id], cwd=ROOT, check=False)
    for path in sorted(OUT.iterdir()):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
