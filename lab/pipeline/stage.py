"""Stage a copy of the stack: its names, its network and volumes, how each service's
container is run, and readiness (healthcheck, or running when it has none).

Readiness is polled: fast at first, backing off, never past the deadline, and it stops at
once when the run is cancelled. A container that exits is reported without waiting.
The order of the work (services wave by wave in `depends_on` order, the client's data
before the services that need it) is `lab.pipeline.copies`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from lab.cancel import Token
from lab.engine.types import ContainerSpec, ContainerState, EngineLike, labels
from lab.errors import NotReady
from lab.scenario import Variant
from lab.scenario.model import Healthcheck, Service

Clock = Callable[[], float]
LOG_LINES_ON_FAILURE = 15


@dataclass(frozen=True)
class CopyNames:
    """Docker names of one copy's objects; unique per run, so pilots never collide."""

    run_id: str
    variant: str

    @property
    def prefix(self) -> str:
        return f"lab-{self.run_id}-{self.variant}"

    @property
    def network(self) -> str:
        return f"{self.prefix}-net"

    def container(self, service: str) -> str:
        return f"{self.prefix}-{service}"

    def volume(self, name: str) -> str:
        return f"{self.prefix}-{name}"


def healthcheck_config(check: Healthcheck) -> dict[str, object]:
    """Docker's HealthConfig from the scenario's Compose-style healthcheck.

    >>> healthcheck_config(Healthcheck(test="pg_isready", interval=0.5))["test"]
    ['CMD-SHELL', 'pg_isready']
    """
    if isinstance(check.test, str):
        test = ["CMD-SHELL", check.test]
    elif check.test and check.test[0] in ("CMD", "CMD-SHELL", "NONE"):
        test = list(check.test)
    else:
        test = ["CMD", *check.test]
    ns = 1_000_000_000
    return {
        "test": test,
        "interval": max(int(check.interval * ns), 1_000_000),
        "timeout": max(int(check.timeout * ns), 1_000_000),
        "retries": check.retries,
        "start_period": int(check.start_period * ns),
    }


def container_spec(
    names: CopyNames, scenario: str, variant: str, service: str, svc: Service, image: str
) -> ContainerSpec:
    """How to run one service of one copy."""
    volumes = {}
    for entry in svc.volumes:
        vol, _, path = entry.partition(":")
        volumes[names.volume(vol)] = path.split(":")[0]
    return ContainerSpec(
        name=names.container(service),
        image=image,
        network=names.network,
        aliases=(service,),
        labels=labels(names.run_id, scenario, variant, service),
        environment=dict(svc.environment),
        command=svc.command,
        entrypoint=svc.entrypoint,
        user=svc.user,
        working_dir=svc.working_dir,
        volumes=volumes,
        healthcheck=healthcheck_config(svc.healthcheck) if svc.healthcheck else None,
        memory=svc.resources.memory,
        cpus=svc.resources.cpus,
        pids=svc.resources.pids,
    )


def create_copy(engine: EngineLike, scenario: str, variant: Variant, names: CopyNames) -> None:
    """The copy's own internal network and its volumes, before any of its containers."""
    run_labels = labels(names.run_id, scenario, variant.name)
    engine.create_network(names.network, run_labels)
    for vol in sorted({v.partition(":")[0] for s in variant.services.values() for v in s.volumes}):
        engine.create_volume(names.volume(vol), run_labels)


def wait_ready(
    engine: EngineLike,
    containers: dict[str, str],
    variant: str,
    timeout: float,
    token: Token,
    clock: Clock = time.monotonic,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Poll until every container is running and healthy (if it has a healthcheck), for
    at most `timeout` seconds.

    Raises NotReady naming the service, its state, its last probe output and its last log
    lines when the deadline passes or the container exits; the token's error when it is set.
    """
    deadline = clock() + timeout
    waiting = dict(containers)
    delay = 0.02
    while waiting:
        token.check()
        for service, container in list(waiting.items()):
            state = engine.state(container)
            if state.status in ("exited", "dead"):
                raise NotReady(
                    _not_ready(engine, service, container, variant, state, f"exited with code {state.exit_code}")
                )
            if state.status == "running" and state.health in (None, "healthy"):
                del waiting[service]
                if on_ready:
                    on_ready(service)
        if not waiting:
            return
        if clock() >= deadline:
            service, container = next(iter(waiting.items()))
            raise NotReady(
                _not_ready(
                    engine, service, container, variant, engine.state(container), f"not ready after {timeout:g} s"
                )
            )
        if token.wait(min(delay, max(deadline - clock(), 0.0))):
            token.check()
        delay = min(delay * 1.5, 0.5)


def _not_ready(engine: EngineLike, service: str, container: str, variant: str, state: ContainerState, what: str) -> str:
    health = f"health={state.health}" if state.health else "no healthcheck"
    probe = f"\n  last health probe output: {state.health_output}" if state.health_output else ""
    log = engine.logs(container, tail=LOG_LINES_ON_FAILURE).rstrip()
    log_text = ("\n    " + log.replace("\n", "\n    ")) if log else " (none)"
    return (
        f"service '{service}' ({variant}) {what}: status={state.status}, {health}{probe}\n"
        f"  last log lines:{log_text}\n"
        "  Hint: check the service's command and healthcheck in the scenario; `--keep` leaves the copy up to look."
    )
