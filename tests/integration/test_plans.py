"""The pilot plan through the command line, on the real engine: `invoke plan` without history
and with it, `invoke approve` on the plan, a pilot run under it whose report says planned
against actual, `invoke history` listing both, and a pilot refused once the client's backup
changed after the approval."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import docker
import pytest

from tests.conftest import ROOT
from tests.integration.conftest import invoke, leftovers

pytestmark = pytest.mark.docker


def restore_scenario(tmp_path: Path) -> Path:
    """tests/scenarios/restore in a folder of its own (its backup is changed below)."""
    folder = tmp_path / "restore"
    shutil.copytree(ROOT / "tests" / "scenarios" / "restore", folder)
    text = (folder / "scenario.yml").read_text(encoding="utf-8")
    text = text.replace("context: ../../../scenarios/demo/db", f"context: {ROOT / 'scenarios' / 'demo' / 'db'}")
    (folder / "scenario.yml").write_text(text, encoding="utf-8")
    return folder


def plan_id(stdout: str) -> str:
    found = re.search(r"^plan (plan-\S+): estimated lab time ", stdout, re.MULTILINE)
    assert found, stdout
    return found.group(1)


def test_plan_approve_pilot_under_it_then_a_changed_backup_is_refused(tmp_path: Path, client: docker.DockerClient):
    folder, out = restore_scenario(tmp_path), tmp_path / "pilots"
    first = invoke("plan", str(folder), "--out", str(out))
    assert first.returncode == 0, first.stderr
    made = out / "restore" / "plans" / plan_id(first.stdout)
    assert {p.name for p in made.iterdir()} >= {"plan.json", "plan.md", "plan.html", "plan.pdf"}
    plan = json.loads((made / "plan.json").read_text())
    assert plan["estimate"]["basis"].startswith("the scenario's size")  # no pilot of it here yet
    assert [b["file"] for b in plan["backups"]] == [
        "backup/orders.sql.gz",
        "backup/catalog.dump",
        "backup/uploads.tar.gz",
    ]

    approved = invoke("approve", str(made), "--by", "Dr. Meyer", "--decision", "proceed")
    assert approved.returncode == 0 and "record SHA-256" in approved.stderr, approved.stderr
    done = invoke("pilot", str(folder), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"under plan {made.name}, approved by Dr. Meyer" in done.stderr
    run_dir = Path(re.search(r"report: (\S+)/report\.html", done.stdout).group(1))
    results = json.loads((run_dir / "results.json").read_text())
    planned = results["planned"]
    assert planned["plan_id"] == made.name and planned["seconds"] == results["stages"]["total"]
    assert planned["copies_run"] == planned["copies_planned"] == ["baseline", "trixie"]
    assert planned["checks_run"]["restore verifications"] == planned["checks_planned"]["restore verifications"]
    report = (run_dir / "report.md").read_text()
    assert "## Planned and actual" in report and f"Run under plan `{made.name}`, approved by Dr. Meyer" in report
    assert re.search(r"\*\*Lab time: \d+\.\d s against the estimated .+\.\*\*", report)  # a pilot under a minute
    assert leftovers(client, run_dir.name) == []

    again = invoke("plan", str(folder), "--out", str(out))  # now with this engine's history
    assert again.returncode == 0, again.stderr
    with_history = json.loads((out / "restore" / "plans" / plan_id(again.stdout) / "plan.json").read_text())
    assert with_history["estimate"]["basis"].startswith("this engine's history of the scenario: 1 recent run(s)")
    real = results["stages"]["total"]
    point = (with_history["estimate"]["low"] * with_history["estimate"]["high"]) ** 0.5
    assert abs(point - real) <= 0.5 * real, (point, real)

    listed = invoke("history", "--scenario", "restore", "--out", str(out))
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()
    assert any(made.name in row and "PLAN" in row and "proceed (Dr. Meyer)" in row for row in rows), rows
    assert any(run_dir.name in row and "PASS" in row for row in rows), rows

    with (folder / "backup" / "uploads.tar.gz").open("ab") as backup:  # the client sends a newer backup
        backup.write(b"\0")
    runs_before = sorted(p.name for p in (out / "restore").iterdir())
    refused = invoke("pilot", str(folder), "--out", str(out))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"the scenario changed since plan {made.name} was approved (Dr. Meyer, " in refused.stderr
    assert "backup backup/uploads.tar.gz: changed (SHA-256 " in refused.stderr
    assert sorted(p.name for p in (out / "restore").iterdir()) == runs_before  # nothing was started
