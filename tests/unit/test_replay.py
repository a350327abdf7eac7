"""lab/replay/ (select, shapes, run's parsing) and the `replay:` section: which entries are
distinct, what is left out and why, where a session's statements go, what is redacted,
and how answers are read — without an engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab import scenario
from lab.errors import ScenarioError
from lab.replay import read, shapes, sql_clients
from lab.scenario.model import ReplayLog
from lab.scenario.secrets import Redactor
from tests.conftest import ROOT

LOGS = Path(__file__).parent / "replay_logs"
WEBSHOP = ROOT / "scenarios" / "webshop" / "traffic"


def traffic(path: Path, **spec):
    return read(ReplayLog(file=path.name, **spec), path, path.name)


def test_the_webshops_logs_come_down_to_their_distinct_entries():
    pg = traffic(WEBSHOP / "postgresql.log", service="db")
    assert pg.coverage.read > 1000 and pg.coverage.malformed == 0
    ids = [s.id for s in pg.checks]
    assert len(ids) == len(set(ids)) == pg.coverage.distinct
    assert "replay:sql SELECT … FROM pg_stat_bgwriter" in ids
    order = next(s for s in pg.checks if s.id == "replay:sql SELECT sku, name, price FROM products WHERE id = ?")
    assert order.count > 100 and order.runs(3) == 3 and not order.writes  # repeated: a median of 3 runs
    assert "WHERE id = " in order.entry.request["statement"] and "?" not in order.entry.request["statement"]
    access = traffic(WEBSHOP / "access.log", to="proxy:80")
    assert {s.id for s in access.checks} >= {"replay:http GET /products/{n}", "replay:http GET /api/orders/{n}"}
    assert all(s.target == ("proxy", 80) for s in access.checks)
    har = traffic(WEBSHOP / "owner-session.har", to={"shop.example.org": "proxy:80"})
    upload = next(s for s in har.checks if "image" in s.id)
    assert upload.id == "replay:http POST shop.example.org/admin/products/{n}/image" and upload.writes
    assert upload.runs(3) == 1  # a write happens once
    redis = traffic(WEBSHOP / "redis-monitor.txt", service="cache")
    scan = next(s for s in redis.checks if s.id.startswith("replay:redis SCAN"))
    assert not scan.compare and next(s for s in redis.checks if s.id == "replay:redis INFO keyspace").compare


def test_limits_include_exclude_and_writes_skip_are_counted_with_the_reason():
    pg = traffic(LOGS / "postgresql-15.log", service="db", writes="skip", exclude=["pgbench"], max_distinct=3)
    skipped = pg.coverage.skipped
    assert skipped["writes (writes: skip)"] >= 3
    assert skipped["matched by exclude"] >= 1
    assert skipped["beyond max_distinct (3)"] >= 1
    assert pg.coverage.distinct == 3 and all(not s.writes for s in pg.checks)
    only = traffic(LOGS / "postgresql-15.log", service="db", include=["FROM items"])
    assert [s.id for s in only.checks] == ["replay:sql SELECT name, price FROM items WHERE id = ?"]
    assert only.coverage.skipped["not matched by include"] > 5
    copy = traffic(LOGS / "postgresql-17.log", service="db")
    assert copy.coverage.skipped["COPY … FROM STDIN: the log has no data to send"] == 3


def test_a_sessions_transaction_and_role_go_with_its_replayed_statement():
    pg = traffic(LOGS / "postgresql-17.log", service="db", include=["FROM items"])
    (select,) = pg.checks
    session = [s.entry.request["statement"] for s in pg.steps if s.entry.session == select.entry.session]
    assert session == ["BEGIN;", "SET ROLE clerk;", select.entry.request["statement"], "ROLLBACK;"]
    # a transaction without a replayed statement is not sent at all
    assert [s.entry.request["statement"] for s in pg.steps if not s.id].count("begin") == 0


def test_credentials_in_the_logs_are_collected_for_redaction(tmp_path):
    pg = traffic(LOGS / "postgresql-15.log", service="db")
    assert "Secr3tPass" in pg.secrets  # CREATE ROLE … PASSWORD '…'
    mariadb = traffic(LOGS / "mariadb-11.8-general.log", service="db")
    assert "Secr3tPass" in mariadb.secrets  # IDENTIFIED BY '…'
    har = tmp_path / "login.har"
    request = {
        "method": "POST",
        "url": "http://shop/login",
        "headers": [{"name": "Authorization", "value": "Bearer tok-123456"}, {"name": "Cookie", "value": "sid=abc123"}],
        "postData": {"mimeType": "application/json", "text": json.dumps({"user": "a", "password": "hunter22"})},
    }
    har.write_text(json.dumps({"log": {"entries": [{"startedDateTime": "1", "request": request}]}}))
    found = traffic(har, to="app:8000").secrets
    assert {"Bearer tok-123456", "tok-123456", "abc123", "hunter22"} <= found
    redact = Redactor({})
    redact.add({f"replayed-credential-{n}": v for n, v in enumerate(sorted(found), 1)})
    shown = redact("echo: Bearer tok-123456, sid=abc123, password hunter22")
    assert "tok-123456" not in shown and "abc123" not in shown and "hunter22" not in shown


def test_a_log_that_cannot_be_read_is_an_error_naming_it(tmp_path):
    junk = tmp_path / "junk.log"
    junk.write_text("\n".join("2026-12-03 10:00:00 nothing but noise" for _ in range(3)))
    with pytest.raises(
        ScenarioError, match=r"junk.log: no entry could be read as postgresql \(3 malformed; first: junk.log:1:"
    ):
        traffic(junk, service="db", format="postgresql")
    with pytest.raises(ScenarioError, match="needs `service:`"):
        traffic(LOGS / "redis-7.0-monitor.txt")


def test_http_entries_without_a_route_are_skipped_with_the_host_named(tmp_path):
    log = tmp_path / "vhosts.log"
    log.write_text(
        'shop.example.org:80 10.0.0.1 - - [03/Dec/2026:14:05:01 +0000] "GET /a HTTP/1.1" 200 1 "-" "x"\n'
        'admin.example.org:80 10.0.0.1 - - [03/Dec/2026:14:05:01 +0000] "GET /b HTTP/1.1" 200 1 "-" "x"\n'
    )
    found = traffic(log, to={"shop.example.org": "proxy:8080"})
    assert [(s.id, s.target) for s in found.checks] == [("replay:http GET shop.example.org/a", ("proxy", 8080))]
    assert found.coverage.skipped == {"no route for host admin.example.org — add it to `to:`": 1}


@pytest.mark.parametrize(
    "statement, shape",
    [
        ("SELECT * FROM t WHERE a = 1 AND b = 'x''y'", "SELECT * FROM t WHERE a = ? AND b = ?"),
        ("select *\n  from t where id in (1, 2, 3)", "SELECT * FROM t WHERE id IN (?…)"),
        ("INSERT INTO t VALUES (1, 'a'), (2, 'b');", "INSERT INTO t VALUES (?…)…"),
        ("SELECT $1::int, t1.a FROM t1 /* why */", "SELECT ?::int, t1.a FROM t1"),
    ],
)
def test_sql_shapes(statement, shape):
    assert shapes.sql(statement) == shape


def test_psql_answers_rows_errors_and_row_counts():
    answer = sql_clients.Psql.answer
    rows = answer("name,price\ntea,1.50\nx,<NULL>\nTime: 0.4 ms\n@@lab-count@@ 2\n")
    assert rows.output == {
        "columns": [{"name": "name", "type": ""}, {"name": "price", "type": ""}],
        "rows": [["tea", "1.50"], ["x", None]],
    }
    assert rows.seconds == [0.0004] and rows.outcome.value == "passed"
    error = answer("Time: 0.3 ms\n@@lab-error@@ 'column \"x\" does not exist'\n@@lab-count@@ 0\n")
    assert error.outcome.value == "failed" and error.message == 'ERROR: column "x" does not exist'
    write = answer("Time: 1.0 ms\n@@lab-count@@ 3\n")
    assert write.output["rows"] == [["3"]] and write.output["columns"] == [{"name": "rows affected", "type": ""}]
    script = sql_clients.Psql.step("SELECT 1; -- note", 3).decode()
    assert script.startswith("SELECT 1; -- note\n;\n\\o /dev/null\n\\g\n\\g\n\\o\n")
    assert script.endswith("@@lab-end@@\n")


def test_psql_sessions_connect_as_a_superuser_take_the_logged_users_identity():
    step = traffic(LOGS / "postgresql-15.log", service="db", include=["FROM items"]).checks[0]
    argv, setup = sql_clients.Psql.start(step, ReplayLog(file="x", connect_as="postgres", timeout=5))
    assert "--username=postgres" in argv and "PGOPTIONS=-c statement_timeout=5000" in argv
    assert "SET SESSION AUTHORIZATION" not in setup.decode()  # the logged user is postgres
    step.entry.request["user"] = 'shop "clerk"'
    _, setup = sql_clients.Psql.start(step, ReplayLog(file="x", connect_as="postgres"))
    assert setup.decode().endswith('SET SESSION AUTHORIZATION "shop ""clerk""";\n\\echo @@lab-end@@\n')


