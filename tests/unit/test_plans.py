"""lab/records/plans.py: the pilot plan — its estimate (from the recorded stage times of real
demo pilots on this machine, and from a scenario's size), what it says of the client's data,
options and cost, its approval, and a pilot refused when an input changed since."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timezone

import pytest

from lab import scenario
from lab.errors import LabError
from lab.records import approval, pdf, plans
from lab.results import CheckResult, CopyResult, Kind, Observation, Outcome, PilotResult, PlannedActual
from tests.browser import first_screen, pixels_of
from tests.conftest import ROOT

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)
HISTORY = json.loads((ROOT / "tests" / "unit" / "plan_history" / "demo.json").read_text())

SCENARIO = """
description: "A shop: Debian 12 today, 13 proposed"
client: Linen & Oak GmbH
consultant: Jane Doe
change: CHG-7
secrets:
  db_password: {file: secrets/db-password}
services:
  db:
    image: debian:bookworm
    environment: {POSTGRES_PASSWORD: "${secret:db_password}"}
candidates:
  pg17: {services: {db: {image: debian:trixie}}}
  pg18: {services: {db: {image: debian:forky}}}
backup:
  db:
    - {file: backup/shop.sql, format: postgresql, database: shop}
checks:
  sql:
    - {name: orders, service: db, database: shop, query: SELECT count(*) FROM orders, repeat: 5}
  testinfra:
    - {file: checks/test_db.py, hosts: [db]}
upgrade:
  steps:
    - name: dump into the new server
      side: baseline
      service: db
      run: pg_dump shop
      into: {service: db, run: psql shop}
plan:
  rate: 150
  currency: EUR
  hours: 4
  options:
    - {name: only PostgreSQL 17, candidates: [pg17], hours: 3}
