"""An in-memory stand-in for lab.engine.Engine, for unit tests without Docker.

Containers follow a scripted life: each service can be given the sequence of states that
successive `state()` calls return (the last one repeats), and log text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lab.engine import KEEP, RUN, SERVICE, ContainerSpec, ContainerState, ExecResult, RunObjects
from lab.errors import BuildFailed, EngineError, EngineUnavailable

RUNNING = ContainerState("running", 0, None, "")
HEALTHY = ContainerState("running", 0, "healthy", "")


@dataclass
class FakeEngine:
    images: dict[str, str] = field(
        default_factory=lambda: {"debian:bookworm": "sha256:b12", "debian:trixie": "sha256:b13"}
    )
    scripts: dict[str, list[ContainerState]] = field(default_factory=dict)  # service -> states
    service_logs: dict[str, str] = field(default_factory=dict)
    fail_builds: dict[str, str] = field(default_factory=dict)  # tag prefix -> error
    builds: list[str] = field(default_factory=list)
    containers: dict[str, ContainerSpec] = field(default_factory=dict)
    networks: dict[str, dict[str, str]] = field(default_factory=dict)
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    execs: list[tuple[str, list[str]]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    gone: bool = False  # the engine stopped answering: ping() says so
    url: str = ""

    def identity(self) -> str:
        return f"fake:{self.url}"

    def ping(self) -> None:
        if self.gone:
            raise EngineUnavailable("the Docker engine stopped answering (connection refused)")

    def image_id(self, tag: str) -> str | None:
        return self.images.get(tag)

    def build(
        self,
        context: Path,
        dockerfile: str,
        args: dict[str, str],
        tag: str,
        labels: dict[str, str],
        deadline: float = 1800.0,
    ) -> str:
        for prefix, error in self.fail_builds.items():
            if tag.startswith(prefix):
                raise BuildFailed(error)
        self.builds.append(tag)
        self.images[tag] = f"sha256:{len(self.images):064d}"
        return self.images[tag]

    def image_summary(self, image: str) -> dict[str, str]:
        return {"id": self.images.get(image, ""), "created": ""}

    def create_network(self, name: str, labels: dict[str, str]) -> None:
        self.networks[name] = labels

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self.volumes[name] = labels

    def create(self, spec: ContainerSpec) -> None:
        if spec.name in self.containers:
            raise EngineError(f"Conflict: the container name {spec.name} is already in use")
        self.containers[spec.name] = spec

    def begin(self, container: str) -> None:
        self.started.append(container)

    def start(self, spec: ContainerSpec) -> None:
        self.create(spec)
        self.begin(spec.name)

    def state(self, container: str) -> ContainerState:
        spec = self.containers[container]
        script = self.scripts.get(spec.labels[SERVICE], [HEALTHY if spec.healthcheck else RUNNING])
        n = self.polls.get(container, 0)
        self.polls[container] = n + 1
        return script[min(n, len(script) - 1)]

    def exec(
        self, container: str, argv: list[str], env: dict[str, str] | None = None, user: str | None = None
    ) -> ExecResult:
        """Commands answer nothing here (an image without tools); probes are tested apart."""
        self.execs.append((container, argv))
        return ExecResult(0, "", "", 0.001)

    def logs(self, container: str, tail: int | None = None) -> str:
        if container not in self.containers:
            raise EngineError(f"No such container: {container}")
        text = self.service_logs.get(self.containers[container].labels[SERVICE], "")
        lines = text.splitlines()
        return "\n".join(lines[-tail:] if tail else lines)

    def mark_kept(self, run_id: str, until: float) -> None:
        self.volumes[f"lab-{run_id}-kept"] = {RUN: run_id, KEEP: str(int(until))}

    def runs(self) -> list[RunObjects]:
        every = [*(c.labels for c in self.containers.values()), *self.networks.values(), *self.volumes.values()]
        ids = {lbl[RUN] for lbl in every}
        return [self._objects(i) for i in sorted(ids)]

    def remove_run(self, run_id: str) -> RunObjects:
        gone = self._objects(run_id)
        for name in gone.containers:
            del self.containers[name]
        for name in gone.networks:
            del self.networks[name]
        for name in gone.volumes:
            del self.volumes[name]
        return gone

    def _objects(self, run_id: str) -> RunObjects:
        return RunObjects(
            run_id,
            "",
            max(
                (int(lbl.get("io.upgrade-pilot-lab.keep", 0)) for lbl in self.volumes.values() if lbl[RUN] == run_id),
                default=0,
            ),
            "",
            0,
            tuple(n for n, c in self.containers.items() if c.labels[RUN] == run_id),
            tuple(n for n, lbl in self.networks.items() if lbl[RUN] == run_id),
            tuple(n for n, lbl in self.volumes.items() if lbl[RUN] == run_id),
        )

    def left(self) -> int:
        """How many objects the engine still holds."""
        return len(self.containers) + len(self.networks) + len(self.volumes)
