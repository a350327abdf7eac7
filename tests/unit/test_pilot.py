"""lab/pipeline/pilot.py end to end against the in-memory engine: the real pytest subprocess
and plugin run the checks (which use only the `lab` fixture, so no container is needed)."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest

from lab import scenario
from lab.cancel import handle_signals
from lab.errors import Interrupted
from lab.pipeline import pilot
from lab.pipeline.context import Options, RunContext
from lab.results import PilotResult, Verdict
from tests.fake_engine import FakeEngine
from tests.unit.test_stage import EXITED

SCENARIO = """
description: Two services
services:
  db:
    image: debian:bookworm
    volumes: ["data:/data"]
  app:
    image: debian:bookworm
    depends_on: [db]
    environment: {MODE: classic}
candidates:
  next:
    services:
      app: {image: debian:trixie, environment: {MODE: modern}}
checks:
  host: app
  testinfra: [checks/test_copy.py]
"""
CHECKS = {
    "checks/test_copy.py": """
    import pytest

    def test_every_copy_has_both_services(lab):
        assert sorted(lab.services) == ["app", "db"]

    def test_classic_mode(lab):
        assert lab.variant == "baseline", "the candidate runs another mode"

    def test_broken_everywhere(lab):
        assert False, "broken before the upgrade"

    @pytest.mark.skip(reason="not today")
    def test_skipped():
        pass
