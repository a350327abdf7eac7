"""Checks nobody has to write: the lab asks the stack itself (`discover: true`).

For each service that discovery covers, the lab looks at what the container has and runs
the probes that apply, each an ordinary compared check of kind `discovered`:
- PostgreSQL (a server in the container): inventories of what the server offers the
  application (extensions, settings, system view columns, databases),
  the client's objects per database, and each view, materialized view and function without
  parameters tried (lab.discover.postgresql).
- A Python application (`app: {path, language: python}`): its distributions, every module
  imported with the copy's interpreter, the Flask routes, and each GET route without
  parameters requested through the copy's probe (lab.discover.python).

An inventory's answer is {item: detail}. On the baseline, the lab also looks for each
item's words in the applications' folders (lab.discover.mentions): an item the candidate
lacks is breaking when the client's code names it, unknown otherwise (lab.compare.triage).

Probes only read, or undo what they ran; each has a deadline. A probe that does not apply
to a service is said once, in the copy's notes, not per check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lab.cancel import Token
from lab.checks import declarative
from lab.checks.commands import Runner, bounded, timed_out
from lab.discover import mentions, postgresql, python
from lab.engine.session import ShellPool
from lab.engine.types import EngineLike
from lab.errors import LabError, Stopped
from lab.results import Kind, Observation, Outcome
from lab.scenario.model import HttpCheck, Service

PREFIX = "discover:"
DETECT_SECONDS = 15.0
PROBE_SECONDS = 120.0  # one probe's whole exec (each statement, import and request has its own, shorter one)
ROUTE_SECONDS = 10.0
SERVE = 'printf "%s\\n" "$LAB_REQUESTS" | python3 /usr/local/bin/http-probe --serve'  # a request per line
PARALLEL = 4
# What the container has: a PostgreSQL server that answers, and its OS user when the
# container runs as another one (psql then runs as that user), Python.
DETECT = r"""
for bin in /usr/lib/postgresql/*/bin/postgres "$(command -v postgres)"; do
  [ -x "$bin" ] && command -v psql >/dev/null && pg_isready -q 2>/dev/null && { echo postgresql; break; }
done
[ "$(id -un 2>/dev/null)" != postgres ] && id -u postgres >/dev/null 2>&1 && echo os-user-postgres
command -v python3 >/dev/null && echo python3
exit 0
"""


@dataclass
class Plan:
    """What applied to one service, so that a second observation asks only what may vary."""

    postgresql: str | None = None  # "" for the container's user, else the OS user psql runs as
    tried: int = 0  # database objects tried (none: nothing of the database's to observe again)
    port: int = 0
    routes: list[str] = field(default_factory=list)  # GET routes without parameters, requested through the probe


@dataclass
class Discovery:
    """What discovery found on one copy: observations, what it said once per service, and
    what applied where."""

    observations: list[Observation] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # service -> sentences
    plans: dict[str, Plan] = field(default_factory=dict)


def inventory(check_id: str, service: str, items: dict[str, str]) -> Observation:
    return Observation(
        id=check_id,
        service=service,
        kind=Kind.DISCOVERED,
        outcome=Outcome.PASSED,
        output={"value": dict(sorted(items.items()))},
        mentions={},
    )


def observation(check_id: str, service: str, outcome: Outcome, message: str = "", **output: Any) -> Observation:
    return Observation(
        id=check_id, service=service, kind=Kind.DISCOVERED, outcome=outcome, message=message, output=output
    )


def observe(
    engine: EngineLike,
    services: dict[str, Service],
    containers: dict[str, str],
    probe: str | None,
    token: Token,
    baseline: bool = False,
    before: Discovery | None = None,
) -> Discovery:
    """Run every probe that applies to each of `services` on one copy; on the baseline, also
    find where the client's code names each inventory item. Given the copy's first
    discovery (`before`), observe again only what may vary between two observations: the
    database objects tried and the routes requested (inventories and imports do not)."""
    found = Discovery()
    shells = ShellPool(engine, token)

    def each(name: str) -> tuple[list[Observation], list[str], Plan]:
        if before is None:
            return _service(shells, name, services[name], containers, probe)
        plan = before.plans.get(name, Plan())
        again = _routes(shells, name, plan, probe)
        if plan.postgresql is not None and plan.tried:
            again = _postgresql(shells, name, containers[name], plan.postgresql, server=False)[0] + again
        return again, [], plan

    try:
        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="discover") as pool:
            done = list(pool.map(each, services))
        for name, (observations, notes, plan) in zip(services, done, strict=True):
            found.observations += observations
            found.notes[name] = notes
            found.plans[name] = plan
        if baseline and before is None:
            _mentions(shells, services, containers, found.observations)
    finally:
        shells.close()
    return found


def _service(
    run: Runner, name: str, service: Service, containers: dict[str, str], probe: str | None
) -> tuple[list[Observation], list[str], Plan]:
    container = containers[name]
    plan = Plan()
    try:
        detected = run(container, bounded(["sh", "-c", DETECT], DETECT_SECONDS), None, None, DETECT_SECONDS)
    except Stopped:
        raise
    except LabError as err:
        return [], [f"could not look into the container: {err}"], plan
    has = set(detected.stdout.split())
    observations: list[Observation] = []
    notes: list[str] = []
    probes: list[tuple[str, Callable[[], tuple[list[Observation], str]]]] = []
    if "postgresql" in has:
        plan.postgresql = "postgres" if "os-user-postgres" in has else ""
        probes.append(("PostgreSQL", lambda: _postgresql(run, name, container, plan.postgresql, plan=plan)))
    if service.app is not None and service.app.language == "python":
        if "python3" in has:
            probes.append(("Python", lambda: _python(run, name, service, containers, probe, plan)))
        else:
            notes.append(f"the application is declared as Python, but the image has no python3 (at {service.app.path})")
    elif service.app is not None:
        notes.append(f"{service.app.language} applications are not probed yet (at {service.app.path})")
    if not probes and not notes:
        notes.append("nothing to probe: no PostgreSQL server runs here and no application is declared (`app:`)")
    for what, run_probe in probes:
        try:
            more, said = run_probe()
        except Stopped:
            raise
        except (LabError, ValueError) as err:
            more, said = [observation(f"{PREFIX}{name} {what}", name, Outcome.ERROR, f"the probe failed: {err}")], ""
        observations += more
        notes += [said] if said else []
    return observations, notes, plan


def _exec(run: Runner, container: str, argv: list[str], env: dict[str, str], user: str | None) -> str:
    result = run(container, bounded(argv, PROBE_SECONDS), env, user, PROBE_SECONDS)
    if timed_out(result):
        raise LabError(f"stopped at its deadline ({PROBE_SECONDS:g} s)")
    if result.exit_code != 0:
        raise LabError((result.stderr.strip() or result.stdout.strip() or f"exit {result.exit_code}")[-2000:])
    return result.stdout


# postgresql -----------------------------------------------------------------------------
SERVER_INVENTORIES = {
    "extension": "extensions available",
    "setting": "settings",
    "system view column": "system view columns",
    "database": "databases",
}


def _postgresql(
    run: Runner, name: str, container: str, user: str | None, server: bool = True, plan: Plan | None = None
) -> tuple[list[Observation], str]:
    """The server's inventories (unless not `server`), and per database its objects' inventory
    and each object tried."""
    env = postgresql.ENV | {"LAB_PG_SERVER_TOO": "1" if server else "0"}
    found = postgresql.parse(_exec(run, container, ["sh", "-c", postgresql.SCRIPT], env, user or None))
    if not found.databases:
        raise LabError("psql listed no database")
    out = [
        inventory(f"{PREFIX}{name} postgresql {title}", name, found.server.get(kind, {}))
        for kind, title in SERVER_INVENTORIES.items()
        if server
    ]
    tried = 0
    for db in found.databases:
        out.append(inventory(f"{PREFIX}{name} postgresql objects in {db.name}", name, db.objects))
        for obj in sorted(db.tried):
            check_id = f"{PREFIX}{name} {db.name}: {obj}"
            if obj not in db.tries:  # psql said why: a statement stopped at statement_timeout
                said = next((e for e in db.errors if "ERROR" in e), "no answer")
                out.append(
                    observation(check_id, name, Outcome.SKIPPED, f"not judged: {said.split('ERROR:', 1)[-1].strip()}")
                )
                continue
            ok, answer = db.tries[obj]
            tried += 1
            out.append(
                observation(check_id, name, Outcome.PASSED, value=answer)
                if ok
                else observation(check_id, name, Outcome.FAILED, answer, error=answer)
            )
    if plan is not None:
        plan.tried = tried
    objects = sum(len(db.objects) for db in found.databases)
    said = (
        f"PostgreSQL: {len(found.databases)} database(s), {objects} object(s) of the client's,"
        f" {tried} tried (views queried, materialized views refreshed, functions without parameters called)"
    )
    return out, said


# python ---------------------------------------------------------------------------------
def _python(
    run: Runner, name: str, service: Service, containers: dict[str, str], probe: str | None, plan: Plan
) -> tuple[list[Observation], str]:
    assert service.app is not None
    found = python.parse(
        _exec(run, containers[name], ["python3", "-c", python.SCRIPT], python.env(service.app.path), None)
    )
    out = [inventory(f"{PREFIX}{name} python distributions", name, found.distributions)]
    for module, error in sorted(found.modules.items()):
        check_id = f"{PREFIX}{name} import {module}"
        if error:
            last = error.strip().splitlines()[-1]
            out.append(observation(check_id, name, Outcome.FAILED, last, error=error))
        else:
            out.append(observation(check_id, name, Outcome.PASSED))
    routes = {route: ",".join(info["methods"]) for route, info in found.routes.items()}
    if routes:
        out.append(inventory(f"{PREFIX}{name} flask routes", name, routes))
    port = service.app.port or next((int(p.split("/")[0]) for p in service.expose if p.split("/")[0].isdigit()), None)
    gets = python.plain_gets(found)
    said = f"Python {found.python}: {len(found.modules)} module(s) imported, {len(found.routes)} route(s)"
    if gets and port is None:
        said += "; its routes were not requested: give the port (`app: {port: …}` or `expose`)"
    elif gets and probe is None:
        said += "; its routes were not requested: the probe container did not start"
    elif gets:
        assert port is not None
        plan.port, plan.routes = port, gets
        out += _routes(run, name, plan, probe)
        said += f", {len(gets)} requested (GET without parameters, on port {port})"
    return out, said


def _routes(run: Runner, name: str, plan: Plan, probe: str | None) -> list[Observation]:
    """Each of the plan's routes requested through the copy's probe, as an HTTP check is
    (one probe process for them all, answering a line per request)."""
    if probe is None or not plan.routes:
        return []
    checks = {
        f"{PREFIX}{name} GET {route}": HttpCheck(
            name=route, service=name, port=plan.port, path=route, timeout=ROUTE_SECONDS
        )
        for route in plan.routes
    }
    lines = "\n".join(json.dumps(declarative.http_request(check)) for check in checks.values())
    try:
        said = _exec(run, probe, ["sh", "-c", SERVE], {"LAB_REQUESTS": lines}, None)
        answers = [json.loads(line) for line in said.splitlines() if line.startswith("{")]
        if len(answers) != len(checks):
            raise LabError(f"the probe answered {len(answers)} of {len(checks)} requests: {said[-500:]}")
    except (LabError, ValueError) as err:
        return [observation(i, name, Outcome.ERROR, f"could not request: {err}") for i in checks]
    out = []
    for (check_id, check), answer in zip(checks.items(), answers, strict=True):
        got = declarative.http_observation(check_id, check, answer)
        got.kind = Kind.DISCOVERED
        out.append(got)
    return out


# mentions -------------------------------------------------------------------------------
def _mentions(run: Runner, services: dict[str, Service], containers: dict[str, str], found: list[Observation]) -> None:
    """Fill each inventory's `mentions` from the applications' folders of the copy."""
    places = {containers[n]: [s.app.path] for n, s in services.items() if s.app is not None}
    inventories = [o for o in found if o.mentions is not None and o.outcome == Outcome.PASSED]
    if not places or not inventories:
        return
    wanted = {w for o in inventories for item in o.output["value"] for w in mentions.words(item)}
    where = mentions.find(run, places, wanted)
    for o in inventories:
        o.mentions = {item: at for item in o.output["value"] if (at := mentions.named(item, where)) is not None}
