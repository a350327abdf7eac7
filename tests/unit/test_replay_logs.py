"""lab/replay/ (reading, formats and the parsers): every format on real log lines of both
Debian releases' servers (tests/unit/replay_logs: PostgreSQL 15 and 17, MariaDB 10.11 and
11.8, Redis 7.0 and 8.0, nginx), malformed lines, and bad files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from lab.errors import ScenarioError
from lab.replay import formats, http_logs, mysql_logs, reading, redis_logs, sql_logs
from lab.replay.entries import Entry, Malformed, Skip

LOGS = Path(__file__).parent / "replay_logs"


def entries(items) -> list[Entry]:
    return [i for i in items if isinstance(i, Entry)]


def statements(items) -> list[str]:
    return [e.request["statement"] for e in entries(items)]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("nginx-access.log", "access-log"),
        ("postgresql-15.log", "postgresql"),
        ("postgresql-17.log", "postgresql"),
        ("postgresql-15.csv", "postgresql-csv"),
        ("postgresql-17.csv", "postgresql-csv"),
        ("mariadb-10.11-general.log", "mysql-general"),
        ("mariadb-11.8-general.log", "mysql-general"),
        ("mariadb-10.11-slow.log", "mysql-slow"),
        ("mariadb-11.8-slow.log", "mysql-slow"),
        ("redis-7.0-monitor.txt", "redis-monitor"),
        ("redis-8.0-monitor.txt", "redis-monitor"),
    ],
)
def test_formats_are_recognised_by_content(name, expected):
    assert formats.recognise(LOGS / name, name) == expected


def test_a_har_file_is_recognised(tmp_path):
    har = tmp_path / "session.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "entries": []}}))
    assert formats.recognise(har, "session.har") == "har"


@pytest.mark.parametrize("version", ["15", "17"])
def test_postgresql_stderr_log_statements_sessions_and_bound_parameters(version):
    found = entries(sql_logs.stderr_log(reading.lines(LOGS / f"postgresql-{version}.log"), None, None, None))
    texts = [e.request["statement"] for e in found]
    assert "SELECT name,\n       price\n  FROM items\n WHERE id = 1;" in texts  # continuation lines joined
    assert "SELECT checkpoints_timed FROM pg_stat_bgwriter;" in texts
    assert "CREATE ROLE clerk LOGIN PASSWORD 'Secr3tPass';" in texts
    bound = [t for t in texts if t.startswith("SELECT abalance")]
    # the extended protocol's $1 comes back from the DETAIL line ("Parameters:" from 17 on)
    assert len(bound) == 2 and all("$1" not in t and "aid = '" in t for t in bound)
    shop = next(e for e in found if e.request["statement"].startswith("CREATE TABLE items"))
    assert shop.request["database"] == "shop" and shop.request["user"] == "postgres" and shop.session.isdigit()
    # a session's statements keep its pid, in order
    role = next(e for e in found if e.request["statement"] == "SET ROLE clerk;")
    same = [e.request["statement"] for e in found if e.session == role.session]
    assert same.index("BEGIN;") < same.index("SET ROLE clerk;") < same.index("ROLLBACK;")


@pytest.mark.parametrize("version", ["15", "17"])
def test_postgresql_csvlog_reads_the_same_statements_as_the_stderr_log(version):
    stderr = statements(sql_logs.stderr_log(reading.lines(LOGS / f"postgresql-{version}.log"), None, None, None))
    with reading.text(LOGS / f"postgresql-{version}.csv") as text:
        csv_found = entries(sql_logs.csv_log(text, None, None))
    assert [e.request["statement"] for e in csv_found] == stderr
    assert {e.request["database"] for e in csv_found} >= {"postgres", "shop"}
    assert all(e.session and "." in e.session for e in csv_found)  # csvlog's session id


def test_postgresql_log_line_prefix_escapes_and_a_given_prefix():
    prefix = "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h "
    line = "2026-12-03 14:05:01 UTC [812]: [3-1] user=shop,db=shopdb,app=psql,client=[local] LOG:  statement: SELECT 1"
    (entry,) = entries(sql_logs.stderr_log([(1, line)], prefix, None, None))
    assert (entry.request["user"], entry.request["database"], entry.session) == ("shop", "shopdb", "812")
    # without a prefix, the usual ones are tried: pgBadger's is one of them
    (again,) = entries(sql_logs.stderr_log([(1, line)], None, None, None))
    assert again.request == entry.request
    # a prefix without %u and %d: the scenario's user and database
    (plain,) = entries(
        sql_logs.stderr_log([(1, "2026-12-03 14:05:01.1 UTC [9] LOG:  statement: SELECT 2")], None, "db", "me")
    )
    assert (plain.request["database"], plain.request["user"]) == ("db", "me")


def test_postgresql_durations_and_malformed_lines():
    lines = [
        "2026-12-03 14:05:01.123 UTC [812] shop@shop LOG:  duration: 250.500 ms  statement: SELECT pg_sleep(0.25)",
        "garbage that is no log line",
        "2026-12-03 14:05:02.123 UTC [812] shop@shop LOG:  checkpoint starting: time",
    ]
    found = list(sql_logs.stderr_log(enumerate(lines, 1), None, None, None))
    (entry,) = entries(found)
    assert entry.seconds == pytest.approx(0.2505) and entry.request["statement"] == "SELECT pg_sleep(0.25)"
    (bad,) = [i for i in found if isinstance(i, Malformed)]
    assert bad.line == 2 and "log_line_prefix" in bad.why


@pytest.mark.parametrize("version", ["10.11", "11.8"])
def test_mariadb_general_log_sessions_users_databases_and_multiline_statements(version):
    found = entries(mysql_logs.general_log(reading.lines(LOGS / f"mariadb-{version}-general.log"), None, None))
    by_text = {e.request["statement"]: e for e in found}
    multi = by_text["SELECT name,\n       price\n  FROM items\n WHERE id = 1"]
    assert multi.request["database"] == "shop" and multi.request["user"] == "root"  # after `Init DB shop`
    count = by_text["SELECT count(*) FROM items WHERE price > 1.75"]
    assert count.request["user"] == "shop" and count.request["database"] == "shop" and count.session != multi.session
    assert by_text["CREATE DATABASE shop"].request["database"] == ""  # connected without a database


@pytest.mark.parametrize("version", ["10.11", "11.8"])
def test_mariadb_slow_log_statements_with_their_times(version):
    found = entries(mysql_logs.slow_log(reading.lines(LOGS / f"mariadb-{version}-slow.log"), None, None))
    by_text = {e.request["statement"]: e for e in found}
    update = by_text["UPDATE items SET price = 2.10 WHERE id = 2"]
    assert update.request["user"] == "shop" and update.request["database"] == "shop"
    assert update.seconds is not None and update.seconds < 1
    assert "SET timestamp" not in "".join(by_text) and "use `shop`" not in "".join(by_text)
    assert by_text["SELECT name,\n       price\n  FROM items\n WHERE id = 1"].request["database"] == "shop"


@pytest.mark.parametrize("version", ["7.0", "8.0"])
def test_redis_monitor_commands_databases_escapes_and_what_is_not_replayed(version):
    found = list(redis_logs.monitor(reading.lines(LOGS / f"redis-{version}-monitor.txt")))
    commands = [(e.request["db"], e.request["args"]) for e in entries(found)]
    assert (0, ["SET", "greeting", 'caf\xc3\xa9 "quoted"']) in commands  # bytes as latin-1 text
    assert (2, ["HSET", "cart:17", "sku", "SKU-00042", "qty", "2"]) in commands
    assert (0, ["INFO", "keyspace"]) in commands
    skipped = [str(s) for s in found if isinstance(s, Skip)]
    assert any(s.startswith("SELECT") for s in skipped)  # each command goes to its logged db
    assert any("script" in s for s in skipped)  # the GET run by EVAL's script
    assert any(s.startswith("AUTH") for s in skipped)


def test_redis_monitor_malformed_lines():
    lines = ['1733234701.123456 [0 127.0.0.1:1] "GET" "cut', "not monitor output"]
    assert [type(i) for i in redis_logs.monitor(enumerate(lines, 1))] == [Malformed, Malformed]


def test_nginx_access_log_requests_and_what_an_access_log_cannot_replay():
    found = entries(http_logs.access_log(reading.lines(LOGS / "nginx-access.log")))
    assert found[0].request["url"] == "/static/shop.css" and found[0].request["method"] == "GET"
    lines = [
        '10.0.0.1 - - [03/Dec/2026:14:05:01 +0000] "POST /api/cart HTTP/1.1" 200 12 "-" "app"',
        '10.0.0.1 - - [03/Dec/2026:14:05:01 +0000] "\\x16\\x03\\x01" 400 150 "-" "-"',
        'shop.example.org:443 10.0.0.1 - - [03/Dec/2026:14:05:01 +0000] "GET /a?b=1 HTTP/1.1" 200 1 "-" "x"',
        "no access log line",
    ]
    items = list(http_logs.access_log(enumerate(lines, 1)))
    assert str(items[0]).startswith("POST: an access log has no request bodies")
    assert "not an HTTP request" in str(items[1])
    assert items[2].request["host"] == "shop.example.org" and items[2].request["url"] == "/a?b=1"  # vhost_combined
    assert isinstance(items[3], Malformed)


def test_har_requests_with_headers_cookies_and_bodies(tmp_path):
    def entry(method, url, **request):
        return {"startedDateTime": request.pop("at"), "request": {"method": method, "url": url, **request}}

    har = tmp_path / "s.har"
    har.write_text(
        json.dumps(
            {
                "log": {
                    "version": "1.2",
                    "entries": [
                        entry(
                            "GET",
                            "https://shop.example.org/api/x?y=1",
                            at="2026-12-03T10:00:02Z",
                            headers=[
                                {"name": ":authority", "value": "x"},
                                {"name": "Accept", "value": "a"},
                                {"name": "Accept", "value": "b"},
                            ],
                            cookies=[{"name": "sid", "value": "abc123"}],
                        ),
                        entry(
                            "POST",
                            "http://shop.example.org/upload",
                            at="2026-12-03T10:00:01Z",
                            postData={"mimeType": "image/png", "text": "iVBORw==", "encoding": "base64"},
                        ),
                        entry(
                            "POST",
                            "http://shop.example.org/form",
                            at="2026-12-03T10:00:03Z",
                            postData={
                                "mimeType": "application/x-www-form-urlencoded",
                                "params": [{"name": "a", "value": "1"}],
                            },
                        ),
                        {"startedDateTime": "2026-12-03T10:00:04Z", "request": {"url": "http://x/"}},
                    ],
                }
            }
        )
    )
    found = list(http_logs.har(har))
    upload, get, form, bad = found  # in the order they were made
    assert upload.request["body"] == "\x89PNG" and upload.request["binary"] is True
    assert ["Content-Type", "image/png"] in upload.request["headers"]
    assert get.request["headers"] == [
        ["Accept", "a"],
        ["Accept", "b"],
        ["Cookie", "sid=abc123"],
    ]  # repeated, no :authority
    assert get.request["host"] == "shop.example.org" and get.request["url"] == "/api/x?y=1"
    assert form.request["body"] == "a=1"
    assert isinstance(bad, Malformed) and "entries[3]" in bad.why


def test_bad_files_give_a_clear_error_naming_the_file(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_text("")
    with pytest.raises(ScenarioError, match="empty.log: the file is empty"):
        formats.recognise(empty, "empty.log")
    binary = tmp_path / "dump.bin"
    binary.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(ScenarioError, match="dump.bin: a binary file"):
        formats.recognise(binary, "dump.bin")
    unknown = tmp_path / "notes.txt"
    unknown.write_text("dear diary\n")
    with pytest.raises(ScenarioError, match=r"notes.txt: cannot tell what log this is .*give its `format:`"):
        formats.recognise(unknown, "notes.txt")


def test_a_huge_line_is_counted_not_read_and_a_cut_gzip_ends_with_a_malformed_line(tmp_path):
    log = tmp_path / "big.log"
    with log.open("wb") as f:
        f.write(b"line one\n" + b"x" * (10 << 20) + b"\nline three\n")
    got = list(reading.lines(log))
    assert [n for n, _ in got] == [1, 2, 3]
    assert isinstance(got[1][1], reading.Unreadable) and got[2][1] == "line three"
    cut = tmp_path / "access.log.gz"
    whole = gzip.compress(b"".join(f"line {n}\n".encode() for n in range(5000)))
    cut.write_bytes(whole[: len(whole) // 2])
    got = list(reading.lines(cut))
    assert got[0] == (1, "line 0") and isinstance(got[-1][1], reading.Unreadable)
    assert "ends early" in got[-1][1]
