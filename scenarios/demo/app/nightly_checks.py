"""The firm's nightly monitoring job, deployed with the invoicing service and run by cron:
it reads PostgreSQL's checkpoint statistics and sends them to the monitoring host
(check_postgres style: one `name=value` per line on stdout).

    python3 nightly_checks.py
"""

import os

import psycopg2

COUNTERS = "SELECT checkpoints_timed, checkpoints_req, buffers_backend FROM pg_stat_bgwriter"


def counters(dsn):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(COUNTERS)
        names = [column.name for column in cur.description]
        return dict(zip(names, cur.fetchone()))


if __name__ == "__main__":
    for name, value in counters(os.environ["DATABASE_URL"]).items():
        print(f"{name}={value}")
