"""What every probe of discovery shares: its observations (an inventory, a server's own
test of its configuration, any other answer), the plan a second observation follows, and
how a probe's script runs in a container, bounded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab.checks.commands import Runner, bounded, timed_out
from lab.errors import LabError
from lab.results import Kind, Observation, Outcome

PREFIX = "discover:"
PROBE_SECONDS = 120.0  # one probe's whole exec (each statement, import and request has its own, shorter one)


@dataclass
class Plan:
    """What applied to one service, so that a second observation asks only what may vary."""

    postgresql: str | None = None  # "" for the container's user, else the OS user psql runs as
    tried: int = 0  # database objects tried (none: nothing of the database's to observe again)
    port: int = 0
    routes: list[str] = field(default_factory=list)  # GET routes without parameters, requested through the probe


def inventory(check_id: str, service: str, items: dict[str, str]) -> Observation:
    """What a service offers, {item: detail}: compared item by item, and triaged by whether
    the client's code or configuration names what a candidate lacks (its `mentions`)."""
    return Observation(
        id=check_id,
        service=service,
        kind=Kind.DISCOVERED,
        outcome=Outcome.PASSED,
        output={"value": dict(sorted(items.items()))},
        mentions={},
    )


def tested(check_id: str, service: str, code: int, said: list[str]) -> Observation:
    """A server's own test of its configuration (`nginx -t`): what it said is compared (a
    warning is a changed answer); a non-zero exit fails, with its last words."""
    refused = "" if code == 0 else (said[-1] if said else f"exit {code}")
    outcome = Outcome.FAILED if refused else Outcome.PASSED
    return observation(check_id, service, outcome, refused, exit_code=code, stdout="\n".join(said), stderr="")


def observation(check_id: str, service: str, outcome: Outcome, message: str = "", **output: Any) -> Observation:
    return Observation(
        id=check_id, service=service, kind=Kind.DISCOVERED, outcome=outcome, message=message, output=output
    )


def script(run: Runner, container: str, argv: list[str], env: dict[str, str], user: str | None) -> str:
    """A probe's script, bounded; its stdout. LabError when it fails or passes its deadline."""
    result = run(container, bounded(argv, PROBE_SECONDS), env, user, PROBE_SECONDS)
    if timed_out(result):
        raise LabError(f"stopped at its deadline ({PROBE_SECONDS:g} s)")
    if result.exit_code != 0:
        raise LabError((result.stderr.strip() or result.stdout.strip() or f"exit {result.exit_code}")[-2000:])
    return result.stdout
