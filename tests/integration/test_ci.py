"""The lab in CI: no terminal, values given on the command line, a matrix of candidates,
machine-readable outcomes where the pipeline wants them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from contextlib import closing

import docker
import pytest
import yaml

from tests.integration.conftest import invoke, leftovers, scenario_path

pytestmark = pytest.mark.docker


def test_a_ci_run_of_a_three_candidate_matrix(tmp_path, client):
    out = tmp_path / "artefacts"
    matrix = "candidates.trixie.services.app.environment.GREETING=hello,hallo,hej"
    proc = invoke(
        "pilot",
        scenario_path("passing"),
        "--out",
        str(tmp_path / "pilots"),
        "--matrix",
        matrix,
        "--junit",
        str(out / "junit.xml"),
        "--json",
        str(out / "results.json"),
        env={"CI": "true"},
    )
    assert proc.returncode == 1, proc.stderr  # two of the three candidates greet differently
    assert "\r" not in proc.stderr and "\x1b[" not in proc.stderr  # no progress animation without a terminal
    results = json.loads((out / "results.json").read_text())
    verdicts = {c["candidate"]: c["verdict"] for c in results["candidates"]}
    assert verdicts == {"trixie-hello": "PASS", "trixie-hallo": "FAIL", "trixie-hej": "FAIL"}
    assert results["verdict"] == "FAIL" and results["exit_code"] == 1
    assert results["overrides"] == [f"--matrix {matrix}"]
    copies = results["copies"]
    assert len(copies) == 4 and max(c["began"] for c in copies) < min(c["ended"] for c in copies)  # all at once
    failed = {
        (suite.get("name"), case.get("name"))
        for suite in ET.parse(out / "junit.xml").getroot()
        for case in suite
        if case.find("failure") is not None
    }
    assert ("passing.trixie-hallo", "checks/test_stack.py::test_greeting[app]") in failed
    assert not any(suite.startswith("passing.trixie-hello") for suite, _ in failed)
    run_dir = tmp_path / "pilots" / "passing" / results["run_id"]
    assert (run_dir / "report.pdf").is_file() and (run_dir / "junit.xml").read_bytes() == (
        out / "junit.xml"
    ).read_bytes()
    effective = yaml.safe_load((run_dir / "scenario.effective.yml").read_text())
    assert sorted(effective["candidates"]) == ["trixie-hallo", "trixie-hej", "trixie-hello"]
    assert leftovers(client, results["run_id"]) == []


def test_a_bad_override_stops_before_anything_starts(tmp_path):
    proc = invoke("pilot", scenario_path("passing"), "--out", str(tmp_path), "--set", "services.app.imgae=x")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --set services.app.imgae=x: services.app.imgae: unknown key — did you mean")
    assert not tmp_path.joinpath("passing").exists()


def test_two_engines_share_one_pilot(tmp_path, client, second_engine):
    local = "unix:///var/run/docker.sock"  # the first engine (the engine tests run as root, on its socket)
    proc = invoke(
        "pilot",
        scenario_path("passing"),
        "--out",
        str(tmp_path),
        "--matrix",
        "candidates.trixie.services.app.environment.GREETING=hello,hallo",
        env={"LAB_ENGINES": f"{local},{second_engine.url}"},
    )
    assert proc.returncode == 1, proc.stderr
    results = json.loads(next(tmp_path.glob("passing/*/results.json")).read_text())
    placed = {c["variant"]: c["engine"] for c in results["copies"]}
    assert placed == {"baseline": local, "trixie-hello": second_engine.url, "trixie-hallo": local}
    assert {c["candidate"]: c["verdict"] for c in results["candidates"]} == {
        "trixie-hello": "PASS",
        "trixie-hallo": "FAIL",
    }
    with closing(docker.DockerClient(base_url=second_engine.url)) as engine2:
        assert leftovers(engine2, results["run_id"]) == [] and leftovers(client, results["run_id"]) == []


def test_a_ci_pilot_reuses_an_unchanged_baseline(tmp_path, client):
    greeting = "candidates.trixie.services.app.environment.GREETING"
    first = invoke("pilot", scenario_path("passing"), "--out", str(tmp_path), "--set", f"{greeting}=hello")
    assert first.returncode == 0, first.stderr
    (earlier,) = tmp_path.glob("passing/*")
    # the next release: only the candidate changed, so the baseline's observations stand
    again = invoke(
        "pilot", scenario_path("passing"), "--out", str(tmp_path), "--set", f"{greeting}=hallo", "--reuse-baseline"
    )
    assert again.returncode == 1, again.stderr
    assert f"baseline: the observations of run {earlier.name} are reused" in again.stderr
    assert "baseline: app ready" not in again.stderr and "baseline: checks done" not in again.stderr
    later = next(p for p in tmp_path.glob("passing/*") if p != earlier)
    results = json.loads((later / "results.json").read_text())
    assert results["baseline_reused_from"] == earlier.name
    (cand,) = results["candidates"]
    assert cand["verdict"] == "FAIL" and any(c["status"] == "regression" for c in cand["comparisons"])
    assert leftovers(client, results["run_id"]) == []
    listed = invoke("history", "--scenario", "passing", "--out", str(tmp_path))
    rows = listed.stdout.splitlines()
    assert rows[0].split()[:4] == ["RUN", "STARTED", "(UTC)", "SCENARIO"] and len(rows) == 3, listed.stdout
    assert rows[1].startswith(later.name) and "trixie FAIL" in rows[1]
    assert rows[2].startswith(earlier.name) and "trixie PASS" in rows[2]


def test_an_engine_that_does_not_answer_is_named(tmp_path, client):
    local, missing = "unix:///var/run/docker.sock", f"unix://{tmp_path}/no-engine.sock"
    refused = invoke("pilot", scenario_path("passing"), "--out", str(tmp_path), "--engine", local, "--engine", missing)
    assert refused.returncode == 2
    assert f"no Docker engine answers at {missing}" in refused.stderr and "--skip-unreachable" in refused.stderr
    assert not (tmp_path / "passing").exists()  # nothing started
    done = invoke(
        "pilot",
        scenario_path("passing"),
        "--out",
        str(tmp_path),
        "--skip-unreachable",
        env={"LAB_ENGINES": f"{local},{missing}"},
    )
    assert done.returncode == 0, done.stderr
    assert (
        f"note: no Docker engine answers at {missing}" in done.stderr and "running on the other engines" in done.stderr
    )


def test_three_candidates_upgrade_from_and_roll_back_into_one_baseline_as_when_alone(tmp_path, client):
    """Each candidate dumps the baseline's database into its own (upgrade) and later drops
    and reloads the baseline's (rollback). Run together, no candidate may read a baseline that
    another's rollback dropped: each gets the verdict it gets when run alone."""
    matrix = ["--matrix", "candidates.pg17.services.db.environment.LAB_MATRIX=a,b,c"]

    def verdicts(out, *extra: str) -> dict[str, tuple[str, str]]:
        proc = invoke("pilot", scenario_path("upgrade"), "--out", str(out), *matrix, *extra)
        results = json.loads(next(out.glob("*/*/results.json")).read_text())
        assert leftovers(client, results["run_id"]) == []
        assert proc.returncode == results["exit_code"], proc.stderr
        return {c["candidate"]: (c["verdict"], c["reason"]) for c in results["candidates"]}

    together = verdicts(tmp_path / "together")
    assert set(together) == {"pg17-a", "pg17-b", "pg17-c"}
    alone: dict[str, tuple[str, str]] = {}
    for name in sorted(together):
        alone |= verdicts(tmp_path / name, "--candidate", name)
    assert together == alone
    assert {verdict for verdict, _ in together.values()} == {"PASS"}
