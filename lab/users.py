"""Which OS user runs the lab's commands in a container: one rule, in one place.

Two keys, two meanings. `run_as` is always an OS user: on a service, the one the lab's
commands run as in its container (restores, checks, steps, verification); on a command
check or an upgrade step, for that command only. `user` on an sql check, a backup, a
verification or a replayed log is always a database role.

- A command (command check, upgrade step): its own `run_as`, else its service's, else the
  container's user.
- A database client (restores, sql checks, verification queries): the service's `run_as`,
  else for PostgreSQL the database's OS user `postgres` when the image has one and the
  container runs as another user — Debian's packaged server authenticates local
  connections by peer, so its client must run as that user — else the container's user.
  (Debian's MariaDB lets the container's root in through its unix socket as it is.)
"""

from __future__ import annotations

import io
import threading

from lab.cancel import Token
from lab.engine import session
from lab.engine.types import EngineLike
from lab.errors import LabError, Stopped
from lab.scenario.model import Service

DATABASE_OS_USERS = {"postgresql": "postgres"}
# exit 0: the container runs as another user and the image has this one
OTHER_USER = '[ "$(id -un 2>/dev/null)" != "$1" ] && id -u "$1" >/dev/null 2>&1'
LOOKUP_SECONDS = 10.0


class Users:
    """The OS users of one copy's containers, looked up once per container."""

    def __init__(self, engine: EngineLike, token: Token, services: dict[str, Service], containers: dict[str, str]):
        self.engine, self.token, self.services, self.containers = engine, token, services, containers
        self._found: dict[tuple[str, str], bool] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()  # guards _locks: each container's lookup has a lock of its own

    def command(self, service: str, run_as: str | None = None) -> str | None:
        """The OS user a command runs as in `service`."""
        return run_as or self.services[service].run_as

    def database(self, service: str, dialect: str) -> str | None:
        """The OS user a database client of `dialect` runs as in `service`."""
        given = self.services[service].run_as
        wanted = DATABASE_OS_USERS.get(dialect)
        if given or not wanted:
            return given
        key = (service, wanted)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # checks run several at a time: one lookup per container, the others wait for it
            if key not in self._found:
                argv = ["sh", "-c", OTHER_USER, "sh", wanted]
                try:
                    code, _, _ = session.feed(
                        self.engine, self.containers[service], argv, io.BytesIO(b""), LOOKUP_SECONDS, self.token
                    )
                except Stopped:
                    raise
                except (TimeoutError, LabError):  # no answer: the container's own user, as without a database
                    code = 1
                self._found[key] = code == 0
        return wanted if self._found[key] else None
