"""The pilot's stages on the in-memory engine, with processes that answer: restores, the
rehearsed upgrade and rollback into one shared baseline, declarative checks, a twin copy;
the cancel token reaching each blocking stage; late exit codes; side work that fails."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field

import pytest

from lab import scenario
from lab.engine.types import ContainerState
from lab.errors import EngineError, Interrupted
from lab.pipeline import pilot
from lab.pipeline.context import RunContext
from lab.results import Kind, Outcome, PilotResult, Verdict
from tests.fake_engine import Answer, Call, FakeEngine

CREATED = ContainerState("created", 0, None, "")

SCENARIO = """
description: A shop database and its application, upgraded by dump and restore
services:
  db:
    image: debian:bookworm
  app:
    image: debian:bookworm
    depends_on: [db]
    environment: {MODE: classic}
candidates:
  next:
    services:
      db: {image: debian:trixie}
backup:
  db:
    - {file: backup/shop.sql, format: postgresql, database: shop}
  app:
    - {file: backup/uploads.tar, format: files, path: /srv/uploads}
verify:
  - {name: orders, service: db, database: shop, query: SELECT count(*) FROM orders, expect: "3"}
upgrade:
  steps:
    - name: dump into the new server
      side: baseline
      service: db
      run: pg_dump shop
      into: {service: db, run: psql shop}
  rollback:
    - name: dump back
      service: db
      run: pg_dump shop
      into: {side: baseline, service: db, run: dropdb shop && psql shop}
checks:
  command:
    - {name: mode, service: app, run: cat /etc/mode}
    - {name: orders, service: db, run: psql -c 'SELECT * FROM orders' shop}
  noise: {second_copy: true}
