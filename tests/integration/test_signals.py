"""Ctrl-C reaches every stage of a real pilot, also when the pilot was started from a
background job (`bash -c 'invoke pilot … &'`), which inherits SIGINT as ignored: the lab
installs its handlers explicitly. Each case waits until the pilot is inside the stage —
a service that never becomes ready, a restore and an upgrade step and checks and a
replayed statement that would take ten minutes, a build step of a minute — then sends
SIGINT and requires exit 130 within 5 s, nothing labelled with the run left in the engine,
and a run folder that says where the pilot stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import docker
import pytest

from lab.engine.types import RUN
from tests.conftest import ROOT
from tests.integration.conftest import leftovers, scenario_path, until
from tests.integration.test_faults import running

pytestmark = pytest.mark.docker

SLOW_DECLARATIVE = "checks.command=[{name: nightly export, service: app, run: sleep 600, timeout: 600s}]"
SLOW_REPLAY = "replay=[{file: traffic/slow.log, service: db, timeout: 600s}]"  # a statement that takes 10 min
CASES = {  # stage: (scenario, --set values, what runs in a container once the pilot is inside it, where it stopped)
    "readiness": ("slow-start", [], "", "copies (baseline: start"),
    "restore": ("slow-restore", ["backup.db.0.timeout=600s"], "--output=/dev/null", "restore"),
    "upgrade step": ("upgrade", ["upgrade.steps.1.run=sleep 600"], "sleep 600", "upgrade"),
    "tests": ("slow-checks", [], "sleep 60", "checks"),
    "declarative checks": ("slow-checks", [SLOW_DECLARATIVE, "checks.testinfra=[]"], "sleep 600", "checks"),
    "build": ("slow-build", ["timeouts.build=600s"], "", "build"),
    "replay": ("sql-dialects", [SLOW_REPLAY, "checks.sql=[]"], "SLEEP(600)", "checks"),
}


def building(client: docker.DockerClient) -> bool:
    """A step of the slow-build scenario's image build runs (its container has no labels).
    Listed without inspecting each container: build steps come and go meanwhile."""
    return any("sleep 60" in c["Command"] for c in client.api.containers())


def inside(client: docker.DockerClient, stage: str, scenario: str, command: str, out) -> bool:
    if stage == "build":
        return building(client)
    runs = list(out.glob(f"{scenario}/*"))
    if not runs:
        return False
    if not command:  # readiness: every container of the run exists, none is ready
        return len(client.api.containers(all=True, filters={"label": f"{RUN}={runs[0].name}"})) == 2
    if stage == "replay":  # the replayed statement runs in the server, not as a process of its own
        return replaying(client, runs[0].name, command)
    return running(client, scenario, command) == runs[0].name


def replaying(client: docker.DockerClient, run_id: str, statement: str) -> bool:
    """The baseline's MariaDB runs the replayed statement right now."""
    try:
        found = client.containers.get(f"lab-{run_id}-baseline-db").exec_run(
            ["mariadb", "--batch", "--skip-column-names", "--execute=SELECT info FROM information_schema.processlist"]
        )
    except docker.errors.APIError:
        return False
    return statement in found.output.decode(errors="replace")


def test_a_background_job_inherits_sigint_as_ignored():
    """The premise of the test below, on this machine's bash."""
    status = subprocess.run(
        ["bash", "-c", "cat /proc/self/status & wait"], capture_output=True, text=True, check=True
    ).stdout
    ignored = int(next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16)
    assert ignored & (1 << (signal.SIGINT - 1))


@pytest.mark.parametrize("stage", list(CASES))
def test_ctrl_c_from_a_background_job_stops_the_pilot_within_5_s(tmp_path, client, stage):
    scenario, sets, command, where = CASES[stage]
    args = [scenario_path(scenario), "--out", str(tmp_path)] + [f"--set={s}" for s in sets]
    # `&` in a shell without job control: the pilot inherits SIGINT as ignored
    shell = subprocess.Popen(
        ["bash", "-c", 'exec 3>&1; "$@" 2>"$LAB_ERR" & echo $! >&3; wait $!', "bash"]
        + [sys.executable, "-m", "invoke", "pilot", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env=dict(os.environ, LAB_ERR=str(tmp_path / "stderr")),
        text=True,
    )
    pid = int(shell.stdout.readline())
    try:
        until(lambda: shell.poll() is None and inside(client, stage, scenario, command, tmp_path), f"the {stage}", 240)
        sent = time.monotonic()
        os.kill(pid, signal.SIGINT)
        assert shell.wait(timeout=30) == 130
        took = time.monotonic() - sent
    finally:
        if shell.poll() is None:  # the test failed: the pilot still tears down on SIGTERM
            os.kill(pid, signal.SIGTERM)
            shell.wait(timeout=60)
        shell.stdout.close()
    err = (tmp_path / "stderr").read_text()
    assert took < 5, f"{stage}: exit {took:.1f} s after SIGINT"
    assert "interrupted (SIGINT)" in err and "Traceback" not in err, err
    (run_dir,) = tmp_path.glob("*/*")
    assert leftovers(client, run_dir.name) == []
    results = json.loads((run_dir / "results.json").read_text())
    assert results["exit_code"] == 130 and results["incomplete"] and "interrupted (SIGINT)" in results["error"]
    stopped = results["stage"] + " " + " ".join(f"({c['variant']}: {c['stage']}" for c in results["copies"])
    assert where in stopped, stopped
    if stage == "build":
        until(lambda: not building(client), "the engine stopped the abandoned build", timeout=90)
