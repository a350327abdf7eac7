"""Real pilots of small test scenarios and of the demo, through `invoke pilot`."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from lab.engine.types import RUN
from tests.conftest import ROOT
from tests.integration.conftest import (
    Finished,
    background_pilot,
    docker_api,
    invoke,
    leftovers,
    scenario_path,
    until,
)
from tests.integration.test_signals import building

pytestmark = pytest.mark.docker


def test_passing_pilot_exits_0(pilot):
    done = pilot(scenario_path("passing"))
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("PASS:")
    results = json.loads((done.run_dir / "results.json").read_text())
    assert results["verdict"] == "PASS"
    (cand,) = results["candidates"]
    assert cand["counts"] == {"passed": 4}
    ids = {c["id"] for c in cand["comparisons"]}
    assert "checks/test_db.py::test_volume_is_writable[db]" in ids
    assert "checks/test_stack.py::test_greeting[app]" in ids
    # every container's log is kept, and every stage is timed
    assert sorted(p.name for p in (done.run_dir / "logs").rglob("*.log")) == ["app.log", "app.log", "db.log", "db.log"]
    assert {"build", "start_ready", "checks", "teardown", "total"} <= set(results["stages"])


def test_regression_pilot_exits_1_and_reports_it(pilot):
    done = pilot(scenario_path("regression"))
    assert done.code == 1, done.stderr
    assert "regression: checks/test_app.py::test_greeting[app]" in done.stdout
    report = (done.run_dir / "report.md").read_text()
    assert "## Verdict: NO-GO" in report
    assert "assert 'hi' == 'hello'" in report
    # a value kept with the `record` fixture is compared like a declarative check's answer
    outputs = {o["id"]: o for o in json.loads((done.run_dir / "results.json").read_text())["candidates"][0]["outputs"]}
    assert outputs["record:greeting"]["changed"] and '+$.text: "hi"' in outputs["record:greeting"]["diff"]
    assert not outputs["record:constant"]["changed"]


def test_service_never_ready_exits_2_naming_service_health_and_logs(pilot):
    done = pilot(scenario_path("never-ready"))
    assert done.code == 2, done.stdout + done.stderr
    assert "service 'db' (baseline) not ready after 3 s" in done.stderr
    assert "health=unhealthy" in done.stderr or "health=starting" in done.stderr
    assert "probe says no" in done.stderr
    assert "FATAL: could not bind to port 5432" in done.stderr
    assert "Traceback" not in done.stderr


def test_failing_build_shows_the_failing_step(pilot):
    done = pilot(scenario_path("bad-build"))
    assert done.code == 2
    assert "error: libfoo.so.3 not found" in done.stderr
    assert "exit 3" in done.stderr  # the step that failed
    assert "Traceback" not in done.stderr


def test_keep_then_down(pilot, client):
    done = pilot(scenario_path("regression"), "--keep")
    assert done.code == 1
    assert f"invoke down {done.run_id}" in done.stderr
    assert len([o for o in leftovers(client, done.run_id) if o.startswith("container")]) == 2
    # every container is contained: the scenario's limits, or the defaults
    for container in client.containers.list(filters={"label": f"{RUN}={done.run_id}"}):
        limits = container.attrs["HostConfig"]
        assert (limits["Memory"], limits["NanoCpus"], limits["PidsLimit"]) == (256 << 20, 500_000_000, 1024)
    gone = invoke("down", done.run_id)
    assert gone.returncode == 0, gone.stderr
    assert leftovers(client, done.run_id) == []


def test_a_kept_run_is_spared_by_gc_until_its_time_runs_out(pilot, client):
    done = pilot(scenario_path("regression"), "--keep-for", "15s")
    assert done.code == 1 and "`invoke gc` spares them until" in done.stderr
    spared = invoke("gc")
    assert f"spared run {done.run_id} (regression) on the local engine: kept with --keep until" in spared.stderr
    gone = f"removed run {done.run_id} (regression) on the local engine (its --keep ran out)"
    until(lambda: gone in invoke("gc").stderr, "gc removed the run once its time ran out", timeout=60)
    assert leftovers(client, done.run_id) == []


def test_gc_removes_what_a_killed_pilot_left(tmp_path, client):
    with started_pilot(tmp_path, "slow-start") as (proc, run_id):
        alive = invoke("gc")
        assert f"spared run {run_id} (slow-start) on the local engine: its pilot is still running" in alive.stderr
        assert len([o for o in leftovers(client, run_id) if o.startswith("container")]) == 2
        proc.kill()  # kill -9: no teardown
        proc.wait()
    assert leftovers(client, run_id)
    gc = invoke("gc")
    assert gc.returncode == 0, gc.stderr
    assert f"removed run {run_id} (slow-start)" in gc.stderr
    assert leftovers(client, run_id) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])  # SIGINT: test_signals.py
def test_interrupt_tears_down(tmp_path, client, sig):
    with started_pilot(tmp_path, "slow-start") as (proc, run_id):
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 130
        err = proc.stderr.read()
    assert "interrupted" in err and "Traceback" not in err
    assert leftovers(client, run_id) == []
    results = json.loads(next(tmp_path.glob("*/*/results.json")).read_text())
    assert results["exit_code"] == 130 and "interrupted" in results["error"]


@contextlib.contextmanager
def started_pilot(tmp_path, scenario: str, timeout: float = 60):
    """A pilot running in the background, once all its containers exist (polled, with a deadline)."""
    with background_pilot(tmp_path, scenario) as proc:

        def both_containers():
            assert proc.poll() is None, "the pilot ended before its containers appeared"
            runs = list(tmp_path.glob(f"{scenario}/*"))
            found = runs and docker_api().containers(all=True, filters={"label": f"{RUN}={runs[0].name}"})
            return runs[0].name if found and len(found) == 2 else None

        yield proc, until(both_containers, "the pilot's containers appeared", timeout)


def test_demo_pilot_finds_the_real_regressions(pilot):
    done = pilot("demo")
    assert done.code == 1, done.stdout + done.stderr
    report = (done.run_dir / "report.md").read_text()
    regressions = report[report.index("### Regressions") : report.index("### Passed on both")]
    # PostgreSQL 17 moved the checkpoint counters out of pg_stat_bgwriter
    assert "test_monitoring_reads_checkpoint_statistics[db-checkpoints_timed]" in regressions
    assert 'column "checkpoints_timed" does not exist' in regressions
    # Flask 3 ignores app.json_encoder: dates in the API are no longer ISO 8601
    assert "test_export_dates_are_iso_8601[app]" in regressions
    assert "Thu, 08 Jan 2026 00:00:00 GMT" in regressions
    assert "test_invoice_data_is_complete[db]" not in regressions
    # every format is there, and the PDF says what the report says
    assert {"report.md", "report.html", "report.pdf", "results.json", "junit.xml"} <= {
        p.name for p in done.run_dir.iterdir()
    }
    pdf_text = subprocess.run(
        ["pdftotext", str(done.run_dir / "report.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "NO-GO" in pdf_text and "CHG-2026-0142" in pdf_text
    # the declarative checks: a real changed answer, real noise cancelled
    results = json.loads((done.run_dir / "results.json").read_text())
    outputs = {o["id"]: o for o in results["candidates"][0]["outputs"]}
    invoice = outputs["http:invoice 1 for the accounting export"]
    assert invoice["changed"] and '+$.issued: "Thu, 08 Jan 2026 00:00:00 GMT"' in invoice["diff"]
    # checked_at and request_id vary on the baseline too; request_id is noise, but Flask 3 also
    # changed the *shape* of checked_at (ISO 8601 → RFC 1123), which noise must not hide
    status = outputs["http:status page"]
    assert status["changed"] and '+$.checked_at: "' in status["diff"] and "GMT" in status["diff"]
    assert "request_id" not in status["diff"].replace("$.request_id: <noise>", "")
    assert any(n.startswith("$.request_id") for n in status["noise"])
    assert not outputs["sql:open invoices right now"]["changed"]
    dump = outputs["command:schema dump used for the nightly backup"]
    assert dump["changed"] and "+stdout | SET transaction_timeout = 0;" in dump["diff"]
    assert dump["triage"] == "harmless" and dump["why"].startswith("members were only added")
    assert "Dumped from" not in dump["diff"]  # the scenario's ignore rule


def findings(done: Finished) -> tuple[dict[str, Any], dict[str, str], dict[str, dict[str, Any]]]:
    """A pilot that ends with findings (exit 1): its results, the regressions of its one
    candidate (id → message) and its changed answers (id → comparison)."""
    assert done.code == 1, done.stdout + done.stderr
    results = json.loads((done.run_dir / "results.json").read_text())
    (cand,) = results["candidates"]
    regressions = {c["id"]: c["message"] for c in cand["comparisons"] if c["status"] == "regression"}
    return results, regressions, {o["id"]: o for o in cand["outputs"] if o["changed"]}


def test_demo_discover_finds_with_the_labs_own_probes_alone_what_the_hand_written_checks_find(pilot):
    """demo-discover has no hand-written check: only `discover: true`."""
    done = pilot("demo-discover")
    results, regressions, changed = findings(done)
    (cand,) = results["candidates"]
    # PostgreSQL 17 moved the checkpoint counters, and the firm's nightly job reads them
    columns = changed["discover:db postgresql system view columns"]
    assert columns["triage"] == "breaking"
    assert "pg_stat_bgwriter.checkpoints_timed (/srv/invoices/nightly_checks.py:" in columns["why"]
    assert '- pg_stat_bgwriter.checkpoints_timed: "bigint"' in columns["diff"]
    # Flask 3 ignores app.json_encoder: the export route's dates change format
    export = changed["discover:app GET /api/invoices"]
    assert export["triage"] == "breaking" and '+$[0].issued: "Thu, 08 Jan 2026 00:00:00 GMT"' in export["diff"]
    # the status page's timestamps and request ids are noise; the shape of checked_at is not
    status = changed["discover:app GET /api/status"]
    assert "GMT" in status["diff"] and "request_id" not in status["diff"].replace("$.request_id: <noise>", "")
    # what the candidate lacks and nobody names is for a person, not a false alarm
    assert changed["discover:db postgresql extensions available"]["triage"] == "unknown"
    assert changed["discover:app python distributions"]["triage"] == "unknown"
    assert set(changed) == {
        "discover:db postgresql system view columns",
        "discover:db postgresql extensions available",
        "discover:app python distributions",
        "discover:app GET /api/invoices",
        "discover:app GET /api/invoices/1",
        "discover:app GET /api/status",
    }
    assert regressions == {} and [c["id"] for c in cand["comparisons"] if c["status"] != "passed"] == []
    baseline = next(c for c in results["copies"] if c["variant"] == "baseline")
    assert baseline["discovered"]["app"] == [
        "Python 3.11.2: 2 module(s) imported, 0 module(s) that code imports when it runs looked up, 5 route(s),"
        " 5 requested (GET, on port 8000)"
    ]
    assert baseline["discovered"]["db"][0].startswith("PostgreSQL: 2 database(s)")
    report = (done.run_dir / "report.md").read_text()
    section = report[report.index("## Discovered: what the stack itself says") : report.index("## Lab time")]
    assert "`discover:app GET /api/invoices` — **breaking**" in section


def test_webshop_discover_finds_with_its_configuration_carried_over_what_the_hand_written_checks_find(pilot):
    """webshop-discover has no hand-written check: `discover: true` and the shop's
    production configuration files (nginx's site, Redis's settings, the munin plugin)."""
    done = pilot("webshop-discover")
    results, regressions, changed = findings(done)
    # the image upload imports imghdr only when it runs, and Python 3.13 removed it
    imghdr = "No module named 'imghdr' (imported at shop.py:110, when that code runs)"
    assert regressions == {"discover:app import imghdr when it runs": imghdr}
    # the hosting provider's munin plugin reads counters that PostgreSQL 17 moved
    columns = changed["discover:db postgresql system view columns"]
    assert columns["triage"] == "breaking"
    assert "pg_stat_bgwriter.checkpoints_timed (/etc/munin/plugins/postgres_checkpoints:" in columns["why"]
    # the accounting export's dates, through a route with a number
    assert changed["discover:app GET /api/orders/1"]["triage"] == "breaking"
    # Redis 8 and nginx 1.26 only add: harmless; nginx still takes the shop's site
    assert changed["discover:cache redis commands"]["triage"] == "harmless"
    assert changed["discover:proxy nginx modules"]["triage"] == "harmless"
    baseline = next(c for c in results["copies"] if c["variant"] == "baseline")
    nginx_t = next(o for o in baseline["observations"][0] if o["id"] == "discover:proxy nginx -t")
    assert nginx_t["outcome"] == "passed" and "test is successful" in nginx_t["output"]["stdout"]
    assert baseline["configs"] == {
        "db": ["/etc/munin/plugins/postgres_checkpoints"],
        "cache": ["/etc/redis/shop.conf"],
        "proxy": ["/etc/nginx/conf.d/shop.conf"],
    }
    settings = next(o for o in baseline["observations"][0] if o["id"].startswith("discover:cache redis settings"))
    assert settings["output"]["value"]["maxmemory-policy"] == "allkeys-lru"
    # nothing else: every other discovered answer is the same, or only grew
    assert set(changed) == {
        "discover:db postgresql system view columns",
        "discover:db postgresql extensions available",
        "discover:app python distributions",
        "discover:app GET /api/orders/1",
        "discover:cache redis commands",
        "discover:proxy nginx modules",
    }


def test_a_setting_the_candidate_removed_is_a_regression_in_the_servers_own_words(pilot):
    """The client's PostgreSQL tuning, carried over into Debian's own cluster layout (a path
    with `*` for the version), has a setting that PostgreSQL 17 no longer knows: the server
    refuses to start with it, which is the finding, and runs without it for the rest."""
    results, regressions, changed = findings(pilot(scenario_path("config-refused")))
    said = regressions["config:db tuning.conf"]
    assert said.startswith('refused: LOG:  unrecognized configuration parameter "old_snapshot_threshold" in file')
    assert '"/etc/postgresql/17/main/conf.d/tuning.conf" line 4' in said and "2026-" not in said
    copies = {c["variant"]: c for c in results["copies"]}
    assert copies["baseline"]["configs"] == {"db": ["/etc/postgresql/15/main/conf.d/tuning.conf"]}
    assert copies["baseline"]["refused"] == {}
    candidate = copies["debian13"]
    assert candidate["ready"] and candidate["configs"] == {"db": []}
    assert list(candidate["refused"]["db"]) == ["tuning.conf"]
    # the baseline took it (psql as Debian's postgres user, peer authentication); the
    # candidate, running without it, lacks what it set
    baseline = {o["id"]: o for o in copies["baseline"]["observations"][0]}
    assert baseline["discover:db postgresql settings"]["output"]["value"]["work_mem"] == "8192"
    assert (
        "work_mem (/etc/postgresql/15/main/conf.d/tuning.conf:3)" in changed["discover:db postgresql settings"]["why"]
    )
    assert results["verdict"] == "FAIL"


def test_mariadb_discovery_names_the_new_default_collation(pilot):
    """MariaDB 11.8's default collation changed: discovery says so for the server, the
    restored database and the tables, with nothing written by hand for it."""
    config = "services.db.config=[{file: shop.cnf, path: /etc/mysql/mariadb.conf.d/90-shop.cnf}]"
    done = pilot(scenario_path("sql-dialects"), "--set", "discover=true", "--set", config)
    results, _, changed = findings(done)
    # the shop's option file: 11.8 removed innodb_defragment, takes the file and says so
    options = changed["discover:db mariadb option files"]
    assert options["triage"] == "harmless" and "'innodb-defragment' was removed" in options["diff"]
    (cand,) = results["candidates"]
    assert {c["id"]: c["status"] for c in cand["comparisons"]}["config:db shop.cnf"] == "passed"
    settings = changed["discover:db mariadb settings"]
    assert '~ collation_server: "utf8mb4_general_ci" → "utf8mb4_uca1400_ai_ci"' in settings["diff"]
    assert settings["triage"] == "unknown"
    assert (
        '~ shop: "utf8mb4 utf8mb4_general_ci" → "utf8mb4 utf8mb4_uca1400_ai_ci"'
        in (changed["discover:db mariadb databases"]["diff"])
    )
    assert changed["discover:db mariadb collations"]["triage"] == "harmless"  # only added
    baseline = next(c for c in results["copies"] if c["variant"] == "baseline")
    assert baseline["discovered"]["db"][0].startswith("MariaDB: 1 database(s)")


def test_php_discovery_lints_the_application_and_tests_php_fpm(pilot):
    """PHP 8.4 deprecates a parameter that defaults to null without being nullable: a
    deprecation is a changed answer, triaged harmless; nothing failed."""
    results, regressions, changed = findings(pilot(scenario_path("php-app")))
    assert regressions == {}
    cart = changed["discover:app php -l lib/cart.php"]
    assert cart["triage"] == "harmless" and "Implicitly marking parameter $discount as nullable" in cart["diff"]
    assert set(changed) == {"discover:app php -l lib/cart.php"}
    baseline = next(c for c in results["copies"] if c["variant"] == "baseline")
    observed = {o["id"]: o for o in baseline["observations"][0]}
    assert observed["discover:app php-fpm -t"]["outcome"] == "passed"
    assert observed["discover:app apachectl -t"]["output"]["stdout"].endswith("Syntax OK")
    assert "json" in observed["discover:app php modules"]["output"]["value"]
    apache, php = baseline["discovered"]["app"]  # what applied, said once each
    assert apache.startswith("apache: its configuration tested (apachectl -t)")
    assert php.startswith("PHP 8.2.") and php.endswith(
        "2 file(s) linted, PHP-FPM's configuration tested, 1 requested (GET, on port 8000)"
    )
    assert observed["discover:app GET /"]["output"]["body"] == {"json": {"total": 25}}


def test_a_wordpress_sites_rest_routes_are_discovered_and_requested(pilot):
    """WordPress 6.1 (Debian 12) against 6.8 (Debian 13): the REST index's routes are an
    inventory, each GET route without parameters is requested; the site's own route answers
    the same, and MariaDB 11.8's new default collation is named for the site's database."""
    results, regressions, changed = findings(pilot(scenario_path("wordpress")))
    assert regressions == {}
    said = {
        c["variant"]: next(line for line in c["discovered"]["app"] if line.startswith("PHP "))
        for c in results["copies"]
    }
    assert re.search(r"; WordPress 6\.1\.\d+: \d+ REST routes, \d+ requested without parameters", said["baseline"])
    assert re.search(r"; WordPress 6\.8\.\d+: \d+ REST routes, \d+ requested without parameters", said["trixie"])
    for copy in results["copies"]:
        observed = {o["id"]: o for o in copy["observations"][0]}
        routes = observed["discover:app wordpress rest routes"]["output"]["value"]
        assert routes["/shop/v1/notes"] == "GET" and routes["/wp/v2/posts"] == "GET, POST"
        notes = observed["discover:app GET /?rest_route=/shop/v1/notes"]
        assert notes["outcome"] == "passed"
        assert notes["output"]["body"] == {"json": {"notes": ["Linen &amp; Oak journal"]}}
    assert "discover:app GET /?rest_route=/shop/v1/notes" not in changed  # the site's own route
    assert changed["discover:app wordpress rest routes"]["triage"] == "unknown"  # routes with parameters went
    assert "utf8mb4_uca1400_ai_ci" in changed["discover:app mariadb databases"]["why"]
    assert any(i.startswith("discover:app GET /?rest_route=/wp/v2/") for i in changed)  # the core's answers grew


def test_an_https_check_with_a_virtual_host_and_a_self_signed_certificate(pilot):
    done = pilot(scenario_path("https"))
    assert done.code == 0, done.stdout + done.stderr
    results = json.loads((done.run_dir / "results.json").read_text())
    for copy in results["copies"]:
        answers = {o["id"]: o["output"] for o in copy["observations"][0]}
        one, two, clear = (
            answers[f"http:{name}"]
            for name in ("front page over https", "front page over HTTP/2", "HTTP/2 in clear text")
        )
        assert one["body"] == two["body"] == {"json": {"host": "shop.example.org"}}  # the Host it was given
        tls = {"version": "TLSv1.3", "certificate": "not trusted: self-signed certificate"}
        assert one["tls"] == two["tls"] == tls
        assert "protocol" not in one and two["protocol"] == clear["protocol"] == "HTTP/2"
        assert clear["body"] == {"json": {"host": "web", "h2c": True}}  # nginx names the host without its port


def test_engine_task_is_idempotent():
    done = invoke("engine")
    assert done.returncode == 0, done.stderr
    assert "engine: Docker" in done.stderr
    assert "base image debian:bookworm: present" in done.stderr
    assert "base image debian:trixie: present" in done.stderr


def test_changed_answers_noise_and_slowdowns(pilot):
    done = pilot(scenario_path("outputs"))
    assert done.code == 1, done.stderr
    assert done.stdout.startswith("REVIEW:")
    results = json.loads((done.run_dir / "results.json").read_text())
    assert results["verdict"] == "REVIEW"
    (cand,) = results["candidates"]
    outputs = {o["id"]: o for o in cand["outputs"]}
    assert {i for i, o in outputs.items() if o["changed"]} == {"sql:server major version", "command:debian release"}
    assert "-row | 15\n+row | 17" in outputs["sql:server major version"]["diff"]
    assert {i for i, o in outputs.items() if o["slower"]} == {"command:nightly job"}
    volatile = outputs["sql:volatile values"]
    assert sorted(volatile["noise"]) == [
        "column at (differs between two observations of the baseline)",
        "column id (differs between two observations of the baseline)",
    ]
    assert not outputs["command:clock"]["changed"] and outputs["command:clock"]["noise"]
    assert not outputs["command:vendor banner"]["changed"]
    by_id = {c["id"]: c for c in cand["comparisons"]}
    assert by_id["command:hangs"]["status"] == "error"
    assert by_id["command:hangs"]["message"] == "stopped at its deadline (1 s)"
    assert by_id["http:nothing listens"]["status"] == "failing"
    assert "http://shell:9/: ConnectionRefusedError" in by_id["http:nothing listens"]["message"]
    report = (done.run_dir / "report.md").read_text()
    assert "### Changed outputs" in report and "### Treated as noise" in report and "### Slowdowns" in report


def test_mariadb_and_sqlite_answers(pilot):
    done = pilot(scenario_path("sql-dialects"))
    assert done.code == 1, done.stderr
    results = json.loads((done.run_dir / "results.json").read_text())
    (cand,) = results["candidates"]
    assert cand["verdict"] == "REVIEW"
    status = {c["id"]: c["status"] for c in cand["comparisons"]}
    assert status == {
        "sql:items": "passed",
        "sql:arithmetic": "passed",
        "sql:server collation": "passed",
        "sql:broken query": "failing",
        # the replayed general log: two sessions, interleaved as logged
        "replay:sql UPDATE items SET price = ? WHERE id = ?": "passed",
        "replay:sql SELECT price FROM items WHERE id = ?": "passed",
        "replay:sql SELECT name, price FROM items WHERE name = ?": "passed",
        "replay:sql SELECT @@character_set_server, @@collation_server": "passed",
        "replay:sql SELECT nope FROM items": "failing",
    }
    for copy in results["copies"]:
        replayed = {o["id"]: o for o in copy["observations"][0] if o["kind"] == "replay"}
        # session 6 reads before session 5 commits its update, and after
        assert replayed["replay:sql SELECT price FROM items WHERE id = ?"]["output"]["rows"] == [["3.50"]]
        assert replayed["replay:sql SELECT name, price FROM items WHERE name = ?"]["output"]["rows"] == [
            ["tea", "4.00"]
        ]
        assert len(replayed["replay:sql SELECT price FROM items WHERE id = ?"]["seconds"]) == 2  # logged twice
        assert replayed["replay:sql SELECT nope FROM items"]["message"].startswith("ERROR 1054 (42S22): Unknown column")
    replayed_collation = next(o for o in cand["outputs"] if o["id"].startswith("replay:sql SELECT @@character"))
    assert "utf8mb4_uca1400_ai_ci" in replayed_collation["diff"]
    broken = next(c for c in cand["comparisons"] if c["id"] == "sql:broken query")
    assert broken["message"] == "ERROR 1054 (42S22) at line 1: Unknown column 'nope' in 'SELECT'"
    outputs = {o["id"]: o for o in cand["outputs"]}
    # MariaDB 11.8 changed the server's default collation
    assert (
        "-row | utf8mb4 | utf8mb4_general_ci\n+row | utf8mb4 | utf8mb4_uca1400_ai_ci"
        in outputs["sql:server collation"]["diff"]
    )
    assert not outputs["sql:items"]["changed"] and not outputs["sql:arithmetic"]["changed"]
    copies = {c["variant"]: c for c in results["copies"]}
    for copy in copies.values():  # a gzipped MariaDB dump and an SQLite dump, restored and verified
        assert [(r["format"], r["ok"]) for r in copy["restores"]] == [("mysql", True), ("sqlite", True)]
        assert {c["id"]: c["outcome"] for c in copy["checks"] if c["id"].startswith("verify:")} == {
            "verify:mysql items": "passed",
            "verify:sqlite notes": "passed",
        }
    items = next(o for o in copies["baseline"]["observations"][0] if o["id"] == "sql:items")
    assert items["output"]["rows"] == [["1", "tea, green", "1.5"], ["2", None, "2.0"]]


def test_approve_and_verify_through_the_command_line(pilot):
    done = pilot(scenario_path("regression"))
    run = str(done.run_dir)
    approved = invoke("approve", run, "--by", "Dr. Meyer", "--decision", "defer", "--note", "fix the export first")
    assert approved.returncode == 0, approved.stderr
    assert "recorded: defer by Dr. Meyer" in approved.stderr
    verified = invoke("verify", run)
    assert verified.returncode == 0 and "verified:" in verified.stderr, verified.stderr
    html = done.run_dir / "report.html"
    html.write_bytes(html.read_bytes().replace(b"NO-GO", b"GO!!!", 1))
    tampered = invoke("verify", run)
    assert tampered.returncode == 1
    assert "report.html: changed since approval 1 (defer by Dr. Meyer" in tampered.stderr
    for args, message in (
        (("approve", "no-such-run", "--by", "x", "--decision", "defer"), "no run 'no-such-run'"),
        (("approve", run, "--by", "x", "--decision", "maybe"), "unknown decision 'maybe'"),
    ):
        refused = invoke(*args)
        assert refused.returncode == 2 and message in refused.stderr and "Traceback" not in refused.stderr
    refused = invoke("report", run)  # an approved run's reports stay as approved
    assert refused.returncode == 2 and "is approved" in refused.stderr


def test_backup_restores_and_verifies_and_stays_untouched(pilot):
    before = {p.name: sha256(p) for p in (ROOT / "tests/scenarios/restore/backup").iterdir()}
    done = pilot(scenario_path("restore"))
    assert done.code == 0, done.stdout + done.stderr
    results = json.loads((done.run_dir / "results.json").read_text())
    for copy in results["copies"]:
        assert [(r["file"], r["ok"]) for r in copy["restores"]] == [
            ("backup/uploads.tar.gz", True),
            ("backup/orders.sql.gz", True),
            ("backup/catalog.dump", True),
        ]
        verified = {c["id"]: c["outcome"] for c in copy["checks"] if c["id"].startswith("verify:")}
        assert verified == {
            "verify:orders total": "passed",
            "verify:catalog complete": "passed",
            "verify:uploads intact": "passed",
        }
    recorded = {Path(b["file"]).name: (b["sha256_before"], b["sha256_after"]) for b in results["backups"]}
    assert recorded == {name: (digest, digest) for name, digest in before.items() if not name.endswith(".sha256")}
    assert {p.name: sha256(p) for p in (ROOT / "tests/scenarios/restore/backup").iterdir()} == before
    assert "restore" in results["stages"]
    assert "## The client's backup" in (done.run_dir / "report.md").read_text()


def test_truncated_backup_is_a_finding_not_a_crash(pilot, tmp_path):
    folder = tmp_path / "restore"
    shutil.copytree(ROOT / "tests/scenarios/restore", folder)
    # the build context is relative to the scenario folder: point it back at the demo's
    text = (folder / "scenario.yml").read_text().replace("../../../scenarios/demo/db", str(ROOT / "scenarios/demo/db"))
    (folder / "scenario.yml").write_text(text)
    dump = folder / "backup/orders.sql.gz"
    dump.write_bytes(dump.read_bytes()[:150])
    cut = sha256(dump)
    done = pilot(str(folder))
    assert done.code == 1, done.stdout + done.stderr
    results = json.loads((done.run_dir / "results.json").read_text())
    assert results["verdict"] == "FAIL"
    assert "the client's backup is unusable: it does not restore on the baseline" in results["reason"]
    assert "fix the backup before judging the upgrade" in results["reason"]
    for copy in results["copies"]:  # no check ran on half of the client's data
        assert copy["not_checked"].startswith("the backup did not restore: restore:db:backup/orders.sql.gz")
        assert copy["observations"] == []
    assert results["candidates"][0]["comparisons"] == []
    restores = {r["file"]: r for r in results["copies"][0]["restores"]}
    assert not restores["backup/orders.sql.gz"]["ok"]
    assert "the dump is damaged: gunzip failed" in restores["backup/orders.sql.gz"]["output"]
    assert "unexpected end of file" in restores["backup/orders.sql.gz"]["output"]
    assert sha256(dump) == cut  # the client's file, even a broken one, is never touched
    report = (done.run_dir / "report.md").read_text()
    assert "**FAILED**: the restore failed" in report and "gunzip" in report
    assert "The client's backup does not restore, on today's versions either" in report
    assert "The upgrade breaks things" not in report


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rehearsed_upgrade_gives_a_downtime_estimate(pilot):
    backup = ROOT / "tests/scenarios/restore/backup/orders.sql.gz"
    before = sha256(backup)
    done = pilot(scenario_path("upgrade"))
    assert done.code == 0, done.stdout + done.stderr
    results = json.loads((done.run_dir / "results.json").read_text())
    cand = next(c for c in results["copies"] if c["variant"] == "pg17")
    assert cand["restores"] == []  # its data came through the upgrade, not a fresh restore
    assert [(s["name"], s["ok"]) for s in cand["upgrade"]] == [
        ("dump production into the new server", True),
        ("refresh planner statistics", True),
    ]
    assert cand["upgrade"][0]["bytes_moved"] > 1000
    assert cand["seconds"]["downtime"] == pytest.approx(sum(s["seconds"] for s in cand["upgrade"]), abs=0.01)
    assert cand["seconds"]["downtime"] > 0
    outcomes = {c["id"]: c["outcome"] for c in cand["checks"]}
    assert outcomes["verify:orders total"] == "passed"  # the migrated data is complete
    assert outcomes["rollback:baseline verify:orders total"] == "passed"  # and so is the way back
    # a PostgreSQL 17 dump loaded into 15 warns about a setting 15 does not know
    assert 'unrecognized configuration parameter "transaction_timeout"' in cand["rollback"][0]["output"]
    assert "downtime estimate:" in done.stdout
    assert "Downtime estimate: **" in (done.run_dir / "report.md").read_text()
    assert sha256(backup) == before


def test_failing_upgrade_step_is_a_finding(pilot, tmp_path):
    folder = tmp_path / "upgrade"
    shutil.copytree(ROOT / "tests/scenarios/upgrade", folder)
    text = (folder / "scenario.yml").read_text()
    text = text.replace("../../../scenarios/demo/db", str(ROOT / "scenarios/demo/db"))
    text = text.replace("../restore/backup/orders.sql.gz", str(ROOT / "tests/scenarios/restore/backup/orders.sql.gz"))
    text = text.replace(
        "--dbname=shop\n    - name: refresh", "--dbname=shop --use-list=/nonexistent\n    - name: refresh"
    )
    (folder / "scenario.yml").write_text(text)
    done = pilot(str(folder))
    assert done.code == 1, done.stdout + done.stderr
    results = json.loads((done.run_dir / "results.json").read_text())
    assert results["verdict"] == "FAIL"
    assert "the upgrade rehearsal failed" in results["reason"]
    cand = next(c for c in results["copies"] if c["variant"] == "pg17")
    first, second = cand["upgrade"]
    assert not first["ok"] and "failed with exit code 1 (the receiving side)" in first["message"]
    assert "/nonexistent" in first["output"]
    assert second["skipped"]
    assert (
        second["message"]
        == "not run: the earlier step 'dump production into the new server' on the same service failed"
    )


def test_webshop_reports_the_real_incompatibilities(pilot):
    done = pilot("webshop")
    assert done.code == 1, done.stdout + done.stderr
    results = json.loads((done.run_dir / "results.json").read_text())
    assert results["verdict"] == "FAIL"
    (cand,) = results["candidates"]
    regressions = {c["id"] for c in cand["comparisons"] if c["status"] == "regression"}
    assert regressions == {
        "checks/test_database.py::test_monitoring_reads_checkpoint_statistics[db-checkpoints_timed]",
        "checks/test_database.py::test_monitoring_reads_checkpoint_statistics[db-checkpoints_req]",
        "checks/test_database.py::test_monitoring_reads_checkpoint_statistics[db-buffers_backend]",
        "checks/test_shop.py::test_order_api_for_the_accounting_export[app]",
        "checks/test_shop.py::test_product_image_upload[app]",
    }
    outputs = {o["id"]: o for o in cand["outputs"]}
    assert '+$.placed: "Mon, 22 Jan 2024 00:00:00 GMT"' in outputs["http:order 42 for the accounting export"]["diff"]
    assert "subexpiry" in outputs["command:redis keyspace"]["diff"]
    assert not outputs["http:stylesheet"]["changed"]  # Expires varies with the clock: noise
    copies = {c["variant"]: c for c in results["copies"]}
    assert all(c["outcome"] == "passed" for c in copies["baseline"]["checks"] if c["id"].startswith("verify:"))
    assert copies["debian13"]["seconds"]["downtime"] > 0
    assert 'unrecognized configuration parameter "transaction_timeout"' in copies["debian13"]["rollback"][0]["output"]
    assert "imghdr" in (done.run_dir / "logs/debian13/app.log").read_text()


def test_webshop_replay_finds_with_recorded_traffic_alone_what_the_hand_written_checks_find(pilot):
    """webshop-replay has no hand-written check: only the shop's recorded traffic."""
    done = pilot("webshop-replay")
    results, regressions, changed = findings(done)
    # 1. monitoring: PostgreSQL 17 moved the checkpoint counters (the munin plugin's query)
    assert (
        regressions["replay:sql SELECT … FROM pg_stat_bgwriter"] == 'ERROR: column "checkpoints_timed" does not exist'
    )
    # 2. the accounting export: Flask 3 ignores app.json_encoder, dates change format
    export = changed["replay:http GET shop.example.org/api/orders/{n}"]
    assert export["triage"] == "breaking" and '+$.placed: "Mon, 22 Jan 2024 00:00:00 GMT"' in export["diff"]
    assert changed["replay:http GET /api/orders/{n}"]["triage"] == "breaking"  # the access log's requests too
    # 4. product image uploads: Python 3.13 removed imghdr
    assert regressions["replay:http POST shop.example.org/admin/products/{n}/image"] == "HTTP 500"
    assert "imghdr" in (done.run_dir / "logs/debian13/app.log").read_text()
    # 5. Redis 8 adds a field to INFO keyspace: harmless
    assert changed["replay:redis INFO keyspace"]["triage"] == "harmless"
    assert "subexpiry" in changed["replay:redis INFO keyspace"]["diff"]
    # and no false alarm: nothing else regressed or changed
    assert set(regressions) == {
        "replay:sql SELECT … FROM pg_stat_bgwriter",
        "replay:http POST shop.example.org/admin/products/{n}/image",
    }
    assert set(changed) == {
        "replay:sql SELECT … FROM pg_stat_bgwriter",
        "replay:http POST shop.example.org/admin/products/{n}/image",
        "replay:http GET shop.example.org/api/orders/{n}",
        "replay:http GET /api/orders/{n}",
        "replay:redis INFO keyspace",
    }
    # every log only read, each entry with the line it came from, the owner's cookie nowhere
    logs = {t["file"].rsplit("/", 1)[1]: t for t in results["traffic"]}
    assert set(logs) == {"access.log", "owner-session.har", "postgresql.log", "redis-monitor.txt"}
    assert all(t["sha256_after"] == t["sha256_before"] for t in logs.values())
    assert logs["access.log"]["skipped"] == {"POST: an access log has no request bodies (a HAR file has)": 3}
    baseline = next(c for c in results["copies"] if c["variant"] == "baseline")
    upload = next(o for o in baseline["observations"][0] if o["id"].endswith("/image"))
    assert upload["source"] == "../webshop/traffic/owner-session.har:7"
    har = json.loads((ROOT / "scenarios/webshop/traffic/owner-session.har").read_text())
    sid = har["log"]["entries"][0]["request"]["cookies"][0]["value"]
    assert not [p.name for p in done.run_dir.rglob("*") if p.is_file() and sid.encode() in p.read_bytes()]
    report = (done.run_dir / "report.md").read_text()
    assert "## The client's recorded traffic" in report
    assert "Replayed from `../webshop/traffic/postgresql.log:" in report


