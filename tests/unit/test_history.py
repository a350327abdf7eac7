"""The history index of run folders, and what changed since the last approved run."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from lab.records import approval, history, report
from lab.results import Comparison, Outcome, PilotResult, Status
from tests.unit.test_report import CHANGED, REGRESSION, recorded

NEW = "checks/test_shop.py::test_checkout[app]"


@pytest.fixture(autouse=True)
def no_pdf(monkeypatch):
    """PDF printing (a Chromium start per report) is tested in test_report.py."""
    monkeypatch.setattr("lab.records.pdf.print_pdf", lambda html, out: [])


def write_run(root: Path, run_id: str, **changes) -> PilotResult:
    result = recorded().model_copy(update={"run_id": run_id, "started_at": f"2026-11-{run_id[6:8]}T12:00:00+00:00"})
    for key, value in changes.items():
        setattr(result, key, value)
    folder = root / result.scenario / run_id
    folder.mkdir(parents=True)
    result.write(folder)
    return result


def test_runs_are_listed_newest_first_with_their_approval(tmp_path):
    write_run(tmp_path, "20261120-100000-aaaa")
    write_run(tmp_path, "20261121-100000-bbbb")
    write_run(tmp_path, "20261122-100000-cccc", scenario="other")
    approval.approve(tmp_path / "shop" / "20261120-100000-aaaa", "Dr. Meyer", "proceed")
    listed = history.runs(tmp_path)
    assert [r.run_id for r in listed] == ["20261122-100000-cccc", "20261121-100000-bbbb", "20261120-100000-aaaa"]
    first = history.runs(tmp_path, "shop")[-1]
    assert (first.decision, first.decided_by, first.verdict) == ("proceed", "Dr. Meyer", "FAIL")
    assert first.candidates == [("next", "FAIL")] and first.seconds == 9.0


def test_the_index_follows_the_run_folders(tmp_path):
    write_run(tmp_path, "20261120-100000-aaaa")
    gone = write_run(tmp_path, "20261121-100000-bbbb")
    assert len(history.runs(tmp_path)) == 2
    folder = tmp_path / "shop" / gone.run_id
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    assert [r.run_id for r in history.runs(tmp_path)] == ["20261120-100000-aaaa"]
    approval.approve(tmp_path / "shop" / "20261120-100000-aaaa", "Dr. Meyer", "defer")  # approvals.jsonl appears
    assert history.runs(tmp_path)[0].decision == "defer"
    (tmp_path / history.DB).unlink()  # the index is only an index: rebuilt from the folders
    assert history.runs(tmp_path)[0].decision == "defer"


def test_a_damaged_results_file_is_left_out(tmp_path):
    write_run(tmp_path, "20261120-100000-aaaa")
    damaged = tmp_path / "shop" / "20261121-100000-bbbb"
    damaged.mkdir()
    (damaged / "results.json").write_text("{not json")
    assert [r.run_id for r in history.runs(tmp_path)] == ["20261120-100000-aaaa"]


def test_changes_since_the_last_approved_run(tmp_path):
    write_run(tmp_path, "20261119-100000-0000")
    write_run(tmp_path, "20261120-100000-aaaa")
    write_run(tmp_path, "20261121-100000-bbbb")  # later, but not approved: not the reference
    approval.approve(tmp_path / "shop" / "20261119-100000-0000", "Dr. Meyer", "proceed")
    approval.approve(
        tmp_path / "shop" / "20261120-100000-aaaa",
        "Dr. Meyer",
        "proceed-with-conditions",
        now=datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc),
    )
    approval.approve(tmp_path / "shop" / "20261121-100000-bbbb", "Dr. Meyer", "reject")
    current = recorded().model_copy(update={"run_id": "20261122-100000-cccc"})
    verdict = current.candidates[0]
    verdict.comparisons = [c for c in verdict.comparisons if c.id != REGRESSION] + [
        Comparison(id=NEW, status=Status.REGRESSION, baseline=Outcome.PASSED, candidate=Outcome.FAILED)
    ]
    current.stages = {"build": 5.0, "total": 9.2}
    since = history.since_approved(tmp_path, current)
    assert since is not None
    assert (since.run_id, since.decision, since.at[:10]) == (
        "20261120-100000-aaaa",
        "proceed-with-conditions",
        "2026-11-20",
    )
    assert since.new == [NEW] and since.gone == [REGRESSION]
    assert since.slower == ["build: 1.0 s → 5.0 s"] and since.faster == []  # total: within the noise
    assert CHANGED not in since.new + since.gone  # a finding in both runs is not news

    run_dir = tmp_path / "shop" / current.run_id
    run_dir.mkdir()
    current.since_approved = since
    report.render_all(current, run_dir)
    text = (run_dir / "report.md").read_text()
    assert "Compared with run `20261120-100000-aaaa` (proceed-with-conditions by Dr. Meyer, 2026-11-20)" in text
    assert f"- **new finding:** `{NEW}`" in text and f"- finding gone: `{REGRESSION}`" in text
    assert "- **slower:** build: 1.0 s → 5.0 s" in text


def test_no_approved_run_no_comparison(tmp_path):
    write_run(tmp_path, "20261120-100000-aaaa")
    current = recorded().model_copy(update={"run_id": "20261122-100000-cccc"})
    assert history.since_approved(tmp_path, current) is None
    run_dir = tmp_path / "shop" / current.run_id
    run_dir.mkdir()
    report.render_all(current, run_dir)
    assert "No earlier run of this scenario was approved." in (run_dir / "report.md").read_text()
