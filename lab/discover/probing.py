"""What every probe of discovery shares: its observations (an inventory, a server's own
test of its configuration, any other answer), the plan a second observation follows, how
a probe's script runs in a container, bounded, and how an application's routes are
requested through the copy's probe."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lab.checks import declarative
from lab.checks.commands import Runner, bounded, timed_out
from lab.errors import LabError
from lab.results import Kind, Observation, Outcome
from lab.scenario.model import HttpCheck, Service

PREFIX = "discover:"
PROBE_SECONDS = 120.0  # one probe's whole exec (each statement, import and request has its own, shorter one)
ROUTE_SECONDS = 10.0
SERVE = 'printf "%s\\n" "$LAB_REQUESTS" | python3 /usr/local/bin/http-probe --serve'  # a request per line


@dataclass
class Plan:
    """What applied to one service, so that a second observation asks only what may vary."""

    postgresql: str | None = None  # "" for the container's user, else the OS user psql runs as
    tried: int = 0  # PostgreSQL objects tried (none: nothing of the database's to observe again)
    mariadb_tried: int = 0  # MariaDB objects tried
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


def routes_of(
    run: Runner, name: str, service: Service, paths: list[str], probe: str | None, plan: Plan
) -> tuple[list[Observation], str]:
    """An application's routes requested on the port it answers on (`app: {port}`, else its
    first `expose`), kept in the plan for the second observation; and what to say of it."""
    if not paths:
        return [], ""
    port, missing = reachable(service, probe)
    if port is None:
        return [], f"; its routes were not requested: {missing}"
    plan.port, plan.routes = port, paths
    return request_routes(run, name, plan, probe), f", {len(paths)} requested (GET, on port {port})"


def reachable(service: Service, probe: str | None) -> tuple[int | None, str]:
    """The port an application answers on (`app: {port}`, else its first `expose`), and
    what is missing to request it through the probe when there is nothing to request."""
    assert service.app is not None
    port = service.app.port or next((int(p.split("/")[0]) for p in service.expose if p.split("/")[0].isdigit()), None)
    if port is None:
        return None, "give the port (`app: {port: …}` or `expose`)"
    if probe is None:
        return None, "the probe container did not start"
    return port, ""


def request_routes(run: Runner, name: str, plan: Plan, probe: str | None) -> list[Observation]:
    """Each of the plan's routes requested through the copy's probe, as an HTTP check is: a
    probe process answers a line per request, for as many routes as fit its deadline even
    when each takes its longest (a slow site loses no more than one batch)."""
    if probe is None or not plan.routes:
        return []
    batch = max(1, int(PROBE_SECONDS // ROUTE_SECONDS))
    found = []
    for start in range(0, len(plan.routes), batch):
        found += _request_batch(run, name, plan.port, plan.routes[start : start + batch], probe)
    return found


def _request_batch(run: Runner, name: str, port: int, routes: list[str], probe: str) -> list[Observation]:
    checks = {
        f"{PREFIX}{name} GET {route}": HttpCheck(name=route, service=name, port=port, path=route, timeout=ROUTE_SECONDS)
        for route in routes
    }
    lines = "\n".join(json.dumps(declarative.http_request(check)) for check in checks.values())
    try:
        said = script(run, probe, ["sh", "-c", SERVE], {"LAB_REQUESTS": lines}, None)
        answers = [json.loads(line) for line in said.splitlines() if line.startswith("{")]
        if len(answers) != len(checks):
            raise LabError(f"the probe answered {len(answers)} of {len(checks)} requests: {said[-500:]}")
    except (LabError, ValueError) as err:
        return [observation(i, name, Outcome.ERROR, f"could not request: {err}") for i in checks]
    out = []
    for (check_id, check), answer in zip(checks.items(), answers, strict=True):
        got = declarative.http_observation(check_id, check, answer, fails_from=500)  # a 401 or 404 is an answer
        got.kind = Kind.DISCOVERED
        out.append(got)
    return out
