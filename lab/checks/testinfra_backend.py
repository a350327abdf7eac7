"""A testinfra backend that runs a test's commands through the copy's long-lived shell
sessions (lab.engine.session) instead of a `docker exec` process per command.

testinfra's own docker backend starts `docker exec` for every command a test runs (tens of
milliseconds each); here a command costs about a millisecond on top of its own work, with
the same results: the command line is the one testinfra builds, run by `/bin/sh -c` in the
container, as the docker backend does. `LAB_TESTINFRA_BACKEND=docker` switches the
pilot's tests back to testinfra's own backend (for comparison).
"""

from __future__ import annotations

import os
from typing import Any

import testinfra.host
from testinfra.backend.base import BaseBackend, CommandResult

from lab.cancel import Token
from lab.engine.client import Engine
from lab.engine.session import ShellPool

COMMAND_DEADLINE = 600.0  # seconds; the pilot's checks deadline stops the whole run earlier


class SessionBackend(BaseBackend):  # type: ignore[misc]
    """Commands in a container, through a shell session (see the module docstring)."""

    NAME = "docker"  # behave as the docker backend does for testinfra's modules

    def __init__(self, container: str, shells: ShellPool, user: str | None = None):
        super().__init__(container)
        self.container = container
        self.shells = shells
        self.user = user

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        cmd = self.get_command(command, *args)
        done = self.shells(self.container, ["/bin/sh", "-c", cmd], None, self.user, COMMAND_DEADLINE)
        result: CommandResult = self.result(done.exit_code, self.encode(cmd), done.stdout, done.stderr)
        return result


def host_for(container: str, shells: ShellPool | None) -> testinfra.host.Host:
    """A testinfra Host for a container: through the session pool, or testinfra's own
    docker backend when there is no pool (LAB_TESTINFRA_BACKEND=docker)."""
    if shells is None:
        return testinfra.get_host(f"docker://{container}")
    backend = SessionBackend(container, shells)
    host = testinfra.host.Host(backend)
    backend.set_host(host)
    return host


def shell_pool() -> ShellPool | None:
    """The session pool for this test process, or None to use testinfra's docker backend."""
    if os.environ.get("LAB_TESTINFRA_BACKEND", "session") == "docker":
        return None
    return ShellPool(Engine.connect(), Token())
