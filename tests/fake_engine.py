"""An in-memory stand-in for lab.engine.client.Engine, for unit tests without Docker.

It provides the whole engine protocol (`lab.engine.types.EngineLike`; mypy checks it at the
end of this file). Containers follow a scripted life: each service can be given the
sequence of states that successive `state()` calls return (the last one repeats), and log
text. Processes in containers — the shells the checks speak to, restores, upgrade steps —
answer through `answer(call)`: an `Answer`, or None for a process that reads its stdin
first (it is asked again with what it read). An answer can hang: the process is silent
until the stream is aborted, as a real restore that waits for a lock would be.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from lab.engine.streams import HEADER
from lab.engine.types import (
    KEEP,
    RUN,
    SERVICE,
    VARIANT,
    ContainerSpec,
    ContainerState,
    EngineLike,
    RunObjects,
)
from lab.errors import BuildFailed, EngineError, EngineUnavailable

RUNNING = ContainerState("running", 0, None, "")
HEALTHY = ContainerState("running", 0, "healthy", "")
SCRIPT_RE = re.compile(r"\( (?P<command>.*) \) </dev/null; printf '\\n(?P<mark>@@lab-\w+-\d+) %d\\n' \$\?", re.DOTALL)


@dataclass(frozen=True)
class Call:
    """A command run in a container: which, as whom, and what it was given on stdin (None:
    the process has not read its stdin yet)."""

    spec: ContainerSpec
    command: str
    stdin: bytes | None

    @property
    def service(self) -> str:
        return self.spec.labels[SERVICE]

    @property
    def variant(self) -> str:
        return self.spec.labels[VARIANT]


@dataclass(frozen=True)
class Answer:
    stdout: str = ""
    stderr: str = ""
    code: int = 0
    hang: bool = False  # never answers; the stream ends only when it is aborted
    delay: float = 0.0  # answers after this many seconds (a process that takes its time)


def reads_stdin(call: Call) -> Answer | None:
    """The default: a process reads all of its stdin, then succeeds saying nothing."""
    return None if call.stdin is None else Answer()


def _frames(kind: int, data: str) -> bytes:
    payload = data.encode()
    return HEADER.pack(kind, len(payload)) + payload if payload else b""


class FakeStream:
    """An attached process (or, with `shell`, a long-lived `sh` that runs one command per
    script it is sent, as lab.engine.session writes them)."""

    def __init__(self, engine: FakeEngine, spec: ContainerSpec, command: str, exec_id: str, shell: bool = False):
        self.engine, self.spec, self.command, self.exec_id, self.shell = engine, spec, command, exec_id, shell
        self.stdin = b""
        self.outgoing = b""
        self.ended = False
        self.woken = threading.Event()  # set when there is output, the end, or an abort
        if not shell:
            self._answer(engine.answer(Call(spec, command, None)))

    def _answer(self, answer: Answer | None, mark: str = "") -> None:
        if answer is None or answer.hang:
            return
        if answer.delay:
            later = threading.Timer(answer.delay, self._answer, [replace(answer, delay=0.0), mark])
            later.daemon = True
            later.start()
            return
        if self.ended:  # aborted meanwhile
            return
        if mark:  # a shell: the markers that say the command ended, and its exit code
            self.outgoing += _frames(1, f"{answer.stdout}\n{mark} {answer.code}\n") + _frames(
                2, f"{answer.stderr}\n{mark}\n"
            )
        else:
            self.outgoing += _frames(1, answer.stdout) + _frames(2, answer.stderr)
            self.ended = True
            self.engine.exit_codes[self.exec_id] = answer.code
        self.woken.set()

    def send(self, data: bytes) -> None:
        if self.ended:
            raise BrokenPipeError("the process has ended")
        self.stdin += data
        if self.shell:
            for found in SCRIPT_RE.finditer(data.decode()):
                self._answer(self.engine.answer(Call(self.spec, found["command"], b"")), found["mark"])

    def recv(self, size: int, timeout: float) -> bytes:
        if not self.outgoing and not self.ended and not self.woken.wait(max(timeout, 0.0)):
            raise TimeoutError("no answer")
        data, self.outgoing = self.outgoing[:size], self.outgoing[size:]
        if not self.outgoing and not self.ended:
            self.woken.clear()
        return data

    def close_input(self) -> None:
        if not self.shell and not self.ended:
            self._answer(self.engine.answer(Call(self.spec, self.command, self.stdin)))

    def abort(self) -> None:
        self.ended = True
        self.woken.set()

    def close(self) -> None:
        self.abort()


@dataclass
class FakeEngine:
    images: dict[str, str] = field(
        default_factory=lambda: {"debian:bookworm": "sha256:b12", "debian:trixie": "sha256:b13"}
    )
    scripts: dict[str, list[ContainerState]] = field(default_factory=dict)  # service -> states
    service_logs: dict[str, str] = field(default_factory=dict)
    fail_builds: dict[str, str] = field(default_factory=dict)  # tag prefix -> error
    answer: Callable[[Call], Answer | None] = reads_stdin
    late_exit: int = 0  # exit_code() answers None this many times per process before its code
    builds: list[str] = field(default_factory=list)
    containers: dict[str, ContainerSpec] = field(default_factory=dict)
    networks: dict[str, dict[str, str]] = field(default_factory=dict)
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    execs: list[tuple[str, list[str]]] = field(default_factory=list)
    exec_users: list[tuple[str, str, str | None]] = field(default_factory=list)  # (container, command, user)
    started: list[str] = field(default_factory=list)
    archives: list[tuple[str, str]] = field(default_factory=list)  # (container, path)
    files: list[str] = field(default_factory=list)  # paths every container's image has (listing)
    exit_codes: dict[str, int] = field(default_factory=dict)
    exit_polls: dict[str, int] = field(default_factory=dict)
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

    def put_archive(self, container: str, path: str, data: IO[bytes] | Iterable[bytes]) -> None:
        self._spec(container)
        self.archives.append((container, path))

    def listing(self, container: str, folder: str) -> list[str]:
        self._spec(container)
        return [path for path in self.files if path.startswith(folder.rstrip("/") + "/")]

    def exists(self, container: str, path: str) -> bool:
        self._spec(container)
        return any(f == path or f.startswith(path.rstrip("/") + "/") for f in self.files)

    def attach(self, container: str, argv: list[str], user: str | None = None) -> tuple[FakeStream, str]:
        exec_id = f"exec-{len(self.execs)}"
        self.execs.append((container, argv))
        self.exec_users.append((container, " ".join(argv), user))
        shell = argv == ["sh"]  # a long-lived shell (lab.engine.session)
        return FakeStream(self, self._spec(container), " ".join(argv), exec_id, shell), exec_id

    def exit_code(self, exec_id: str) -> int | None:
        polls = self.exit_polls[exec_id] = self.exit_polls.get(exec_id, 0) + 1
        return self.exit_codes.get(exec_id) if polls > self.late_exit else None

    def state(self, container: str) -> ContainerState:
        spec = self._spec(container)
        script = self.scripts.get(spec.labels[SERVICE], [HEALTHY if spec.healthcheck else RUNNING])
        n = self.polls.get(container, 0)
        self.polls[container] = n + 1
        return script[min(n, len(script) - 1)]

    def logs(self, container: str, tail: int | None = None) -> str:
        text = self.service_logs.get(self._spec(container).labels[SERVICE], "")
        lines = text.splitlines()
        return "\n".join(lines[-tail:] if tail else lines)

    def mark_kept(self, run_id: str, until: float) -> None:
        self.volumes[f"lab-{run_id}-kept"] = {RUN: run_id, KEEP: str(int(until))}

    def runs(self) -> list[RunObjects]:
        every = [*(c.labels for c in self.containers.values()), *self.networks.values(), *self.volumes.values()]
        ids = {lbl[RUN] for lbl in every}
        return [self._objects(i) for i in sorted(ids)]

    def remove(self, container: str) -> None:
        self.containers.pop(container, None)

    def remove_run(self, run_id: str) -> RunObjects:
        gone = self._objects(run_id)
        for name in gone.containers:
            del self.containers[name]
        for name in gone.networks:
            del self.networks[name]
        for name in gone.volumes:
            del self.volumes[name]
        return gone

    def _spec(self, container: str) -> ContainerSpec:
        if container not in self.containers:
            raise EngineError(f"No such container: {container}")
        return self.containers[container]

    def _objects(self, run_id: str) -> RunObjects:
        return RunObjects(
            run_id,
            "",
            max((int(lbl.get(KEEP, 0)) for lbl in self.volumes.values() if lbl[RUN] == run_id), default=0),
            "",
            0,
            tuple(n for n, c in self.containers.items() if c.labels[RUN] == run_id),
            tuple(n for n, lbl in self.networks.items() if lbl[RUN] == run_id),
            tuple(n for n, lbl in self.volumes.items() if lbl[RUN] == run_id),
        )

    def left(self) -> int:
        """How many objects the engine still holds."""
        return len(self.containers) + len(self.networks) + len(self.volumes)


_PROVIDES: type[EngineLike] = FakeEngine  # mypy: the fake provides the whole engine protocol
