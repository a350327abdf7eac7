"""lab/stage.py: start order, readiness with deadlines and diagnostics, copy naming."""

from __future__ import annotations

import itertools
import os
import threading

import pytest

from lab.engine import RUN, VARIANT, ContainerState
from lab.errors import Interrupted, NotReady, ScenarioError
from lab.model import Healthcheck, Service
from lab.scenario import Variant, start_order
from lab.stage import CopyNames, healthcheck_config, stage_copy, wait_ready
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


def test_stage_copy_creates_labelled_objects_and_waits_for_health():
    engine = FakeEngine(scripts={"db": [STARTING, STARTING, HEALTHY]})
    names = CopyNames("r1", "baseline")
    ready = []
    stage_copy(
        engine,
        "shop",
        VARIANT_SPEC,
        names,
        {"app": "app:1", "db": "db:1"},
        60,
        threading.Event(),
        on_ready=lambda s, t: ready.append(s),
    )
    assert ready == ["db", "app"]
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
        stage_copy(
            engine,
            "shop",
            VARIANT_SPEC,
            CopyNames("r1", "baseline"),
            {"app": "a", "db": "d"},
            5,
            threading.Event(),
            clock=ticking(),
        )
    message = str(info.value)
    assert message.startswith("service 'db' (baseline) not ready after 5 s: status=running, health=unhealthy")
    assert "last health probe output: could not connect to server" in message
    assert "FATAL: bad config" in message and "line 26" in message and "line 25" not in message
    assert "lab-r1-baseline-app" not in engine.containers  # never started: its dependency was not ready


def test_exited_container_fails_at_once_with_exit_code():
    engine = FakeEngine(scripts={"db": [EXITED]}, service_logs={"db": "initdb: error"})
    engine.start(
        __import__("lab.stage", fromlist=["x"]).container_spec(
            CopyNames("r", "v"), "s", "v", "db", VARIANT_SPEC.services["db"], "db:1"
        )
    )
    with pytest.raises(NotReady, match=r"exited with code 3(.|\n)*initdb: error"):
        wait_ready(engine, {"db": "lab-r-v-db"}, "v", deadline=1e9, timeout=60, cancelled=threading.Event())
    assert engine.polls["lab-r-v-db"] == 1


def test_cancel_stops_the_wait():
    engine = FakeEngine(scripts={"db": [STARTING]})
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(Interrupted):
        stage_copy(engine, "s", VARIANT_SPEC, CopyNames("r", "v"), {"app": "a", "db": "d"}, 60, cancelled)
