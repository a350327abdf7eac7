"""Faults a pilot must survive: a hanging restore, an engine that goes away. After each,
the engine is searched by label for what the run left (nothing)."""

from __future__ import annotations

import json
from contextlib import closing

import docker
import pytest

from lab.engine.types import RUN
from tests.integration.conftest import background_pilot, invoke, leftovers, scenario_path, until

pytestmark = pytest.mark.docker


def running(client: docker.DockerClient, scenario: str, command: str) -> str | None:
    """The run id of a pilot of `scenario` whose containers run `command` right now. Listed
    without inspecting each container: containers come and go meanwhile."""
    for c in client.api.containers(filters={"label": f"io.upgrade-pilot-lab.scenario={scenario}"}):
        try:
            processes = client.api.top(c["Id"])["Processes"] or []
        except docker.errors.APIError:
            continue  # the container went away meanwhile
        if any(command in " ".join(p) for p in processes):
            return str(c["Labels"][RUN])
    return None


def results_of(tmp_path) -> dict:
    return json.loads(next(tmp_path.glob("*/*/results.json")).read_text())


def test_a_hanging_restore_is_stopped_at_its_deadline(pilot):
    done = pilot(scenario_path("slow-restore"))
    assert done.code == 1, done.stderr
    results = json.loads((done.run_dir / "results.json").read_text())
    (restore,) = [r for r in results["copies"][0]["restores"]]
    assert not restore["ok"] and "did not finish within 6 s" in restore["message"], restore
    assert 6 <= restore["seconds"] < 20


def test_an_engine_that_goes_away_mid_pilot(tmp_path, second_engine):
    env = {"DOCKER_HOST": second_engine.url}
    with (
        background_pilot(tmp_path, "slow-checks", env=env) as proc,
        closing(docker.DockerClient(second_engine.url)) as engine2,
    ):
        run_id = until(lambda: running(engine2, "slow-checks", "sleep 60"), "a check started on the second engine")
        second_engine.crash()
        assert proc.wait(timeout=120) == 2
        err = proc.stderr.read()
    assert "the Docker engine stopped answering" in err and "Traceback" not in err
    results = results_of(tmp_path)
    assert results["exit_code"] == 2 and results["incomplete"] and results["stage"] == "copies"
    assert "`invoke gc` removes what this run left" in results["error"]
    assert (next(tmp_path.glob("*/*")) / "report.html").is_file()  # the evidence so far, readable
    with closing(second_engine.start()) as engine2:
        assert leftovers(engine2, run_id), "a crashed engine keeps the run's objects until gc"
        gc = invoke("gc", env=env)
        assert gc.returncode == 0 and f"removed run {run_id}" in gc.stderr, gc.stderr
        assert leftovers(engine2, run_id) == []
