"""Engine tests: real pilots through the real command line, against the real engine."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from lab.engine.types import RUN
from tests.conftest import ROOT
from tests.integration.engines import SecondEngine, copy_images


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    run_dir: Path | None

    @property
    def run_id(self) -> str:
        assert self.run_dir is not None, self.stderr
        return self.run_dir.name


@pytest.fixture(scope="session")
def client() -> docker.DockerClient:
    try:
        c = docker.from_env()
        c.ping()
    except docker.errors.DockerException as err:
        pytest.fail(f"engine tests need a Docker engine (run `invoke engine`): {err}")
    return c


def invoke(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run `invoke <args>` in the project root, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, **(env or {})),
        timeout=timeout,
    )


@pytest.fixture
def pilot(tmp_path: Path, client: docker.DockerClient):
    """Run `invoke pilot <scenario> --out tmp`; afterwards, nothing of the run may be left."""
    runs: list[tuple[Finished, tuple[str, ...]]] = []

    def run(scenario: str, *extra: str, env: dict[str, str] | None = None) -> Finished:
        out = tmp_path / f"pilots{len(runs)}"
        proc = invoke("pilot", scenario, "--out", str(out), *extra, env=env)
        folders = sorted(out.glob("*/*")) if out.exists() else []
        finished = Finished(proc.returncode, proc.stdout, proc.stderr, folders[-1] if folders else None)
        runs.append((finished, extra))
        return finished

    yield run
    for finished, extra in runs:
        if finished.run_dir is None:
            continue
        if "--keep" in extra:  # kept on purpose: removed here even when the test failed early
            invoke("down", finished.run_id)
        else:
            assert leftovers(client, finished.run_id) == [], f"run {finished.run_id} left objects behind"


def leftovers(client: docker.DockerClient, run_id: str) -> list[str]:
    """Every container, network and volume that carries the run's label."""
    flt = {"label": f"{RUN}={run_id}"}
    return (
        [f"container {c.name}" for c in client.containers.list(all=True, filters=flt)]
        + [f"network {n.name}" for n in client.networks.list(filters=flt)]
        + [f"volume {v.name}" for v in client.volumes.list(filters=flt)]
    )


def scenario_path(name: str) -> str:
    return str(ROOT / "tests" / "scenarios" / name)


@contextlib.contextmanager
def background_pilot(tmp_path: Path, scenario: str, *extra: str, env: dict[str, str] | None = None):
    """`invoke pilot <scenario>` running in the background; killed at the end if still running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "pilot", scenario_path(scenario), "--out", str(tmp_path), *extra],
        cwd=ROOT,
        env=dict(os.environ, **(env or {})),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stderr.close()


def docker_api():
    return docker.APIClient(**docker.utils.kwargs_from_env())


def until(condition, what: str, timeout: float = 60):
    """Poll `condition` with a deadline; returns its first true value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout:g} s")


@pytest.fixture(scope="session")
def second_engine(client: docker.DockerClient):
    """A second dockerd on its own socket, holding the Debian base images; removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a second dockerd on this machine needs root")
    engine = SecondEngine()
    try:
        with contextlib.closing(engine.start()) as target:
            copy_images(client, target, "debian:bookworm", "debian:trixie")
        yield engine
    finally:
        engine.remove()