"""
FILES = {
    "backup/shop.sql": "COPY orders FROM stdin;\n1\n\\.\n",
    "secrets/db-password": "correct-horse-staple\n",
    "checks/test_db.py": "def test_one(lab):\n    pass\n\n\ndef test_two(lab):\n    pass\n",
}


def test_estimates_from_history_lie_within_half_of_the_next_pilots_time():
    """Each recorded demo pilot, estimated from the recent ones before it that were given the
    same values (as `invoke plan` would have): within ±50% of its real wall time."""
    checked = 0
    for index, run in enumerate(HISTORY):
        earlier = [r for r in HISTORY[:index] if r["overrides"] == run["overrides"]][-plans.RECENT :][::-1]
        if not earlier:
            continue
        built = run["stages"].get("build", 0.0) > 5
        found = plans.estimate_from_stages(
            [r["stages"] for r in earlier], [r["run_id"] for r in earlier], ["an image"] if built else [], []
        )
        real = run["stages"]["total"]
        assert abs(found.point - real) <= 0.5 * real, (run["run_id"], real, found.low, found.high)
        assert found.low <= real * 1.5 and found.high >= real * 0.5
        checked += 1
    assert checked > 50


def test_an_image_no_run_of_the_history_built_is_added_from_the_size():
    found = plans.estimate_from_stages([{"build": 0.01, "checks": 3.0, "total": 6.0}], ["r1"], ["lab/x:1"], [])
    assert found.low >= plans.BUILD[0] and found.high >= plans.BUILD[1] and found.stages["build"][1] > 60


def loaded(write_scenario, text: str = SCENARIO):
    folder = write_scenario(text, FILES)
    return scenario.load(str(folder), folder.parent)


def test_a_plan_without_history_says_scope_data_time_and_cost(write_scenario, tmp_path, monkeypatch):
    monkeypatch.setattr(pdf, "print_pdf", lambda html, out: [])
    shop = loaded(write_scenario)
    made = plans.make(shop, tmp_path / "pilots", None, "", NOW)
    assert made.plan_id.startswith("plan-20261204-100000-")
    assert [c.name for c in made.copies] == ["baseline", "pg17", "pg18"]
    assert made.copies[1].services["db"] == "image debian:trixie"
    assert made.checks == {"tests (pytest + testinfra)": 2, "SQL checks": 1, "upgrade and rollback steps": 1}
    (backup,) = made.backups
    assert backup.file == "backup/shop.sql" and backup.sha256 == approval.sha256(shop.folder / "backup/shop.sql")
    assert "the scenario's size" in made.estimate.basis and 0 < made.estimate.low < made.estimate.high
    assert made.estimate.to_build == ["debian:bookworm", "debian:forky", "debian:trixie"]  # no engine to ask
    planned, only = made.options
    assert (planned.candidates, planned.hours, planned.cost) == (["pg17", "pg18"], 4, 600.0)
    assert (only.name, only.candidates, only.hours, only.cost) == ("only PostgreSQL 17", ["pg17"], 3, 450.0)
    assert only.high < planned.high
    assert any("no route out" in p for p in made.promises) and any("hashed (SHA-256)" in p for p in made.promises)
    folder = tmp_path / made.plan_id
    made.write(folder)
    assert plans.render(made, folder) == []
    md = (folder / "plan.md").read_text()
    for said in (
        "# Upgrade pilot plan — A shop",
        "| Client | Linen & Oak GmbH |",
        f"**Estimated lab time: {plans.span(made.estimate.low, made.estimate.high)}**",
        f"| `backup/shop.sql` | restored into `db` | {backup.size} bytes | `{backup.sha256}` |",
        "1. dump into the new server (baseline db, into candidate db)",
        "| only PostgreSQL 17 | pg17 |",
        "| 3 | 450.00 EUR |",
        "Cost (150.00 EUR per hour)",
    ):
        assert said in md, said
    assert "correct-horse-staple" not in md and "correct-horse-staple" not in (folder / "plan.json").read_text()
    html = (folder / "plan.html").read_text()
    assert "Estimated lab time" in html and "<style>" in html and "--nogo" in html  # the report's own style


def test_an_approved_plan_is_what_the_pilot_runs_under_until_an_input_changes(write_scenario, tmp_path, monkeypatch):
    monkeypatch.setattr(pdf, "print_pdf", lambda html, out: [])
    pilots = tmp_path / "pilots"
    shop = loaded(write_scenario)
    assert plans.for_pilot(pilots, shop, "", None) is None  # no plan: the pilot runs as before
    made = plans.make(shop, pilots, None, "", NOW)
    folder = plans.folder_of(pilots, shop.name) / made.plan_id
    made.write(folder)
    plans.render(made, folder)
    assert plans.for_pilot(pilots, shop, "", None) is None  # not approved: not the default
    with pytest.raises(LabError, match=f"plan {made.plan_id} is not approved"):
        plans.for_pilot(pilots, shop, made.plan_id, None)
    record = approval.approve(folder, "Dr. Meyer", "proceed")
    assert record["plan"] == made.plan_id and "plan.md" in record["artefacts"]
    with pytest.raises(LabError, match="a plan has no findings to waive"):
        approval.approve(folder, "Dr. Meyer", "proceed", waivers=["x=y"])
    under = plans.for_pilot(pilots, shop, "", None)
    assert isinstance(under, PlannedActual) and under.plan_id == made.plan_id and under.approved_by == "Dr. Meyer"
    assert under.record == record["sha256"] and plans.for_pilot(pilots, shop, plans.NO_PLAN, None) is None
    assert [(p.plan_id, d and d["decision"]) for p, d in plans.listed(pilots)] == [(made.plan_id, "proceed")]

    (shop.folder / "backup" / "shop.sql").write_text("COPY orders FROM stdin;\n2\n\\.\n")
    (shop.folder / "checks" / "test_db.py").write_text("def test_one(lab):\n    assert False\n")
    with pytest.raises(LabError) as refused:
        plans.for_pilot(pilots, loaded_again(shop), "", None)
    said = str(refused.value)
    assert said.startswith(f"the scenario changed since plan {made.plan_id} was approved (Dr. Meyer, ")
    assert "backup backup/shop.sql: changed (SHA-256 " in said and "test file checks/test_db.py: changed" in said
    assert "--plan none" in said

    (folder / "plan.md").write_text("# a different plan\n")
    with pytest.raises(LabError, match="does not verify since its approval: plan.md: changed"):
        plans.for_pilot(pilots, loaded_again(shop), made.plan_id, None)


def loaded_again(shop):
    return scenario.load(str(shop.folder), shop.folder.parent)


def test_a_pilot_measured_against_its_plan_says_when_it_ran_well_past():
    planned = PlannedActual(
        plan_id="plan-1",
        approved_by="Dr. Meyer",
        approved_at="2026-12-04T10:00:00+00:00",
        record="ab" * 32,
        low=40,
        high=95,
        copies_planned=["baseline", "next"],
        checks_planned={"SQL checks": 2},
    )
    result = PilotResult(run_id="r", scenario="s", started_at="2026-12-04T10:00:00+00:00", stages={"total": 130.0})
    measured = plans.measured(planned, result)
    assert measured.seconds == 130.0 and measured.well_past
    assert measured.said() == "2.2 min against the estimated 40 s to 1.6 min: the pilot ran well past the estimate"
    assert (
        plans.measured(planned, result.model_copy(update={"stages": {"total": 60.0}}))
        .said()
        .endswith("within the estimate")
    )
    fast = planned.model_copy(update={"low": 5.8, "high": 42.0, "seconds": 5.6})
    assert fast.said() == "5.6 s against the estimated 6 to 42 s: faster than estimated"  # as shown, not "6 s"


def test_what_a_pilot_ran_is_counted_by_the_kind_of_each_check():
    """Test ids name their file, not their kind: tests are counted by kind, parametrized cases each."""
    checks = [
        CheckResult(id="checks/test_db.py::test_counter[db-timed]", outcome=Outcome.PASSED, kind=Kind.TEST),
        CheckResult(id="checks/test_db.py::test_counter[db-req]", outcome=Outcome.PASSED, kind=Kind.TEST),
        CheckResult(id="verify:orders", outcome=Outcome.PASSED, kind=Kind.VERIFY),
        CheckResult(id="restore:db:backup/shop.sql", outcome=Outcome.PASSED, kind=Kind.RESTORE),
    ]
    observed = [Observation(id="sql:orders", service="db", outcome=Outcome.PASSED, kind=Kind.SQL)]
    baseline = CopyResult(variant="baseline", role="baseline", checks=checks, observations=[observed])
    result = PilotResult(run_id="r", scenario="s", started_at="2026-12-04T10:00:00+00:00", copies=[baseline])
    assert plans.scope_run(result) == {"tests (pytest + testinfra)": 2, "SQL checks": 1, "restore verifications": 1}


@pytest.mark.browser
def test_the_plan_looks_like_the_report_and_its_pdf_holds_the_estimate_and_the_promises(write_scenario, tmp_path):
    shop = loaded(write_scenario)
    made = plans.make(shop, tmp_path / "pilots", None, "", NOW)
    folder = tmp_path / made.plan_id
    made.write(folder)
    assert plans.render(made, folder) == []
    pixels = first_screen(folder / "plan.html", tmp_path / "plan.png")
    ink = pixels_of(pixels, (0x1D, 0x24, 0x30))  # the estimate's box, in the report's ink, where its verdict stands
    assert ink > 1_500, ink
    dom = pdf.chromium(["--dump-dom", (folder / "plan.html").as_uri()]).stdout
    assert '<div class="brand">Upgrade pilot plan — for approval before the lab</div>' in dom
    text = subprocess.run(
        ["pdftotext", "-layout", str(folder / "plan.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())
    assert f"Estimated lab time: {plans.span(made.estimate.low, made.estimate.high)}" in flat
    assert "no route out" in flat and "hashed (SHA-256) before and after" in flat and "Linen & Oak GmbH" in flat


def test_plan_options_name_known_candidates(write_scenario):
    with pytest.raises(Exception, match=r"plan.options.0.candidates: unknown candidate 'pg19'"):
        loaded(write_scenario, SCENARIO.replace("candidates: [pg17], hours: 3", "candidates: [pg19], hours: 3"))


def test_scenario_files_in_the_checkout_still_load_with_a_plan_key():
    assert scenario.load("demo", ROOT / "scenarios").plan.rate is None


def test_plan_inputs_hold_no_secret_and_no_path_of_this_machine(write_scenario, tmp_path):
    """The same scenario in another folder, with another password, is the same input: a
    pilot on the consultant's laptop runs under the plan made in CI."""
    shop = loaded(write_scenario)
    first = plans.inputs(shop, None)
    moved = tmp_path / "elsewhere" / "shop"
    shutil.copytree(shop.folder, moved)
    (moved / "secrets" / "db-password").write_text("another-horse-battery\n")
    assert plans.inputs(scenario.load(str(moved), moved.parent), None) == first
    assert {k: v for k, v in first.items() if k.startswith("image ")} == {
        "image debian:bookworm": "",  # no engine was asked: not compared
        "image debian:trixie": "",
        "image debian:forky": "",
    }
