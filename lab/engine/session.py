"""Commands through one long-lived shell per container instead of a `docker exec` each.

A `docker exec` costs the engine tens of milliseconds; writing a command line to a shell
that is already running costs about one. `Shell` speaks to an attached `sh` (an exec with
its stdin and multiplexed output on one stream): it writes each command, run in a subshell with stdin closed, followed
by markers on stdout (with the exit code) and on stderr, and reads Docker's multiplexed
frames until both markers are back. `ShellPool` keeps one shell per container, user and
thread, so that checks of one copy still run several at a time.
"""

from __future__ import annotations

import re
import secrets
import shlex
import threading
import time
from typing import BinaryIO, NoReturn

from lab.cancel import Token
from lab.engine import streams
from lab.engine.streams import Frames, Stream
from lab.engine.types import EngineLike, ExecResult
from lab.errors import LabError, Stopped

GRACE = 5.0  # seconds past a command's own deadline before the session is given up


class Shell:
    """One attached `sh`; commands run one after another."""

    def __init__(self, stream: Stream, name: str, token: Token):
        self.stream = stream
        self.frames = Frames(stream, token)
        self.name = name
        self.marker = secrets.token_hex(6)
        self.count = 0
        self.broken = False

    def run(self, argv: list[str], env: dict[str, str] | None, deadline: float) -> ExecResult:
        """Run `argv` (with extra environment) and wait at most `deadline` + GRACE seconds."""
        self.count += 1
        mark = f"@@lab-{self.marker}-{self.count}"
        command = shlex.join(["env", *(f"{k}={v}" for k, v in (env or {}).items()), *argv] if env else argv)
        script = f"( {command} ) </dev/null; printf '\\n{mark} %d\\n' $?; printf '\\n{mark}\\n' >&2\n"
        end_out = re.compile(rf"\n{re.escape(mark)} (\d+)\n".encode())
        end_err = f"\n{mark}\n".encode()
        out, err = bytearray(), bytearray()
        code: int | None = None
        err_done = False
        start = time.perf_counter()
        give_up = start + deadline + GRACE
        try:
            self.stream.send(script.encode())
            while code is None or not err_done:
                kind, payload = self.frames.next(give_up - time.perf_counter())
                if kind == 1:
                    out += payload
                    found = end_out.search(out, max(0, len(out) - len(payload) - len(mark) - 16))
                    if found:
                        code = int(found.group(1))
                        del out[found.start() :]
                elif kind == 2:
                    err += payload
                    at = err.find(end_err)
                    if at >= 0:
                        err_done = True
                        del err[at:]
        except Stopped:
            self.broken = True  # a command is half answered: the next one needs a new shell
            raise
        except (OSError, TimeoutError) as err_:
            self.broken = True
            raise LabError(f"the shell session in {self.name} stopped answering: {err_}") from None
        return ExecResult(
            code,
            out.decode("utf-8", "backslashreplace"),
            err.decode("utf-8", "backslashreplace"),
            time.perf_counter() - start,
        )

    def close(self) -> None:
        self.stream.close()


class ShellPool:
    """Shells by (container, user, thread), opened when first needed; a broken shell is
    replaced by a new one on the next command."""

    def __init__(self, engine: EngineLike, token: Token):
        self.engine = engine
        self.token = token
        self.shells: dict[tuple[str, str, int], Shell] = {}
        self.lock = threading.Lock()

    def __call__(
        self,
        container: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        user: str | None = None,
        timeout: float = 30.0,
    ) -> ExecResult:
        key = (container, user or "", threading.get_ident())
        with self.lock:
            shell = self.shells.get(key)
        if shell is None or shell.broken:
            if shell is not None:
                shell.close()
            shell = Shell(self.engine.attach(container, ["sh"], user)[0], container, self.token)
            with self.lock:
                self.shells[key] = shell
        return shell.run(argv, env, timeout)

    def close(self) -> None:
        with self.lock:
            shells, self.shells = list(self.shells.values()), {}
        for shell in shells:
            shell.close()


def feed(
    engine: EngineLike,
    container: str,
    argv: list[str],
    source: BinaryIO,
    deadline: float,
    token: Token,
    user: str | None = None,
) -> tuple[int, str, str]:
    """Run `argv` in its own exec with `source` streamed into its stdin (a restore, an
    upgrade step); returns its exit code and the last of its stdout and stderr. Raises
    TimeoutError past `deadline`, the token's error once it is set."""
    stream, exec_id = engine.attach(container, argv, user)
    try:
        out, err = streams.pipe(stream, source, deadline, token)
    finally:
        stream.close()
    return streams.exit_code_of(lambda: engine.exit_code(exec_id), token, f"`{argv[-1]}` in {container}"), out, err


class Conversation:
    """A long-running process in a container, spoken to in turns: `send` writes to its
    stdin, `receive` reads its stdout up to an end marker (several requests may be sent
    before their answers are read). Its stderr is kept (the last of it). The replay speaks
    this way to the probe (one JSON line each way) and to the database clients."""

    KEEP = 65536

    def __init__(self, engine: EngineLike, container: str, argv: list[str], token: Token, user: str | None = None):
        self.stream, self.exec_id = engine.attach(container, argv, user)
        self.frames = Frames(self.stream, token)
        self.name = f"`{argv[-1] if len(argv) < 3 else ' '.join(argv[:3])}` in {container}"
        self.out = bytearray()
        self.err = bytearray()
        self.broken = False

    def send(self, data: bytes) -> None:
        """Write to the process's stdin without waiting for its answer (pipelining: keep what
        is sent and unanswered small, so that neither side blocks on a full pipe)."""
        if self.broken:
            raise LabError(f"{self.name} stopped answering earlier")
        try:
            self.stream.send(data)
        except OSError as err:
            self._broke(err)

    def receive(self, end: re.Pattern[bytes], deadline: float) -> tuple[bytes, re.Match[bytes]]:
        """The next answer: stdout up to `end`, within `deadline` seconds."""
        if self.broken:
            raise LabError(f"{self.name} stopped answering earlier")
        give_up = time.perf_counter() + deadline
        try:
            while True:
                found = end.search(self.out)
                if found:
                    said = bytes(self.out[: found.start()])
                    del self.out[: found.end()]
                    return said, found
                kind, payload = self.frames.next(give_up - time.perf_counter())
                if kind == 2:
                    self.err += payload
                    del self.err[: -self.KEEP]
                else:
                    self.out += payload
        except Stopped:
            self.broken = True
            raise
        except (OSError, TimeoutError) as err:
            self._broke(err)

    def _broke(self, err: Exception) -> NoReturn:
        self.broken = True
        told = self.err.decode("utf-8", "backslashreplace").strip()[-500:]
        raise LabError(f"{self.name} stopped answering: {err}" + (f": {told}" if told else "")) from None

    def close(self) -> None:
        self.stream.close()
