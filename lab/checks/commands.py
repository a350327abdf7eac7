"""How a check's command reaches a container, bounded: the `Runner` signature (a shell
session pool provides it), the coreutils `timeout` around every command, and the
observation a check becomes when it passes its deadline."""

from __future__ import annotations

from collections.abc import Callable

from lab.engine.types import ExecResult
from lab.results import Observation, Outcome
from lab.scenario.model import Probe

# How a check's command reaches a container: (container, argv, env, user, timeout).
Runner = Callable[[str, list[str], dict[str, str] | None, str | None, float], ExecResult]


# A command given as a string runs in bash with pipefail where the image has bash (a program
# that fails in a pipeline fails the command), else in sh.
SHELL = 'command -v bash >/dev/null 2>&1 && exec bash -o pipefail -c "$1"; exec sh -c "$1"'


def argv_of(run: list[str] | str) -> list[str]:
    """A check's or step's command as argv: a list as it is, a string through SHELL.

    >>> argv_of(["pg_dump", "shop"]), argv_of("pg_dump shop | gzip")[-1]
    (['pg_dump', 'shop'], 'pg_dump shop | gzip')
    """
    return ["sh", "-c", SHELL, "sh", run] if isinstance(run, str) else list(run)


def bounded(argv: list[str], seconds: float) -> list[str]:
    """`argv` stopped by coreutils' timeout after `seconds` (exit code 124 or 137)."""
    return ["timeout", "-s", "KILL", f"{seconds:g}", *argv]


def timed_out(result: ExecResult) -> bool:
    return result.exit_code in (124, 137)


def deadline_passed(check_id: str, check: Probe) -> Observation:
    return Observation(
        id=check_id,
        service=check.service,
        outcome=Outcome.ERROR,
        message=f"stopped at its deadline ({check.timeout:g} s)",
        output={"error": "deadline"},
    )