"""
}


@pytest.fixture(autouse=True)
def no_pdf(monkeypatch):
    """PDF printing (a Chromium start per run) is tested in test_report.py."""
    monkeypatch.setattr("lab.records.pdf.print_pdf", lambda html, out: ["report.pdf not written in unit tests"])


def run(write_scenario, tmp_path, engine: FakeEngine, **options) -> tuple[RunContext, PilotResult]:
    loaded = scenario.load(str(write_scenario(SCENARIO, CHECKS)))
    ctx = pilot.prepare(engine, loaded, tmp_path / "pilots", Options(**options), say=lambda m: None)
    return ctx, pilot.run(ctx)


def test_regression_is_found_reported_and_everything_removed(write_scenario, tmp_path):
    engine = FakeEngine()
    ctx, result = run(write_scenario, tmp_path, engine)
    assert result.verdict == Verdict.FAIL and result.exit_code == 1
    (cand,) = result.candidates
    status = {c.id: c.status.value for c in cand.comparisons}
    assert status == {
        "checks/test_copy.py::test_every_copy_has_both_services": "passed",
        "checks/test_copy.py::test_classic_mode": "regression",
        "checks/test_copy.py::test_broken_everywhere": "failing",
        "checks/test_copy.py::test_skipped": "skipped",
    }
    regression = next(c for c in cand.comparisons if c.status.value == "regression")
    assert "the candidate runs another mode" in regression.message
    assert engine.left() == 0
    # the run folder holds the evidence, readable without Docker
    saved = PilotResult.read(ctx.run_dir)
    assert saved == result
    report = (ctx.run_dir / "report.md").read_text()
    assert "## Verdict: NO-GO" in report and "test_classic_mode" in report
    assert report.index("Regressions") < report.index("Failing on both") < report.index("Passed on both")
    assert set(result.stages) >= {"build", "start_ready", "checks", "logs", "teardown", "total"}
    assert json.loads((ctx.run_dir / "results.json").read_text())["schema_version"] == 2


def test_keep_leaves_the_copies_up_and_marks_them(write_scenario, tmp_path):
    engine = FakeEngine()
    ctx, result = run(write_scenario, tmp_path, engine, keep=True)
    assert result.kept
    (objects,) = engine.runs()
    assert objects.kept and len(objects.containers) == 4 and len(objects.networks) == 2
    engine.remove_run(ctx.run_id)
    assert engine.left() == 0


def test_candidate_that_does_not_start_fails_the_pilot(write_scenario, tmp_path):
    # only the candidate's app is on trixie; make that image's container exit
    engine = FakeEngine()
    original = engine.state

    def state(container: str):
        return EXITED if container.endswith("-next-app") else original(container)

    engine.state = state  # type: ignore[method-assign]
    _, result = run(write_scenario, tmp_path, engine)
    assert result.exit_code == 1
    assert "did not start: service 'app' (next) exited with code 3" in result.candidates[0].reason
    assert engine.left() == 0


def test_baseline_that_does_not_start_means_could_not_run(write_scenario, tmp_path):
    engine = FakeEngine(scripts={"db": [EXITED]}, service_logs={"db": "FATAL: data directory has wrong ownership"})
    ctx, result = run(write_scenario, tmp_path, engine)
    assert result.exit_code == 2 and result.verdict == Verdict.ERROR
    assert "the baseline did not start" in result.error and "wrong ownership" in result.error
    assert engine.left() == 0
    assert "could not run" in (ctx.run_dir / "report.md").read_text()


def test_interrupt_tears_down_and_says_where_it_stopped(write_scenario, tmp_path):
    engine = FakeEngine()
    original = engine.begin

    def begin(container):
        original(container)
        if container.endswith("-baseline-app"):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # Ctrl-C
            assert ctx.token.wait(5)  # the handler ran: the token is set

    engine.begin = begin  # type: ignore[method-assign]
    loaded = scenario.load(str(write_scenario(SCENARIO, CHECKS)))
    ctx = pilot.prepare(engine, loaded, tmp_path / "pilots", say=lambda m: None)
    with handle_signals(ctx.token), pytest.raises(Interrupted, match=r"interrupted \(SIGINT\)"):
        pilot.run(ctx)
    assert engine.left() == 0
    saved = PilotResult.read(ctx.run_dir)
    assert saved.exit_code == 130 and "interrupted" in saved.error
    where = saved.where_stopped()
    assert saved.incomplete and where.startswith("copies (") and "baseline: start" in where
    assert "the results below are incomplete" in (ctx.run_dir / "report.md").read_text()


def test_an_engine_that_goes_away_ends_the_pilot_with_partial_results(write_scenario, tmp_path):
    engine = FakeEngine(gone=True)
    ctx, result = run(write_scenario, tmp_path, engine)
    assert result.exit_code == 2 and result.incomplete and result.stage == "copies"
    assert "stopped answering" in result.error and "`invoke gc`" in result.error
    assert PilotResult.read(ctx.run_dir).copies[0].checks  # what was observed is kept


def test_the_whole_pilot_has_a_deadline(write_scenario, tmp_path):
    engine = FakeEngine()
    loaded = scenario.load(str(write_scenario(SCENARIO + "timeouts: {pilot: 300ms}\n", CHECKS)))
    ctx = pilot.prepare(engine, loaded, tmp_path / "pilots", say=lambda m: None)
    original = engine.begin

    def begin(container):  # a service whose start hangs until the pilot gives up on it
        ctx.token.wait(30)
        original(container)

    engine.begin = begin  # type: ignore[method-assign]
    result = pilot.run(ctx)
    assert result.exit_code == 2 and result.incomplete
    assert "did not finish within 0.3 s (timeouts.pilot)" in result.error
    assert engine.left() == 0


def test_a_signal_while_the_run_folder_is_written_lets_it_finish_first(write_scenario, tmp_path, monkeypatch):
    from lab.records import report

    render_all = report.render_all

    def interrupted_render(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives in the middle of rendering
        return render_all(*args, **kwargs)

    monkeypatch.setattr("lab.records.report.render_all", interrupted_render)
    loaded = scenario.load(str(write_scenario(SCENARIO, CHECKS)))
    engine = FakeEngine()
    ctx = pilot.prepare(engine, loaded, tmp_path / "pilots", say=lambda m: None)
    with handle_signals(ctx.token), pytest.raises(Interrupted, match="it was finished first"):
        pilot.run(ctx)
    saved = PilotResult.read(ctx.run_dir)
    assert saved.verdict == Verdict.FAIL and (ctx.run_dir / "report.html").is_file()
    assert "interrupted (SIGTERM) while the run folder was written; it was finished first" in saved.warnings
    assert engine.left() == 0


def test_long_logs_are_cut_and_say_so(write_scenario, tmp_path, monkeypatch):
    monkeypatch.setattr("lab.pipeline.wrapup.LOG_LINES", 5)
    engine = FakeEngine(service_logs={"db": "\n".join(f"line {i}" for i in range(50))})
    ctx, result = run(write_scenario, tmp_path, engine)
    log = (ctx.run_dir / "logs" / "baseline" / "db.log").read_text()
    assert log.startswith("[lab: log cut — only its last 5 lines are kept]") and log.endswith("line 49")
    assert "line 44" not in log
    assert "the log of db (baseline) was cut to its last lines" in result.warnings


def test_copies_are_spread_across_engines_and_each_is_cleaned(write_scenario, tmp_path):
    first, second = FakeEngine(url="unix:///one.sock"), FakeEngine(url="ssh://lab2")
    loaded = scenario.load(str(write_scenario(SCENARIO, CHECKS)))
    result = pilot.run(pilot.prepare([first, second], loaded, tmp_path / "pilots", say=lambda m: None))
    assert result.exit_code == 1, result.error  # the same findings as on one engine
    assert {c.variant: c.engine for c in result.copies} == {"baseline": "unix:///one.sock", "next": "ssh://lab2"}
    assert {s.split("-")[-2] for s in first.started} == {"baseline"} and {s.split("-")[-2] for s in second.started} == {
        "next"
    }
    assert first.left() == 0 and second.left() == 0


def test_a_baseline_with_the_same_inputs_is_reused_when_asked(write_scenario, tmp_path):
    folder = write_scenario(SCENARIO, CHECKS)
    loaded = scenario.load(str(folder))
    first = FakeEngine()
    earlier = pilot.run(pilot.prepare(first, loaded, tmp_path / "pilots", say=lambda m: None))
    assert not earlier.baseline_reused_from

    engine = FakeEngine()
    again = pilot.run(pilot.prepare(engine, loaded, tmp_path / "pilots", Options(reuse_baseline=True), say=print))
    assert again.baseline_reused_from == earlier.run_id
    assert not any("-baseline-" in name for name in engine.started)  # no start, restore or checks of the baseline
    assert [(c.id, c.status) for c in again.candidates[0].comparisons] == [
        (c.id, c.status) for c in earlier.candidates[0].comparisons
    ]
    assert again.copies[0].observations == earlier.copies[0].observations
    assert (
        "its observations are those of run" in (tmp_path / "pilots" / "shop" / again.run_id / "report.md").read_text()
    )

    # a changed check file is another input: the baseline is staged again
    (folder / "checks" / "test_copy.py").write_text(
        CHECKS["checks/test_copy.py"].replace("broken before", "still broken")
    )
    changed = pilot.prepare(FakeEngine(), scenario.load(str(folder)), tmp_path / "pilots", Options(reuse_baseline=True))
    assert not pilot.run(changed).baseline_reused_from


def test_without_the_flag_or_with_upgrade_steps_the_baseline_is_staged(write_scenario, tmp_path):
    loaded = scenario.load(str(write_scenario(SCENARIO, CHECKS)))
    pilot.run(pilot.prepare(FakeEngine(), loaded, tmp_path / "pilots", say=lambda m: None))
    engine = FakeEngine()
    assert not pilot.run(pilot.prepare(engine, loaded, tmp_path / "pilots", say=lambda m: None)).baseline_reused_from
    assert any("-baseline-" in name for name in engine.started)
    steps = SCENARIO + "upgrade:\n  steps: [{name: move, side: baseline, service: db, run: 'true'}]\n"
    upgrading = scenario.load(str(write_scenario(steps, CHECKS, name="up")))
    pilot.run(pilot.prepare(FakeEngine(), upgrading, tmp_path / "pilots", say=lambda m: None))
    said: list[str] = []
    reuse = Options(reuse_baseline=True)
    result = pilot.run(pilot.prepare(FakeEngine(), upgrading, tmp_path / "pilots", reuse, say=said.append))
    assert not result.baseline_reused_from
    assert any("not reused — the upgrade steps read from the running baseline" in line for line in said)


def test_a_failed_tests_explanation_is_kept_with_it(write_scenario, tmp_path):
    checks = {
        "checks/test_copy.py": CHECKS["checks/test_copy.py"]
        + """
    class Service:
        is_running = False

        def __repr__(self):
            return "<service redis-server>"

    def test_cache_runs(lab):
        assert Service().is_running
    """
    }
    loaded = scenario.load(str(write_scenario(SCENARIO, checks)))
    ctx = pilot.prepare(FakeEngine(), loaded, tmp_path / "pilots", say=lambda m: None)
    result = pilot.run(ctx)
    (failed,) = [c for c in result.copies[0].checks if c.id.endswith("test_cache_runs")]
    assert failed.message == "assert False — where False = <service redis-server>.is_running"
    assert "where False = <service redis-server>.is_running" in (ctx.run_dir / "report.md").read_text()
