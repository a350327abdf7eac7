"""Commands through one long-lived shell per container instead of a `docker exec` each.

A `docker exec` costs the engine tens of milliseconds; writing a command line to a shell
that is already running costs about one. `Shell` speaks to an attached `sh` (see
Engine.open_shell): it writes each command, run in a subshell with stdin closed, followed
by markers on stdout (with the exit code) and on stderr, and reads Docker's multiplexed
frames until both markers are back. `ShellPool` keeps one shell per container, user and
thread, so that checks of one copy still run several at a time.
"""

from __future__ import annotations

import re
import secrets
import shlex
import struct
import threading
import time
from typing import BinaryIO

from lab.engine import EngineLike, ExecResult, RawStream
from lab.errors import LabError

HEADER = struct.Struct(">BxxxL")  # stream (1 stdout, 2 stderr), payload length
CHUNK = 1 << 20  # bytes written at a time into a process's stdin
GRACE = 5.0  # seconds past a command's own deadline before the session is given up


class Frames:
    """Docker's multiplexed frames read off an attached stream."""

    def __init__(self, stream: RawStream):
        self.stream = stream
        self.pending = b""

    def next(self, timeout: float) -> tuple[int, bytes]:
        """(stream kind, payload); OSError at the end of the stream, TimeoutError on silence."""
        kind, size = HEADER.unpack(self._read(HEADER.size, timeout))
        return kind, self._read(size, timeout)

    def _read(self, size: int, timeout: float) -> bytes:
        deadline = time.perf_counter() + timeout
        while len(self.pending) < size:
            chunk = self.stream.recv(65536, deadline - time.perf_counter())
            if not chunk:
                raise OSError("the stream ended")
            self.pending += chunk
        data, self.pending = self.pending[:size], self.pending[size:]
        return data


def _drain(frames: Frames, end: float, keep: int, out: bytearray, err: bytearray) -> None:
    """Read frames until the stream ends or `end` passes, keeping the last `keep` bytes."""
    try:
        while True:
            kind, payload = frames.next(max(end - time.perf_counter(), 0.0))
            target = out if kind == 1 else err
            target += payload
            del target[:-keep]
    except (OSError, TimeoutError):
        pass


def pipe(stream: RawStream, source: BinaryIO, deadline: float, keep: int = 65536) -> tuple[str, str]:
    """Stream `source` into the attached process's stdin while its output is read (so
    neither side blocks), then end its stdin and wait for it to finish. Returns the last
    `keep` bytes of stdout and stderr. Nothing is held in memory beyond one chunk."""
    out, err = bytearray(), bytearray()
    end = time.perf_counter() + deadline
    reader = threading.Thread(
        target=_drain, args=(Frames(stream), end, keep, out, err), name="pipe-reader", daemon=True
    )
    reader.start()
    try:
        for chunk in iter(lambda: source.read(CHUNK), b""):
            if not reader.is_alive() or time.perf_counter() > end:
                break  # the process ended (or ran out of time) before reading everything
            stream.send(chunk)
        stream.close_input()
    except OSError:
        pass  # the process closed its stdin: its exit code and stderr say why
    reader.join(max(end - time.perf_counter(), 0.0))
    if reader.is_alive():
        stream.close()
        raise TimeoutError(f"did not finish within {deadline:g} s")
    return out.decode("utf-8", "backslashreplace"), err.decode("utf-8", "backslashreplace")


def relay(source: RawStream, target: RawStream, deadline: float, keep: int = 65536) -> tuple[str, str, str, int]:
    """Stream what `source` writes to stdout into `target`'s stdin (its stderr is kept),
    until `source` ends; then end `target`'s input and wait for it. Returns the source's
    stderr, the target's stdout and stderr (their last `keep` bytes) and the bytes moved."""
    end = time.perf_counter() + deadline
    frames = Frames(source)
    src_err, out, err = bytearray(), bytearray(), bytearray()
    moved = 0
    drainer = threading.Thread(
        target=_drain, args=(Frames(target), end, keep, out, err), name="relay-drain", daemon=True
    )
    drainer.start()
    try:
        while True:
            kind, payload = frames.next(max(end - time.perf_counter(), 0.0))
            if kind == 1:
                target.send(payload)
                moved += len(payload)
            else:
                src_err += payload
                del src_err[:-keep]
    except (OSError, TimeoutError):
        pass  # the source ended, ran out of time, or the target stopped reading: exit codes say which
    try:
        target.close_input()
    except OSError:
        pass
    drainer.join(max(end - time.perf_counter(), 0.0))
    if drainer.is_alive():
        target.close()
        raise TimeoutError(f"did not finish within {deadline:g} s")
    return (
        src_err.decode("utf-8", "backslashreplace"),
        out.decode("utf-8", "backslashreplace"),
        err.decode("utf-8", "backslashreplace"),
        moved,
    )


class Shell:
    """One attached `sh`; commands run one after another."""

    def __init__(self, stream: RawStream, name: str):
        self.stream = stream
        self.frames = Frames(stream)
        self.name = name
        self.token = secrets.token_hex(6)
        self.count = 0
        self.broken = False

    def run(self, argv: list[str], env: dict[str, str] | None, deadline: float) -> ExecResult:
        """Run `argv` (with extra environment) and wait at most `deadline` + GRACE seconds."""
        self.count += 1
        mark = f"@@lab-{self.token}-{self.count}"
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

    def __init__(self, engine: EngineLike):
        self.engine = engine
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
            shell = Shell(self.engine.open_shell(container, user), container)
            with self.lock:
                self.shells[key] = shell
        return shell.run(argv, env, timeout)

    def close(self) -> None:
        with self.lock:
            shells, self.shells = list(self.shells.values()), {}
        for shell in shells:
            shell.close()