def test_mariadb_batch_answers_rows_errors_and_row_counts():
    # what `mariadb --batch --force --unbuffered 2>&1` prints (10.11 and 11.8 alike)
    answer = sql_clients.Mariadb.answer
    rows = answer("a\tb\n1\tx\\ty\nNULL\tz\nlab_count\n-1\n")
    assert rows.output["columns"] == [{"name": "a", "type": ""}, {"name": "b", "type": ""}]
    assert rows.output["rows"] == [["1", "x\\ty"], [None, "z"]]
    failed = "--------------\nSELECT nope FROM t\n--------------\n\n"
    failed += "ERROR 1054 (42S22) at line 5: Unknown column 'nope' in 'SELECT'\nlab_count\n-1\n"
    error = answer(failed)
    assert error.outcome.value == "failed" and error.message == "ERROR 1054 (42S22): Unknown column 'nope' in 'SELECT'"
    assert "nope FROM t" not in str(error.output)  # the echoed statement is not kept
    assert answer("lab_count\n1\n").output["rows"] == [["1"]]
    lost = answer("ERROR at line 6: Can't connect to the server\nlab_count\n-1\n")  # after a failed `connect`
    assert lost.outcome.value == "failed" and lost.message == "ERROR: Can't connect to the server"


def test_replay_section_is_validated_with_file_line_and_fix(write_scenario):
    text = """
        description: A shop
        services:
          db: {image: debian:bookworm}
        candidates: {next: {}}
        replay:
          - {file: traffic/missing.log, service: dbb}
          - {file: traffic/pg.log, format: postgresql, to: {shop: db:80}}
          - {file: traffic/access.log, to: {shop: web:80, admin: "db:http"}}
    """
    folder = write_scenario(text, {"traffic/pg.log": "x", "traffic/access.log": "x"})
    with pytest.raises(ScenarioError) as info:
        scenario.load(str(folder))
    found = "\n".join(info.value.problems)
    assert "replay.0.file: log file not found" in found
    assert "replay.0.service: unknown service 'dbb' — did you mean 'db'?" in found
    assert "replay.1.to: `to:` routes HTTP entries" in found
    assert "replay.2.to.shop: unknown service 'web'" in found
    assert "replay.2.to.admin: 'db:http': the port must be a number" in found


def test_a_scenario_with_only_replay_is_valid():
    loaded = scenario.load("webshop-replay", ROOT / "scenarios")
    assert [log.file for log, _ in loaded.replay] == [
        "../webshop/traffic/access.log",
        "../webshop/traffic/owner-session.har",
        "../webshop/traffic/postgresql.log",
        "../webshop/traffic/redis-monitor.txt",
    ]
    assert all(path.is_file() for _, path in loaded.replay)
    assert not loaded.test_files and not loaded.checks.sql