"""
FILES = {"backup/shop.sql": "order 1\norder 2\norder 3\n", "backup/uploads.tar": ""}


@dataclass
class Shop:
    """What the fake engine's processes do: one database per db container, dumped, loaded,
    dropped and counted; every read of a baseline and every write into it is logged."""

    data: dict[str, str | None] = field(default_factory=dict)
    log: list[tuple[float, str, str]] = field(default_factory=list)  # (time, what, by whom)
    slow: dict[str, float] = field(default_factory=dict)  # variant -> seconds its rollback's dump takes
    hang: str = ""  # a command containing this never answers
    hanging: threading.Event = field(default_factory=threading.Event)  # set once it was asked
    refuse: str = ""  # loads into this variant fail

    def __call__(self, call: Call) -> Answer | None:
        name, command = call.spec.name, call.command
        if self.hang and self.hang in command:
            self.hanging.set()
            return Answer(hang=True)
        if call.variant == self.refuse and call.stdin:
            return Answer(stderr="psql: error: connection to server failed", code=2)
        if call.stdin is None:  # a process is started
            if command.endswith("pg_dump shop"):  # a dump reads its database and answers at once
                self._note("reads" if call.variant == "baseline" else "dumps", call)
                rows = self.data.get(name)
                if rows is None:
                    return Answer(stderr='pg_dump: error: database "shop" does not exist', code=1)
                return Answer(stdout=rows, delay=self.slow.get(call.variant, 0.0))
            if "dropdb" in command:
                self._note("drops", call)
                self.data[name] = None
            return None  # reads its stdin first
        if "psql" in command or "pg_restore" in command:  # a load, or a query through the shell
            if call.stdin:
                self.data[name] = call.stdin.decode()
                self._note("loaded", call)
                return Answer()
            rows = self.data.get(name)
            if rows is None:
                return Answer(stderr='FATAL: database "shop" does not exist', code=2)
            count = len(rows.splitlines())
            return Answer(stdout=f"{count}\n" if "count(*)" in command else rows)
        if "cat /etc/mode" in command:
            return Answer(stdout=call.spec.environment.get("MODE", "") + "\n")
        return Answer()

    def _note(self, what: str, call: Call) -> None:
        self.log.append((time.monotonic(), what, call.variant))


def start(write_scenario, tmp_path, engine: FakeEngine, text: str = SCENARIO, **given) -> RunContext:
    folder = write_scenario(text, FILES)
    loaded = scenario.load(str(folder), given=given.get("given"))
    return pilot.prepare(engine, loaded, tmp_path / "pilots", say=lambda m: None)


@pytest.fixture(autouse=True)
def no_pdf(monkeypatch):
    monkeypatch.setattr("lab.records.pdf.print_pdf", lambda html, out: ["report.pdf not written in unit tests"])


def test_restores_rehearsal_declarative_checks_and_a_twin_on_the_fake_engine(write_scenario, tmp_path):
    shop = Shop()
    engine = FakeEngine(answer=shop)
    ctx = start(write_scenario, tmp_path, engine)
    result = pilot.run(ctx)
    assert result.exit_code == 0 and result.verdict == Verdict.PASS, result.reason
    copies = {c.variant: c for c in result.copies}
    assert set(copies) == {"baseline", "baseline-2", "next"}
    # the dump went into the baseline and its twin; the candidate got its data through the upgrade
    loaded = [(who, what) for _, what, who in shop.log if what == "loaded"]
    assert loaded.count(("baseline", "loaded")) == 2 and ("baseline-2", "loaded") in loaded
    assert ("lab-" + ctx.run_id + "-baseline-app", "/srv/uploads") in engine.archives
    next_checks = {c.id: c for c in copies["next"].checks}
    assert next_checks["upgrade:dump into the new server"].kind == Kind.UPGRADE
    assert next_checks["upgrade:dump into the new server"].outcome == Outcome.PASSED
    assert next_checks["rollback:dump back"].outcome == Outcome.PASSED
    assert next_checks["rollback:baseline verify:orders"].outcome == Outcome.PASSED  # verified where it went back
    assert "restore:db:backup/shop.sql" not in next_checks  # its data came through the steps
    assert copies["next"].upgrade[0].bytes_moved == len(FILES["backup/shop.sql"])
    assert "downtime" in copies["next"].seconds and "rollback" in copies["next"].seconds
    assert {c.id: c.outcome for c in copies["baseline"].checks} == {
        "restore:db:backup/shop.sql": Outcome.PASSED,
        "restore:app:backup/uploads.tar": Outcome.PASSED,
        "verify:orders": Outcome.PASSED,
    }
    # declarative checks: observed twice on the baseline, once on the twin and the candidate
    assert [len(copies[v].observations) for v in ("baseline", "baseline-2", "next")] == [2, 1, 1]
    mode = next(o for o in copies["next"].first_pass if o.id == "command:mode")
    assert mode.kind == Kind.COMMAND and mode.output["stdout"] == "classic\n"
    assert engine.left() == 0
    assert PilotResult.read(ctx.run_dir) == result


def test_a_changed_answer_and_a_failed_rehearsal_are_findings(write_scenario, tmp_path):
    modern = SCENARIO.replace(
        "db: {image: debian:trixie}", "db: {image: debian:trixie}\n      app: {environment: {MODE: modern}}"
    )
    result = pilot.run(start(write_scenario, tmp_path, FakeEngine(answer=Shop()), modern))
    assert result.verdict == Verdict.REVIEW and "1 changed output" in result.reason
    (changed,) = [o for o in result.candidates[0].outputs if o.changed]
    assert changed.id == "command:mode" and "+stdout | modern" in changed.diff

    result = pilot.run(start(write_scenario, tmp_path, FakeEngine(answer=Shop(refuse="next"))))
    assert result.verdict == Verdict.FAIL
    assert result.reason.startswith("not safe to upgrade as tested: next (the upgrade rehearsal failed: next: upgrade:")
    assert result.copies[-1].upgrade[0].message == "failed with exit code 2 (the receiving side)"


def test_three_candidates_upgrade_from_and_roll_back_into_one_baseline_as_when_alone(write_scenario, tmp_path):
    """Rollbacks write into the shared baseline only after every upgrade has read from it, and
    one at a time: a slow candidate's upgrade never reads a database another's rollback dropped."""

    def engine_for(shop: Shop) -> FakeEngine:
        engine = FakeEngine(answer=shop)
        original = engine.state
        begun = time.monotonic()

        def state(container: str):  # the third candidate's database takes 1.5 s to come up
            if "-next-c-db" in container and time.monotonic() - begun < 1.5:
                return CREATED
            return original(container)

        engine.state = state  # type: ignore[method-assign]
        return engine

    matrix = SCENARIO.replace("db: {image: debian:trixie}", "db: {image: debian:trixie, environment: {V: x}}")
    given = scenario_given(["candidates.next.services.db.environment.V=a,b,c"])
    shop = Shop(slow={"next-a": 0.6, "next-b": 0.6})  # the early rollbacks keep the baseline dropped a while
    together = pilot.run(start(write_scenario, tmp_path, engine_for(shop), matrix, given=given))
    assert {v.candidate: v.verdict for v in together.candidates} == {
        "next-a": Verdict.PASS,
        "next-b": Verdict.PASS,
        "next-c": Verdict.PASS,
    }, together.reason
    reads = [t for t, what, who in shop.log if what == "reads"]
    drops = sorted(t for t, what, who in shop.log if what == "drops")
    assert len(reads) == 3 and len(drops) == 3 and max(reads) < min(drops)
    for name in ("next-a", "next-b", "next-c"):
        given_one = scenario_given(["candidates.next.services.db.environment.V=a,b,c"], [name])
        alone = pilot.run(start(write_scenario, tmp_path, FakeEngine(answer=Shop()), matrix, given=given_one))
        assert [(v.candidate, v.verdict) for v in alone.candidates] == [(name, Verdict.PASS)]


def scenario_given(matrices: list[str], candidates: list[str] | None = None):
    from lab.scenario.overrides import Given

    return Given.of([], matrices, candidates or [], {})


@pytest.mark.parametrize(
    ("hang", "where"),
    [
        ("psql --no-psqlrc", "baseline: restore"),  # the restore of the client's dump (timeout 600 s)
        ("psql shop", "next: upgrade"),  # an upgrade step (timeout 1800 s)
        ("cat /etc/mode", "checks"),  # a declarative check
    ],
)
def test_a_set_token_stops_every_blocking_stage_within_a_second(write_scenario, tmp_path, hang, where):
    shop = Shop(hang=hang)
    engine = FakeEngine(answer=shop)
    ctx = start(write_scenario, tmp_path, engine)
    stopped_at: list[float] = []

    def stop_when_hanging() -> None:
        assert shop.hanging.wait(10)
        time.sleep(0.2)  # it hangs now
        stopped_at.append(time.monotonic())
        ctx.token.cancel(Interrupted("interrupted (SIGINT)"))

    threading.Thread(target=stop_when_hanging, daemon=True).start()
    with pytest.raises(Interrupted, match=r"interrupted \(SIGINT\)"):
        pilot.run(ctx)
    saved = PilotResult.read(ctx.run_dir)
    assert saved.exit_code == 130 and saved.incomplete and where in saved.where_stopped()
    assert saved.stages["total"] and engine.left() == 0
    assert time.monotonic() - stopped_at[0] < 3  # the stages stopped within a second; the wrap-up is quick


def test_exit_codes_the_engine_reports_late_are_never_none(write_scenario, tmp_path):
    engine = FakeEngine(answer=Shop(), late_exit=4)
    result = pilot.run(start(write_scenario, tmp_path, engine))
    assert result.verdict == Verdict.PASS, result.reason
    every = [c for copy in result.copies for c in copy.checks]
    assert every and all("None" not in c.message for c in every)
    assert all(c.outcome == Outcome.PASSED for c in every)


def test_a_probe_or_an_inventory_that_fails_is_data_not_the_end_of_the_pilot(write_scenario, tmp_path):
    with_http = SCENARIO.replace(
        "  noise: {second_copy: true}", "  http:\n    - {name: home, service: app, port: 8000, path: /}"
    )
    engine = FakeEngine(answer=Shop())
    original_start, original_attach = engine.start, engine.attach

    def start_probe(spec):
        if spec.name.endswith("-lab-probe"):
            raise EngineError("no space left on device")
        original_start(spec)

    def attach(container, argv, user=None):
        if "-next-" in container and "os-release" in " ".join(argv):
            raise EngineError("the inventory's exec was refused")
        return original_attach(container, argv, user)

    engine.start, engine.attach = start_probe, attach  # type: ignore[method-assign]
    ctx = start(write_scenario, tmp_path, engine, with_http)
    result = pilot.run(ctx)
    assert result.exit_code in (0, 1) and not result.error, result.error
    assert any("the HTTP probe did not start" in w and "no space left" in w for w in result.warnings)
    assert any("could not be read: the inventory's exec was refused" in w for w in result.warnings)
    home = next(o for o in result.copies[0].first_pass if o.id == "http:home")
    assert home.outcome == Outcome.ERROR
    assert engine.left() == 0


def test_a_backup_that_does_not_restore_is_named_and_nothing_runs_on_half_the_data(write_scenario, tmp_path):
    shop = Shop()

    def damaged(call: Call) -> Answer | None:
        if call.stdin and "--output=/dev/null" in call.command:  # the restore of the dump
            return Answer(stderr="gzip: stdin: unexpected end of file\nthe dump is damaged: gunzip failed (1)", code=65)
        return shop(call)

    ctx = start(write_scenario, tmp_path, FakeEngine(answer=damaged))
    result = pilot.run(ctx)
    assert result.verdict == Verdict.FAIL and result.exit_code == 1
    (cand,) = result.candidates
    assert cand.backup_unusable and cand.comparisons == [] and cand.outputs == []
    assert cand.reason.startswith(
        "the client's backup is unusable: it does not restore on the baseline (restore:db:backup/shop.sql:"
    )
    assert cand.reason.endswith("— fix the backup before judging the upgrade")
    baseline = result.copies[0]
    assert baseline.not_checked.startswith("the backup did not restore: restore:db:backup/shop.sql")
    assert baseline.observations == [] and not any(c.kind == Kind.TEST for c in baseline.checks)
    report = (ctx.run_dir / "report.md").read_text()
    assert "The client's backup does not restore, on today's versions either" in report
    assert "The upgrade breaks things" not in report
    assert "## Checks not run on `baseline`" in report


def test_an_inventory_that_hangs_is_a_warning(write_scenario, tmp_path, monkeypatch):
    monkeypatch.setattr("lab.checks.inventory.DEADLINE", 0.1)
    monkeypatch.setattr("lab.checks.inventory.GRACE", 0.2)
    result = pilot.run(start(write_scenario, tmp_path, FakeEngine(answer=Shop(hang="os-release"))))
    assert result.verdict == Verdict.PASS, result.reason
    assert any("could not be read: did not finish within 0.3 s" in w for w in result.warnings)


def test_pythons_own_ctrl_c_in_the_main_thread_stops_the_copies_at_once(write_scenario, tmp_path):
    """The lab used as a library, with Python's default SIGINT handler: a KeyboardInterrupt
    while the copies run stops them (a restore that would take ten minutes) and tears down."""
    import _thread

    shop = Shop(hang="psql --no-psqlrc")
    engine = FakeEngine(answer=shop)
    ctx = start(write_scenario, tmp_path, engine)

    def interrupt() -> None:
        assert shop.hanging.wait(10)
        _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()
    began = time.monotonic()
    # Python's own handler, also when this process inherited SIGINT as ignored (a background job)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(Interrupted):
            pilot.run(ctx)
    finally:
        signal.signal(signal.SIGINT, before)
    assert time.monotonic() - began < 10 and engine.left() == 0
    assert PilotResult.read(ctx.run_dir).exit_code == 130


def test_a_check_that_writes_learns_no_noise_from_its_own_copy(write_scenario, tmp_path):
    """A page-view counter: the baseline's second observation would read its own first write."""
    visits: dict[str, int] = {}
    shop = Shop()

    def counting(call: Call) -> Answer | None:
        if "count-visit" in call.command:
            visits[call.spec.name] = visits.get(call.spec.name, 0) + 1
            return Answer(stdout=f"visit {visits[call.spec.name]}\n")
        return shop(call)

    text = SCENARIO.replace(
        "  noise: {second_copy: true}", "    - {name: visits, service: app, run: count-visit, writes: true}"
    )
    ctx = start(write_scenario, tmp_path, FakeEngine(answer=counting), text)
    result = pilot.run(ctx)
    assert result.verdict == Verdict.PASS, result.reason
    baseline = result.copies[0]
    assert [o.id for o in baseline.observations[1]] == ["command:mode", "command:orders"]  # not run again
    visits_out = next(o for o in result.candidates[0].outputs if o.id == "command:visits")
    assert not visits_out.changed and visits_out.noise == [] and visits_out.unstable == []


