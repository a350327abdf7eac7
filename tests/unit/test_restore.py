"""lab/pipeline/restore.py, verify.py and rehearse.py without an engine: formats recognised by content,
the commands that load them, the tar stream, verification answers, step bookkeeping."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from lab.cancel import Token
from lab.engine.types import ExecResult
from lab.pipeline import rehearse, restore, verify
from lab.results import Kind, Outcome, StepRecord
from lab.scenario.model import Backup, Step, Verify


def artefact(tmp_path: Path, data: bytes, fmt: str = "postgresql", **spec) -> restore.Artefact:
    path = tmp_path / "dump"
    path.write_bytes(data)
    return restore.Artefact("db", Backup(file="dump", format=fmt, **spec), path)


def test_dumps_are_recognised_by_content(tmp_path):
    assert restore.content(artefact(tmp_path, gzip.compress(b"SELECT 1;")).path) == "gzip"
    assert restore.content(artefact(tmp_path, b"PGDMP\x01\x0e").path) == "pgdump"
    assert restore.content(artefact(tmp_path, b"-- plain SQL\n").path) == "plain"


def test_load_commands(tmp_path):
    plain = restore.load_command(artefact(tmp_path, b"SELECT 1;", database="shop", user="postgres"))
    assert plain[:2] == ["sh", "-c"] and "createdb --username=postgres shop" in plain[2]
    assert "exec psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1" in plain[2] and "--dbname=shop" in plain[2]
    custom = restore.load_command(artefact(tmp_path, b"PGDMP....", database="shop"))
    assert "exec pg_restore --no-owner --exit-on-error --dbname=shop" in custom[2]
    zipped = restore.load_command(artefact(tmp_path, gzip.compress(b"x"), fmt="mysql", database="shop"))
    assert "gunzip -c; echo $? >&3" in zipped[2] and "the dump is damaged" in zipped[2]
    assert "CREATE DATABASE IF NOT EXISTS `shop`" in zipped[2]
    lite = restore.load_command(artefact(tmp_path, b"CREATE TABLE t(x);", fmt="sqlite", database="/srv/shop.db"))
    assert lite == ["sh", "-c", "exec sqlite3 -bail /srv/shop.db"]


def test_tar_stream_holds_the_file_as_it_is(tmp_path):
    item = artefact(tmp_path, b"REDIS0011" + bytes(range(256)) * 10, fmt="redis-rdb")
    with item.path.open("rb") as source:
        stream = b"".join(restore.tar_of(source, "dump.rdb", item.path))
    with tarfile.open(fileobj=io.BytesIO(stream)) as tar:
        (member,) = tar.getmembers()
        assert member.name == "dump.rdb" and member.mode == 0o644
        assert tar.extractfile(member).read() == item.path.read_bytes()


class Answers:
    def __init__(self, *answers: ExecResult):
        self.answers = list(answers)
        self.asked: list[list[str]] = []

    def __call__(self, container, argv, env=None, user=None, timeout=30.0):
        self.asked.append(argv)
        return self.answers.pop(0)


def test_verify_known_answer_and_row_counts(tmp_path):
    run = Answers(ExecResult(0, "200|48931.00\n", "", 0.01), ExecResult(0, "orders|200\nitems|7\n", "", 0.01))
    checks = [
        Verify(name="total", service="db", database="shop", query="SELECT 1", expect="200|48931.00"),
        Verify(name="rows", service="db", database="shop", row_counts={"orders": 200, "items": 8}),
    ]
    total, rows = verify.verify(run, {"db": "c"}, checks, tmp_path)
    assert total.outcome == Outcome.PASSED
    assert rows.outcome == Outcome.FAILED
    assert rows.message == "expected 'orders|200\\nitems|8', the restored copy answers 'orders|200\\nitems|7'"
    assert "SELECT 'orders', count(*) FROM orders UNION ALL SELECT 'items', count(*) FROM items" in run.asked[1][-1]


def test_a_verification_query_that_errors_is_named(tmp_path):
    run = Answers(ExecResult(1, "", 'ERROR:  relation "orders" does not exist\n', 0.01))
    (result,) = verify.verify(
        run, {"db": "c"}, [Verify(name="n", service="db", query="SELECT count(*) FROM orders", expect="200")], tmp_path
    )
    assert result.outcome == Outcome.FAILED
    assert result.message == 'the verification query failed: ERROR:  relation "orders" does not exist'


def test_manifest_is_checked_with_sha256sum(tmp_path):
    (tmp_path / "m.sha256").write_text("abc  /srv/a\n")
    run = Answers(ExecResult(1, "/srv/a: FAILED\n", "sha256sum: WARNING: 1 computed checksum did NOT match\n", 0.01))
    (result,) = verify.verify(run, {"files": "c"}, [Verify(name="m", service="files", manifest="m.sha256")], tmp_path)
    assert result.outcome == Outcome.FAILED and result.message == "files differ from the manifest: /srv/a: FAILED"


def test_steps_after_a_failed_one_are_not_run(monkeypatch):
    calls = []

    def fake_step(engine, step, containers, token, users=None):
        calls.append(step.name)
        return StepRecord(name=step.name, side=step.side, service=step.service, ok=step.name != "b", message="x")

    monkeypatch.setattr(rehearse, "run_step", fake_step)
    steps = [Step(name=n, service="db", run="true") for n in ("a", "b", "c")]
    records = rehearse.run_steps({}, steps, {}, Token())
    assert calls == ["a", "b"]
    assert [(r.name, r.ok, r.skipped) for r in records] == [("a", True, False), ("b", False, False), ("c", False, True)]
    checks = rehearse.as_checks(records, Kind.UPGRADE)
    assert [c.outcome for c in checks] == [Outcome.PASSED, Outcome.FAILED, Outcome.NOT_RUN]


def test_a_failed_step_stops_only_the_chain_of_its_services(monkeypatch):
    def fake_step(engine, step, containers, token, users=None):
        return StepRecord(name=step.name, side=step.side, service=step.service, ok=step.name != "db back")

    monkeypatch.setattr(rehearse, "run_step", fake_step)
    steps = [
        Step(name="db back", service="db", run="pg_dump", into={"side": "baseline", "service": "db", "run": "psql"}),
        Step(name="cache back", service="cache", run="redis-cli save"),
        Step(name="db analyze", service="db", run="psql -c ANALYZE", side="baseline"),
    ]
    records = rehearse.run_steps({}, steps, {}, Token())
    assert [(r.name, r.ok, r.skipped) for r in records] == [
        ("db back", False, False),
        ("cache back", True, False),  # the cache's chain goes on
        ("db analyze", False, True),
    ]
    assert records[2].message == "not run: the earlier step 'db back' on the same service failed"


def test_a_step_keeps_both_of_its_output_streams():
    assert rehearse._both("CREATE TABLE\n", 'WARNING: unrecognized configuration parameter "x"\n') == (
        'CREATE TABLE\nWARNING: unrecognized configuration parameter "x"'
    )


@pytest.mark.parametrize(
    "yaml,message",
    [
        ("backup:\n  db:\n    - {file: nope.sql, format: postgresql, database: x}\n", "backup file not found"),
        ("backup:\n  db:\n    - {file: t.py, format: postgresql}\n", "a postgresql dump needs 'database'"),
        ("backup:\n  dbb:\n    - {file: t.py, format: files}\n", "backup.dbb: unknown service 'dbb'"),
        ("backup:\n  db:\n    - {file: t.py, format: oracle}\n", "backup.db.0.format: Input should be"),
        ("verify:\n  - {name: v, service: db, query: SELECT 1}\n", "a query needs 'expect'"),
        ("verify:\n  - {name: v, service: db, query: SELECT 1, expect: '1', row_counts: {t: 1}}\n", "exactly one of"),
        (
            "upgrade:\n  steps:\n    - {name: s, service: db, run: x, into: {service: web, run: y}}\n",
            "upgrade.steps.0.into: unknown service 'web'",
        ),
        (
            "upgrade:\n  rollback:\n    - {name: s, service: db, run: x}\n",
            "upgrade.rollback: a rollback rehearses the way back from the upgrade steps, and there are none",
        ),
    ],
)
def test_backup_verify_and_upgrade_problems_are_named(write_scenario, yaml, message):
    from lab import scenario
    from lab.errors import ScenarioError

    text = (
        "description: x\nservices:\n  db: {image: debian:bookworm}\ncandidates:\n  next: {}\n"
        "checks:\n  testinfra: [t.py]\n" + yaml
    )
    folder = write_scenario(text, {"t.py": ""})
    with pytest.raises(ScenarioError) as info:
        scenario.load(str(folder))
    assert message in str(info.value), str(info.value)
