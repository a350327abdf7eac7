"""lab/engine/session.py and lab/engine/streams.py: commands through one attached shell, on a
scripted stream; the cancel token and late exit codes."""

from __future__ import annotations

import re
import threading
import time

import pytest

from lab.cancel import Token
from lab.engine import streams
from lab.engine.session import Shell
from lab.engine.streams import HEADER
from lab.errors import EngineError, Interrupted, LabError


class Scripted:
    """A stream that answers each command the way an attached `sh` would, in small frames."""

    def __init__(self, stdout: bytes, stderr: bytes, code: int, chunk: int = 3, hang: bool = False):
        self.answer = (stdout, stderr, code)
        self.chunk = chunk
        self.hang = hang
        self.outgoing = b""
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)
        mark = re.search(rb"printf '\\n(@@lab-\w+-\d+) %d", data).group(1)
        stdout, stderr, code = self.answer
        frames = [
            (1, stdout[:2]),
            (2, stderr),
            (1, stdout[2:] + b"\n" + mark + b" %d\n" % code),
            (2, b"\n" + mark + b"\n"),
        ]
        wire = b"".join(HEADER.pack(kind, len(payload)) + payload for kind, payload in frames)
        self.outgoing += wire if not self.hang else wire[:5]

    def recv(self, size: int, timeout: float) -> bytes:
        if not self.outgoing:
            time.sleep(min(timeout, 0.01))  # a real stream waits its timeout; this one a bit
            raise TimeoutError("no answer")
        data, self.outgoing = self.outgoing[: min(size, self.chunk)], self.outgoing[self.chunk :]
        return data

    def close(self) -> None:
        pass


def test_output_exit_code_and_stderr_come_back_whole():
    stream = Scripted(b"line 1\nline 2", b"warning\n", 3)
    result = Shell(stream, "c", Token()).run(["sh", "-c", "echo hi"], None, 5)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "line 1\nline 2", "warning\n")
    assert b"( sh -c 'echo hi' ) </dev/null;" in stream.sent[0]


def test_environment_is_passed_quoted():
    stream = Scripted(b"", b"", 0)
    Shell(stream, "c", Token()).run(["psql"], {"LAB_SQL": "SELECT 'x';\n\\gdesc"}, 5)
    assert b"( env 'LAB_SQL=SELECT '\"'\"'x'\"'\"';\n\\gdesc' psql )" in stream.sent[0]


def test_a_silent_shell_is_given_up_with_a_clear_error():
    shell = Shell(Scripted(b"", b"", 0, hang=True), "lab-r-db", Token())
    with pytest.raises(LabError, match="the shell session in lab-r-db stopped answering"):
        shell.run(["true"], None, 0.01)
    assert shell.broken


def test_a_set_token_ends_a_silent_shell_within_a_second_and_the_shell_is_replaced():
    token = Token()
    shell = Shell(Scripted(b"", b"", 0, hang=True), "lab-r-db", token)
    threading.Timer(0.2, token.cancel, [Interrupted("interrupted (SIGTERM)")]).start()
    start = time.monotonic()
    with pytest.raises(Interrupted, match="SIGTERM"):
        shell.run(["sleep", "600"], None, 600)
    assert time.monotonic() - start < 1.2 and shell.broken


def test_an_exit_code_the_engine_reports_late_is_waited_for():
    answers = iter([None, None, None, 7])
    assert streams.exit_code_of(lambda: next(answers), Token(), "a step") == 7


def test_an_exit_code_never_reported_is_an_error_that_says_so_not_none():
    with pytest.raises(EngineError, match="the engine reported no exit code for a step within 0.05 s of its end"):
        streams.exit_code_of(lambda: None, Token(), "a step", within=0.05)
