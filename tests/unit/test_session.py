"""lab/session.py: commands through one attached shell, on a scripted stream."""

from __future__ import annotations

import re

import pytest

from lab.errors import LabError
from lab.session import HEADER, Shell


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
            raise TimeoutError("no answer")
        data, self.outgoing = self.outgoing[: min(size, self.chunk)], self.outgoing[self.chunk :]
        return data

    def close(self) -> None:
        pass


def test_output_exit_code_and_stderr_come_back_whole():
    stream = Scripted(b"line 1\nline 2", b"warning\n", 3)
    result = Shell(stream, "c").run(["sh", "-c", "echo hi"], None, 5)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "line 1\nline 2", "warning\n")
    assert b"( sh -c 'echo hi' ) </dev/null;" in stream.sent[0]


def test_environment_is_passed_quoted():
    stream = Scripted(b"", b"", 0)
    Shell(stream, "c").run(["psql"], {"LAB_SQL": "SELECT 'x';\n\\gdesc"}, 5)
    assert b"( env 'LAB_SQL=SELECT '\"'\"'x'\"'\"';\n\\gdesc' psql )" in stream.sent[0]


def test_a_silent_shell_is_given_up_with_a_clear_error():
    shell = Shell(Scripted(b"", b"", 0, hang=True), "lab-r-db")
    with pytest.raises(LabError, match="the shell session in lab-r-db stopped answering"):
        shell.run(["true"], None, 0.01)
    assert shell.broken
