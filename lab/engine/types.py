"""The plain data and the protocol of the engine: what the rest of the lab works with.

Every object a run creates carries the labels of `labels()`; cleanup finds objects by label,
never by name pattern. `EngineLike` is the adapter's surface: `lab.engine.client.Engine`
provides it against Docker, `tests/fake_engine.py` in memory (both type-checked against it).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from lab.engine.streams import Stream

NS = "io.upgrade-pilot-lab"
RUN = f"{NS}.run"
SCENARIO = f"{NS}.scenario"
VARIANT = f"{NS}.variant"
SERVICE = f"{NS}.service"
KEEP = f"{NS}.keep"
INPUTS = f"{NS}.inputs"
OWNER = f"{NS}.owner"  # host:pid of the pilot that created the object
STARTED = f"{NS}.started"  # when that pilot started (Unix time)

FOREIGN_RUN_GRACE = 12 * 3600  # a run owned by another host is presumed alive this long
_STARTED = str(int(time.time()))
Labelled = tuple[str, str, dict[str, str]]  # (kind, name, labels)


def labels(run_id: str, scenario: str, variant: str = "", service: str = "") -> dict[str, str]:
    """The labels every object of a run carries.

    >>> labels("r1", "demo", "baseline")[RUN]
    'r1'
    """
    out = {RUN: run_id, SCENARIO: scenario, OWNER: f"{socket.gethostname()}:{os.getpid()}", STARTED: _STARTED}
    if variant:
        out[VARIANT] = variant
    if service:
        out[SERVICE] = service
    return out


@dataclass(frozen=True)
class ContainerSpec:
    """What to run: a service of one copy, on that copy's network."""

    name: str
    image: str
    network: str
    aliases: tuple[str, ...]
    labels: dict[str, str]
    environment: dict[str, str] = field(default_factory=dict)
    command: list[str] | str | None = None
    entrypoint: list[str] | str | None = None
    user: str | None = None
    working_dir: str | None = None
    volumes: dict[str, str] = field(default_factory=dict)  # volume name -> mount path
    healthcheck: dict[str, Any] | None = None  # Docker's HealthConfig, durations in ns
    memory: int | None = None  # bytes
    cpus: float | None = None
    pids: int | None = None


@dataclass(frozen=True)
class ContainerState:
    """The part of `docker inspect` that readiness needs."""

    status: str  # created, running, exited, dead, ...
    exit_code: int
    health: str | None  # None when the container has no healthcheck
    health_output: str  # output of the last health probe


@dataclass(frozen=True)
class ExecResult:
    """A command's end inside a container, with the round trip it took."""

    exit_code: int
    stdout: str
    stderr: str
    seconds: float


@dataclass(frozen=True)
class RunObjects:
    """What the engine holds of one run, found by label."""

    run_id: str
    scenario: str
    kept_until: int  # kept with --keep until then (seconds since the epoch); 0: not kept
    owner: str
    started: int
    containers: tuple[str, ...]
    networks: tuple[str, ...]
    volumes: tuple[str, ...]

    def __str__(self) -> str:
        return f"{len(self.containers)} containers, {len(self.networks)} networks, {len(self.volumes)} volumes"

    def __bool__(self) -> bool:
        return bool(self.containers or self.networks or self.volumes)

    @property
    def kept(self) -> bool:
        """Kept with --keep, and the time it was kept for has not run out."""
        return self.kept_until > time.time()

    def owner_running(self) -> bool:
        """True while the pilot that made these objects still runs. A pilot on another
        host (a shared engine) cannot be asked, so it is presumed alive for a while."""
        host, _, pid = self.owner.rpartition(":")
        if host != socket.gethostname():
            return bool(host) and time.time() - self.started < FOREIGN_RUN_GRACE
        if not pid.isdigit():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def run_objects(run_id: str, items: list[Labelled]) -> RunObjects:
    def first(key: str) -> str:
        return next((lbls[key] for _, _, lbls in items if lbls.get(key)), "")

    def names(kind: str) -> tuple[str, ...]:
        return tuple(name for k, name, _ in items if k == kind)

    return RunObjects(
        run_id=run_id,
        scenario=first(SCENARIO),
        kept_until=int(first(KEEP)) if first(KEEP).isdigit() else 0,
        owner=first(OWNER),
        started=int(first(STARTED) or 0),
        containers=names("container"),
        networks=names("network"),
        volumes=names("volume"),
    )


def shown_url(url: str) -> str:
    """An engine's URL as a person reads it.

    >>> shown_url(""), shown_url("ssh://lab@pilot2")
    ('the local engine', 'ssh://lab@pilot2')
    """
    return url or "the local engine"


class EngineLike(Protocol):
    """The adapter's surface; the real Engine and the test fake both provide it."""

    url: str  # where the engine answers, as DOCKER_HOST would say it ("" for the local default)

    def image_id(self, tag: str) -> str | None: ...
    def build(
        self,
        context: Path,
        dockerfile: str,
        args: dict[str, str],
        tag: str,
        labels: dict[str, str],
        deadline: float = ...,
    ) -> str: ...
    def image_summary(self, image: str) -> dict[str, str]: ...
    def create_network(self, name: str, labels: dict[str, str]) -> None: ...
    def create_volume(self, name: str, labels: dict[str, str]) -> None: ...
    def create(self, spec: ContainerSpec) -> None: ...
    def begin(self, container: str) -> None: ...
    def start(self, spec: ContainerSpec) -> None: ...
    def remove(self, container: str) -> None: ...
    def put_archive(self, container: str, path: str, data: IO[bytes] | Iterable[bytes]) -> None: ...
    def listing(self, container: str, folder: str) -> list[str]: ...
    def exists(self, container: str, path: str) -> bool: ...
    def attach(self, container: str, argv: list[str], user: str | None = None) -> tuple[Stream, str]: ...
    def exit_code(self, exec_id: str) -> int | None: ...
    def state(self, container: str) -> ContainerState: ...
    def logs(self, container: str, tail: int | None = None) -> str: ...
    def mark_kept(self, run_id: str, until: float) -> None: ...
    def runs(self) -> list[RunObjects]: ...
    def remove_run(self, run_id: str) -> RunObjects: ...
    def ping(self) -> None: ...
    def identity(self) -> str: ...
