"""The error tree: everything the lab raises is a LabError, and each class knows its exit code.

Only the task layer (tasks.py) turns an error into a process exit; library code raises.

Exit codes (stable, documented in the README):
    0  pilot ran, no regression
    1  pilot ran, regressions found
    2  pilot could not run (bad input, engine unreachable, build failed, baseline not ready)
  130  interrupted (Ctrl-C / SIGTERM)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

EXIT_PASS = 0
EXIT_REGRESSION = 1
EXIT_COULD_NOT_RUN = 2
EXIT_INTERRUPTED = 130


class LabError(Exception):
    """Root of every error the lab raises on purpose; `str()` is the message for a person."""

    exit_code = EXIT_COULD_NOT_RUN


class ScenarioError(LabError):
    """A scenario file is missing or invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class EngineUnavailable(LabError):
    """No Docker engine answers."""


class EngineError(LabError):
    """The engine refused or failed an operation we asked for."""


class BuildFailed(LabError):
    """An image build failed; the message holds the failing step's output."""


class NotReady(LabError):
    """A service did not become ready before its deadline."""


class Stopped(LabError):
    """The run was stopped from outside its work: a signal or the whole pilot's deadline.
    Code that turns a failure into data lets this one through."""


class DeadlinePassed(Stopped):
    """The whole pilot took longer than its deadline (timeouts.pilot)."""


class RunNotFound(LabError):
    """A run id or run folder that does not exist."""


class Interrupted(Stopped):
    """The pilot was stopped by a signal (Ctrl-C or SIGTERM)."""

    exit_code = EXIT_INTERRUPTED


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' — did you mean 'x'?' when a close match exists, else ''.

    >>> did_you_mean("imgae", ["image", "build"])
    " — did you mean 'image'?"
    """
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""
