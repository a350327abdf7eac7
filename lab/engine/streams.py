"""Byte streams to processes in containers: an attached exec's connection, Docker's
multiplexed frames on it, a file streamed into a process (`pipe`), one process's output
streamed into another's input (`relay`), and a process's exit code (`exit_code_of`).

Every call here is bounded by its deadline and by the run's cancel token: a wait looks at
the token at least every `lab.cancel.POLL` seconds, and a send blocked in the kernel (the
process stopped reading) is aborted through `Token.on_cancel`. Nothing is held in memory
beyond one chunk and the last bytes of output.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO, Protocol

from lab.cancel import POLL, Token
from lab.errors import EngineError

HEADER = struct.Struct(">BxxxL")  # stream (1 stdout, 2 stderr), payload length
CHUNK = 1 << 20  # bytes written at a time into a process's stdin
EXIT_CODE_WAIT = 10.0  # seconds the engine gets to report an exec's exit code once its stream ended


class Stream(Protocol):
    """What the lab needs of an attached process: `RawStream`, or a test's scripted one."""

    def send(self, data: bytes) -> None: ...
    def recv(self, size: int, timeout: float) -> bytes: ...
    def close_input(self) -> None: ...
    def abort(self) -> None: ...
    def close(self) -> None: ...


class RawStream:
    """The hijacked connection of an attached exec: bytes in, Docker's frames out."""

    def __init__(self, sock: Any):
        self.holder = sock  # keeps the HTTP response (and so the connection) alive
        self.sock = getattr(sock, "_sock", sock)  # a local socket comes wrapped read-only

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, size: int, timeout: float) -> bytes:
        """Up to `size` bytes; b"" at the end; TimeoutError after `timeout` seconds of silence."""
        ready, _, _ = select.select([self.sock], [], [], max(timeout, 0.0))
        if not ready:
            raise TimeoutError(f"no answer within {timeout:g} s")
        return bytes(self.sock.recv(size))

    def close_input(self) -> None:
        """End of stdin for the process on the other side."""
        self.sock.shutdown(socket.SHUT_WR)

    def abort(self) -> None:
        """Wake every thread blocked on this stream (a close alone does not): they fail."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        for closable in (self.sock, self.holder):
            try:
                closable.close()
            except OSError:
                pass


class Frames:
    """Docker's multiplexed frames read off an attached stream, until the token is set."""

    def __init__(self, stream: Stream, token: Token | None = None):
        self.stream = stream
        self.token = token
        self.pending = b""

    def next(self, timeout: float) -> tuple[int, bytes]:
        """(stream kind, payload); OSError at the end of the stream, TimeoutError on silence,
        the token's error (Interrupted, DeadlinePassed) once it is set."""
        kind, size = HEADER.unpack(self._read(HEADER.size, timeout))
        return kind, self._read(size, timeout)

    def _read(self, size: int, timeout: float) -> bytes:
        deadline = time.perf_counter() + timeout
        while len(self.pending) < size:
            left = deadline - time.perf_counter()
            if self.token is not None:
                self.token.check()
            try:  # with a token, the wait is cut into slices to look at it in between
                chunk = self.stream.recv(65536, min(left, POLL) if self.token is not None else left)
            except TimeoutError:
                if self.token is not None and left > POLL:
                    continue
                raise
            if not chunk:
                raise OSError("the stream ended")
            self.pending += chunk
        data, self.pending = self.pending[:size], self.pending[size:]
        return data


def _drain(frames: Frames, end: float, keep: int, out: bytearray, err: bytearray) -> None:
    """Read frames until the stream ends, `end` passes or the token is set, keeping the last
    `keep` bytes of each."""
    try:
        while True:
            kind, payload = frames.next(max(end - time.perf_counter(), 0.0))
            target = out if kind == 1 else err
            target += payload
            del target[:-keep]
    except Exception:  # noqa: BLE001 — the end, the deadline or the token: the caller tells which
        pass


def _reader(frames: Frames, end: float, keep: int, out: bytearray, err: bytearray, name: str) -> threading.Thread:
    thread = threading.Thread(target=_drain, args=(frames, end, keep, out, err), name=name, daemon=True)
    thread.start()
    return thread


def _join(thread: threading.Thread, end: float, token: Token, streams: tuple[Stream, ...], deadline: float) -> None:
    """Wait for a reader thread; at the deadline or on cancel, abort the streams."""
    while thread.is_alive():
        thread.join(min(POLL, max(end - time.perf_counter(), 0.0)))
        if token.cancelled or time.perf_counter() >= end:
            break
    if thread.is_alive() or token.cancelled:
        for stream in streams:
            stream.abort()
        token.check()
        raise TimeoutError(f"did not finish within {deadline:g} s")


def pipe(stream: Stream, source: BinaryIO, deadline: float, token: Token, keep: int = 65536) -> tuple[str, str]:
    """Stream `source` into the attached process's stdin while its output is read (so
    neither side blocks), then end its stdin and wait for it to finish. Returns the last
    `keep` bytes of stdout and stderr."""
    out, err = bytearray(), bytearray()
    end = time.perf_counter() + deadline
    reader = _reader(Frames(stream, token), end, keep, out, err, "pipe-reader")
    with token.on_cancel(stream.abort):
        try:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                if not reader.is_alive() or time.perf_counter() > end or token.cancelled:
                    break  # the process ended (or ran out of time) before reading everything
                stream.send(chunk)
            stream.close_input()
        except OSError:
            pass  # the process closed its stdin (or the stream was aborted): said below
        _join(reader, end, token, (stream,), deadline)
    return _text(out), _text(err)


def relay(
    source: Stream, target: Stream, deadline: float, token: Token, keep: int = 65536
) -> tuple[str, str, str, int]:
    """Stream what `source` writes to stdout into `target`'s stdin (its stderr is kept),
    until `source` ends; then end `target`'s input and wait for it. Returns the source's
    stderr, the target's stdout and stderr (their last `keep` bytes) and the bytes moved."""
    end = time.perf_counter() + deadline
    frames = Frames(source, token)
    src_err, out, err = bytearray(), bytearray(), bytearray()
    moved = 0
    drainer = _reader(Frames(target, token), end, keep, out, err, "relay-drain")

    def abort() -> None:
        source.abort()
        target.abort()

    with token.on_cancel(abort):
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
        token.check()
        try:
            target.close_input()
        except OSError:
            pass
        _join(drainer, end, token, (source, target), deadline)
    return _text(src_err), _text(out), _text(err), moved


def exit_code_of(read: Callable[[], int | None], token: Token, what: str, within: float = EXIT_CODE_WAIT) -> int:
    """The exit code of a process whose stream has ended. The engine may not have recorded
    it yet: `read` is polled, backing off, until it is there or `within` seconds passed."""
    end = time.monotonic() + within
    delay = 0.005
    while True:
        code = read()
        if code is not None:
            return code
        if time.monotonic() >= end:
            raise EngineError(f"the engine reported no exit code for {what} within {within:g} s of its end")
        if token.wait(min(delay, max(end - time.monotonic(), 0.0))):
            token.check()
        delay = min(delay * 2, POLL)


def _text(data: bytearray) -> str:
    return data.decode("utf-8", "backslashreplace")
