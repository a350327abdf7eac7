"""Real pilots of small test scenarios and of the demo, through `invoke pilot`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.integration.conftest import invoke, leftovers, scenario_path

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
    assert "## Verdict: FAIL" in report
    assert "assert 'hi' == 'hello'" in report


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
    gone = invoke("down", done.run_id)
    assert gone.returncode == 0, gone.stderr
    assert leftovers(client, done.run_id) == []


def test_gc_removes_what_a_killed_pilot_left(tmp_path, client):
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "pilot", scenario_path("never-ready"), "--out", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_id = _wait_for_containers(client, proc)
    proc.kill()  # kill -9: no teardown
    proc.wait()
    assert leftovers(client, run_id)
    gc = invoke("gc")
    assert gc.returncode == 0, gc.stderr
    assert leftovers(client, run_id) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_tears_down(tmp_path, client, sig):
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "pilot", scenario_path("never-ready"), "--out", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run_id = _wait_for_containers(client, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert leftovers(client, run_id) == []
    results = json.loads(next(tmp_path.glob("*/*/results.json")).read_text())
    assert results["exit_code"] == 130


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


def _wait_for_containers(client, proc: subprocess.Popen, timeout: float = 60) -> str:
    """The run id of the pilot `proc`, once its containers exist (polled, with a deadline)."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the pilot ended before its containers appeared"
        for c in client.containers.list(all=True, filters={"label": "io.upgrade-pilot-lab.scenario=never-ready"}):
            run_id = c.labels["io.upgrade-pilot-lab.run"]
            if len(client.containers.list(all=True, filters={"label": f"io.upgrade-pilot-lab.run={run_id}"})) == 2:
                return run_id
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    raise AssertionError("no containers appeared")
