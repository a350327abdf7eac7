"""lab/pipeline/stage.py: start order, readiness with deadlines and diagnostics, copy naming."""

from __future__ import annotations

import itertools
import os
import threading
import time

import pytest

from lab.cancel import Token
from lab.engine.types import RUN, VARIANT, ContainerState
from lab.errors import Interrupted, NotReady, ScenarioError
from lab.pipeline import stage
from lab.pipeline.stage import CopyNames, healthcheck_config
from lab.scenario import Variant, start_order
from lab.scenario.model import Healthcheck, Service
from tests.fake_engine import HEALTHY, FakeEngine

STARTING = ContainerState("running", 0, "starting", "")
UNHEALTHY = ContainerState("running", 0, "unhealthy", "could not connect to server: Connection refused")
EXITED = ContainerState("exited", 3, None, "")


def ticking(step: float = 1.0):
    """A clock that advances `step` seconds on every reading."""
    counter = itertools.count()
    return lambda: next(counter) * step


VARIANT_SPEC = Variant(
    "baseline",
    "baseline",
    "",
    {
        "app": Service(image="app:1", depends_on=["db"], healthcheck=Healthcheck(test=["CMD", "true"])),
        "db": Service(image="db:1", volumes=["pgdata:/var/lib/pg"], healthcheck=Healthcheck(test="pg_isready")),
    },
)


def test_start_order_respects_depends_on_and_finds_cycles():
    assert start_order(VARIANT_SPEC.services) == [["db"], ["app"]]
    with pytest.raises(ScenarioError, match="cycle"):
        start_order({"a": Service(image="x", depends_on=["b"]), "b": Service(image="x", depends_on=["a"])})


def test_healthcheck_config_in_nanoseconds():
    cfg = healthcheck_config(Healthcheck(test=["pg_isready", "-q"], interval=0.25, timeout=2, retries=5))
    assert cfg == {
        "test": ["CMD", "pg_isready", "-q"],
        "interval": 250_000_000,
        "timeout": 2_000_000_000,
        "retries": 5,
        "start_period": 0,
    }


def staged(engine: FakeEngine, names: CopyNames, timeout: float = 60, clock=time.monotonic, token=None) -> list[str]:
    """The copy's network and volumes, then its services wave by wave, as lab.pipeline.copies does."""
    ready: list[str] = []
    stage.create_copy(engine, "shop", VARIANT_SPEC, names)
    for wave in start_order(VARIANT_SPEC.services):
        for service in wave:
            spec = stage.container_spec(names, "shop", "baseline", service, VARIANT_SPEC.services[service], "img:1")
            engine.start(spec)
        containers = {s: names.container(s) for s in wave}
        stage.wait_ready(engine, containers, names.variant, timeout, token or Token(), clock, on_ready=ready.append)
    return ready


def test_a_copy_has_labelled_objects_and_its_services_are_awaited_for_health():
    engine = FakeEngine(scripts={"db": [STARTING, STARTING, HEALTHY]})
    assert staged(engine, CopyNames("r1", "baseline")) == ["db", "app"]
    assert set(engine.containers) == {"lab-r1-baseline-db", "lab-r1-baseline-app"}
    assert list(engine.volumes) == ["lab-r1-baseline-pgdata"]
    volume_labels = engine.volumes["lab-r1-baseline-pgdata"]
    assert volume_labels[RUN] == "r1" and volume_labels[VARIANT] == "baseline"
    assert volume_labels["io.upgrade-pilot-lab.scenario"] == "shop"
    assert volume_labels["io.upgrade-pilot-lab.owner"].endswith(f":{os.getpid()}")
    db = engine.containers["lab-r1-baseline-db"]
    assert db.aliases == ("db",) and db.network == "lab-r1-baseline-net"
    assert db.volumes == {"lab-r1-baseline-pgdata": "/var/lib/pg"}
    assert engine.polls["lab-r1-baseline-db"] == 3


def test_timeout_names_service_health_probe_and_log_lines():
    engine = FakeEngine(
        scripts={"db": [UNHEALTHY]},
        service_logs={"db": "\n".join(f"line {i}" for i in range(40)) + "\nFATAL: bad config"},
    )
    with pytest.raises(NotReady) as info:
        staged(engine, CopyNames("r1", "baseline"), timeout=5, clock=ticking())
    message = str(info.value)
    assert message.startswith("service 'db' (baseline) not ready after 5 s: status=running, health=unhealthy")
    assert "last health probe output: could not connect to server" in message
    assert "FATAL: bad config" in message and "line 26" in message and "line 25" not in message
    assert "lab-r1-baseline-app" not in engine.containers  # never started: its dependency was not ready


def test_exited_container_fails_at_once_with_exit_code():
    engine = FakeEngine(scripts={"db": [EXITED]}, service_logs={"db": "initdb: error"})
    engine.start(stage.container_spec(CopyNames("r", "v"), "s", "v", "db", VARIANT_SPEC.services["db"], "db:1"))
    with pytest.raises(NotReady, match=r"exited with code 3(.|\n)*initdb: error"):
        stage.wait_ready(engine, {"db": "lab-r-v-db"}, "v", 60, Token())
    assert engine.polls["lab-r-v-db"] == 1


def test_a_set_token_stops_the_wait_with_its_reason():
    engine = FakeEngine(scripts={"db": [STARTING]})
    token = Token()
    threading.Timer(0.3, token.cancel, [Interrupted("interrupted (SIGINT)")]).start()
    start = time.monotonic()
    with pytest.raises(Interrupted, match=r"interrupted \(SIGINT\)"):
        staged(engine, CopyNames("r", "v"), token=token)
    assert time.monotonic() - start < 1.3  # within a second of the token being set