def test_values_kept_with_record_are_observed_twice_on_the_baseline(write_scenario, tmp_path):
    text = SCENARIO.replace("  noise: {second_copy: true}", "  testinfra: [checks/test_kept.py]")
    files = {
        **FILES,
        "checks/test_kept.py": """
    import secrets

    def test_session_token(record):
        record("session token", secrets.token_hex(4))

    def test_mode(record, lab):
        record("services", sorted(lab.services))
    """,
    }
    folder = write_scenario(text, files)
    ctx = pilot.prepare(FakeEngine(answer=Shop()), scenario.load(str(folder)), tmp_path / "pilots", say=lambda m: None)
    result = pilot.run(ctx)
    baseline = result.copies[0]
    second = {o.id for o in baseline.observations[1]}
    assert {"record:session token", "record:services"} <= second
    outputs = {o.id: o for o in result.candidates[0].outputs}
    assert outputs["record:session token"].unstable == ["$"]  # a random token: cannot be compared
    assert not outputs["record:services"].changed and not outputs["record:services"].unstable
    assert (ctx.run_dir / "checks" / "baseline" / "again" / "pytest.log").is_file()


@pytest.mark.parametrize(
    ("run_as", "has_postgres", "database_user"), [("", True, "postgres"), ("", False, None), ("dba", True, "dba")]
)
def test_database_clients_run_as_the_databases_os_user_commands_as_the_container_s(
    write_scenario, tmp_path, run_as, has_postgres, database_user
):
    shop = Shop()

    def answer(call: Call) -> Answer | None:
        if call.command.startswith('sh -c [ "$(id -un'):  # lab.users: does the image have the user?
            return Answer(code=0 if has_postgres else 1)
        return shop(call)

    engine = FakeEngine(answer=answer)
    text = SCENARIO.replace(
        "  db:\n    image: debian:bookworm\n",
        f"  db:\n    image: debian:bookworm\n    run_as: {run_as}\n"
        if run_as
        else "  db:\n    image: debian:bookworm\n",
    )
    ctx = start(write_scenario, tmp_path, engine, text)
    pilot.run(ctx)
    db = [(command, user) for container, command, user in engine.exec_users if container.endswith("-baseline-db")]
    loads = [user for command, user in db if "psql" in command and "--dbname=shop" in command]
    assert loads == [database_user], db  # the restore
    shells = {user for command, user in db if command == "sh"}
    assert database_user in shells  # the verify query, through a shell as that user
    if not run_as:
        assert None in shells  # the command check `psql -c ...` is a command: the container's user
    lookups = [command for command, _ in db if "id -un" in command]
    assert len(lookups) == (0 if run_as else 1)  # looked up once per container, not per check