def test_session_backend_gives_the_same_results_as_testinfras_docker_backend(pilot):
    outcomes = {}
    for backend in ("docker", "session"):
        done = pilot(scenario_path("regression"), env={"LAB_TESTINFRA_BACKEND": backend})
        assert done.code == 1, done.stderr
        results = json.loads((done.run_dir / "results.json").read_text())
        outcomes[backend] = {
            (copy["variant"], check["id"]): (check["outcome"], check["message"])
            for copy in results["copies"]
            for check in copy["checks"]
        }
    assert outcomes["session"] == outcomes["docker"]
    assert len(outcomes["session"]) == 6


def test_copies_have_no_route_out_and_cannot_reach_each_other(tmp_path, client):
    """Only addresses on this machine: a TCP server on the host, and the other copy. Every copy,
    of this pilot or of another, has a network of its own: the other copy stands for both."""
    server = socketserver.TCPServer(("0.0.0.0", 0), socketserver.BaseRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ipam = client.networks.get("bridge").attrs["IPAM"]["Config"][0]  # the host's side of docker0
    host_ip = ipam.get("Gateway") or str(next(ipaddress.ip_network(ipam["Subnet"]).hosts()))
    probe = f"timeout 3 bash -c 'echo > /dev/tcp/{host_ip}/{server.server_address[1]}'"
    try:
        # the control: from an ordinary container the host's server answers
        assert (
            client.containers.run(
                "debian:bookworm", ["sh", "-c", probe], network="bridge", remove=True, labels={RUN: "isolation-control"}
            )
            == b""
        )
        with started_pilot(tmp_path, "slow-start") as (proc, run_id):

            def both_running():
                running = client.containers.list(filters={"label": f"{RUN}={run_id}", "status": "running"})
                copies = {c.labels["io.upgrade-pilot-lab.variant"]: c for c in running}
                return copies if len(copies) == 2 else None

            copies = until(both_running, "both copies are running", timeout=30)
            baseline, candidate = copies["baseline"], copies["next"]
            out = baseline.exec_run(["sh", "-c", probe])
            assert out.exit_code != 0, out.output  # no route out of the lab
            other = next(iter(candidate.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
            out = baseline.exec_run(["sh", "-c", f"timeout 3 bash -c 'echo > /dev/tcp/{other}/5432'"])
            assert out.exit_code != 0 and b"Connection refused" not in out.output  # no route to the other copy
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        assert leftovers(client, run_id) == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_planted_secret_is_in_no_artefact(pilot):
    planted = "tok_" + os.urandom(12).hex()
    done = pilot(scenario_path("secrets"), env={"LAB_TEST_API_TOKEN": planted})
    assert done.code == 0, done.stderr  # test_token_is_the_old_one fails on both copies: not the upgrade's doing
    assert planted not in done.stdout + done.stderr
    texts = {}
    for path in done.run_dir.rglob("*"):
        if path.is_file():
            if path.suffix == ".pdf":
                texts[path.name] = subprocess.run(
                    ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
                ).stdout
            else:
                texts[str(path.relative_to(done.run_dir))] = path.read_text(errors="replace")
    assert [name for name, text in texts.items() if planted in text] == []
    assert "payment provider login with [secret:api_token]" in texts["logs/baseline/app.log"]
    assert "[secret:api_token]" in texts["results.json"] and "[secret:api_token]" in texts["report.md"]
    # ${secret:NAME} in a check's command: the real value sent, its answer redacted
    results = json.loads(texts["results.json"])
    given = next(o for o in results["copies"][0]["observations"][0] if o["id"] == "command:token given to a command")
    assert given["output"]["stdout"] == "login:[secret:api_token]\n"


def test_concurrent_pilots_keep_to_themselves(tmp_path, client):
    runs = [("regression", 1), ("regression", 1), ("passing", 0), ("outputs", 1), ("restore", 0)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "invoke", "pilot", scenario_path(name), "--out", str(tmp_path / f"out{n}")],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n, (name, _) in enumerate(runs)
    ]
    codes = [proc.wait(timeout=600) for proc in procs]
    assert codes == [expected for _, expected in runs]
    run_ids = set()
    for n, (name, _) in enumerate(runs):
        (folder,) = (tmp_path / f"out{n}" / name).iterdir()
        results = json.loads((folder / "results.json").read_text())
        assert results["scenario"] == name and results["run_id"] == folder.name
        run_ids.add(folder.name)
        assert leftovers(client, folder.name) == []
    assert len(run_ids) == len(runs)


def test_a_build_past_its_deadline_is_stopped(pilot, client):
    start = time.monotonic()
    done = pilot(scenario_path("slow-build"))
    assert done.code == 2, done.stderr
    assert time.monotonic() - start < 30
    assert "the build did not finish within 5 s: timeouts.build" in done.stderr
    assert "a long vendor installer..." in done.stderr  # the step it was in
    until(lambda: not building(client), "the engine stopped the abandoned build", timeout=90)


def test_every_changed_answer_is_triaged_with_its_rule(pilot):
    """One check per kind of change an upgrade makes to an answer (tests/scenarios/triage)."""
    done = pilot(scenario_path("triage"))
    assert done.code == 1, done.stdout + done.stderr
    results = json.loads((done.run_dir / "results.json").read_text())
    (cand,) = results["candidates"]
    assert cand["verdict"] == "FAIL"
    outputs = {o["id"]: o for o in cand["outputs"]}
    status = {c["id"]: c for c in cand["comparisons"]}

    def triaged(check_id: str) -> tuple[str, str]:
        assert outputs[check_id]["changed"], check_id
        return outputs[check_id]["triage"], outputs[check_id]["why"]

    # an answer that turns into an error with exit 0 is a regression, whatever the exit code said
    assert triaged("command:an answer that turns into an error") == (
        "breaking",
        "an error appeared: 'stdout | ERR syntax error'",
    )
    assert status["command:an answer that turns into an error"]["status"] == "regression"
    assert triaged("http:version banner") == ("harmless", "only version-like tokens changed: 5.2.1 → 5.3.0")
    assert triaged("http:item with a new key") == ("harmless", "members were only added: '$.tags: []'")
    assert triaged("command:a member removed from a list") == ("breaking", "members disappeared: 'stdout | monitor'")
    assert not outputs["http:the same JSON in another order"]["changed"]
    assert triaged("http:a number turned into a string") == (
        "breaking",
        "a JSON value changed type: $.total number → string",
    )
    signup = status["http:signup refused differently"]
    assert signup["status"] == "changed-failure"
    assert (signup["baseline_message"], signup["message"]) == (
        "HTTP 400 (expected a status below 400)",
        "HTTP 415 (expected a status below 400)",
    )
    assert triaged("command:a deprecation warning added")[0] == "harmless"
    assert triaged("http:a plain value change") == ("unknown", "a value changed: '$.customers: 12' → '$.customers: 13'")
    assert (
        not outputs["http:an identical answer"]["changed"] and status["http:an identical answer"]["status"] == "passed"
    )
    clock = outputs["command:a clock beside a real change"]
    assert clock["unstable"] and clock["unstable"][0].startswith("line 'stdout | ")  # the clock: not comparable
    assert triaged("command:a clock beside a real change") == (
        "unknown",
        "a value changed: 'stdout | mode old' → 'stdout | mode new'",
    )
    views = outputs["http:page views"]  # writes: compared without noise from its own copy
    assert not views["changed"] and not views["unstable"] and views["noise"] == []
    report = (done.run_dir / "report.md").read_text()
    changed = report[report.index("### Changed outputs") :]
    assert changed.index("— breaking") < changed.index("— unknown") < changed.index("triaged harmless")
    assert "a JSON value changed type: $.total number → string" in report
    assert "### Failures that changed" in report and "> baseline: HTTP 400" in report
    assert "### Unstable answers — cannot be compared" in report
