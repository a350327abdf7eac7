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
from pathlib import Path
from typing import Any

from lab.cancel import Token
from lab.checks import declarative
from lab.checks.commands import Runner, bounded, timed_out
from lab.discover import mariadb, mentions, php, postgresql, python, servers
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
# container runs as another one (psql then runs as that user), Python, nginx, a Redis server
# that answers.
DETECT = r"""
for bin in /usr/lib/postgresql/*/bin/postgres "$(command -v postgres)"; do
  [ -x "$bin" ] && command -v psql >/dev/null && pg_isready -q 2>/dev/null && { echo postgresql; break; }
done
[ "$(id -un 2>/dev/null)" != postgres ] && id -u postgres >/dev/null 2>&1 && echo os-user-postgres
command -v python3 >/dev/null && echo python3
command -v php >/dev/null && echo php
ls /usr/sbin/php-fpm* >/dev/null 2>&1 && echo php-fpm
command -v nginx >/dev/null && echo nginx
{ mariadb-admin ping || mysqladmin ping; } 2>/dev/null | grep -q alive && echo mariadb
command -v redis-cli >/dev/null && [ "$(redis-cli ping 2>/dev/null)" = PONG ] && echo redis
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


@dataclass(frozen=True)
class Stack:
    """One copy's services as discovery sees them."""

    services: dict[str, Service]  # those that discovery covers
    containers: dict[str, str]  # every service's container
    probe: str | None  # the copy's probe container
    folder: Path = Path(".")  # the scenario's folder: the client's configuration files are there
    configs: dict[str, list[str]] = field(default_factory=dict)  # service -> where its configuration files went


def observe(
    engine: EngineLike, stack: Stack, token: Token, baseline: bool = False, before: Discovery | None = None
) -> Discovery:
    """Run every probe that applies to each service of the stack on one copy; on the baseline,
    also find where the client's code and configuration name each inventory item. Given the
    copy's first discovery (`before`), observe again only what may vary between two
    observations: the database objects tried and the routes requested (inventories, imports
    and configuration tests do not)."""
    found = Discovery()
    shells = ShellPool(engine, token)

    def each(name: str) -> tuple[list[Observation], list[str], Plan]:
        if before is None:
            return _service(shells, name, stack)
        plan = before.plans.get(name, Plan())
        again = _routes(shells, name, plan, stack.probe)
        if plan.postgresql is not None and plan.tried:
            again = _postgresql(shells, name, stack.containers[name], plan.postgresql, server=False)[0] + again
        return again, [], plan

    try:
        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="discover") as pool:
            done = list(pool.map(each, stack.services))
        for name, (observations, notes, plan) in zip(stack.services, done, strict=True):
            found.observations += observations
            found.notes[name] = notes
            found.plans[name] = plan
        if baseline and before is None:
            _mentions(shells, stack, found.observations)
    finally:
        shells.close()
    return found


def _service(run: Runner, name: str, stack: Stack) -> tuple[list[Observation], list[str], Plan]:
    service, container = stack.services[name], stack.containers[name]
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
    if "mariadb" in has:
        probes.append(("MariaDB", lambda: _mariadb(run, name, container, service)))
    if "nginx" in has:
        probes.append(("nginx", lambda: _nginx(run, name, container)))
    if "redis" in has:
        probes.append(("Redis", lambda: _redis(run, name, container, service, stack.folder)))
    if service.app is not None and service.app.language == "python":
        if "python3" in has:
            probes.append(("Python", lambda: _python(run, name, service, container, stack.probe, plan)))
        else:
            notes.append(f"the application is declared as Python, but the image has no python3 (at {service.app.path})")
    elif service.app is not None and "php" not in has:
        notes.append(f"the application is declared as PHP, but the image has no php (at {service.app.path})")
    if "php" in has and (service.app is not None and service.app.language == "php" or "php-fpm" in has):
        probes.append(("PHP", lambda: _php(run, name, container, service)))
    if not probes and not notes:
        notes.append(
            "nothing to probe: no PostgreSQL, MariaDB, nginx, Redis or PHP-FPM server runs here"
            " and no application is declared (`app:`)"
        )
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
                else observation(check_id, name, Outcome.FAILED, answer)
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
    run: Runner, name: str, service: Service, container: str, probe: str | None, plan: Plan
) -> tuple[list[Observation], str]:
    assert service.app is not None
    found = python.parse(_exec(run, container, ["python3", "-c", python.SCRIPT], python.env(service.app.path), None))
    out = [inventory(f"{PREFIX}{name} python distributions", name, found.distributions)]
    for module, error in sorted(found.modules.items()):
        check_id = f"{PREFIX}{name} import {module}"
        if error:
            found_error = observation(check_id, name, Outcome.FAILED, error.strip().splitlines()[-1])
            found_error.detail = error
            out.append(found_error)
        else:
            out.append(observation(check_id, name, Outcome.PASSED))
    for module, (where, there) in sorted(found.deferred.items()):
        check_id = f"{PREFIX}{name} import {module} when it runs"
        missing = f"No module named '{module}' (imported at {where}, when that code runs)"
        out.append(
            observation(check_id, name, Outcome.PASSED)
            if there
            else observation(check_id, name, Outcome.FAILED, missing)
        )
    routes = {route: ",".join(info["methods"]) for route, info in found.routes.items()}
    if routes:
        out.append(inventory(f"{PREFIX}{name} flask routes", name, routes))
    port = service.app.port or next((int(p.split("/")[0]) for p in service.expose if p.split("/")[0].isdigit()), None)
    gets = python.gets(found)
    said = (
        f"Python {found.python}: {len(found.modules)} module(s) imported,"
        f" {len(found.deferred)} module(s) that code imports when it runs looked up, {len(found.routes)} route(s)"
    )
    if gets and port is None:
        said += "; its routes were not requested: give the port (`app: {port: …}` or `expose`)"
    elif gets and probe is None:
        said += "; its routes were not requested: the probe container did not start"
    elif gets:
        assert port is not None
        plan.port, plan.routes = port, gets
        out += _routes(run, name, plan, probe)
        said += f", {len(gets)} requested (GET, numbers as 1, on port {port})"
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
        got = declarative.http_observation(check_id, check, answer, fails_from=500)  # a 401 or 404 is an answer
        got.kind = Kind.DISCOVERED
        out.append(got)
    return out


# php ---------------------------------------------------------------------------------------
def _php(run: Runner, name: str, container: str, service: Service) -> tuple[list[Observation], str]:
    """PHP's modules, each file of a PHP application linted, PHP-FPM's configuration test."""
    path = service.app.path if service.app is not None and service.app.language == "php" else ""
    found = php.parse(_exec(run, container, ["sh", "-c", php.SCRIPT], {"LAB_APP_PATH": path}, None))
    out = [inventory(f"{PREFIX}{name} php modules", name, found.modules)]
    for file, said in sorted(found.files.items()):
        failed = found.failed.get(file, "")
        out.append(
            observation(
                f"{PREFIX}{name} php -l {file}",
                name,
                Outcome.FAILED if failed else Outcome.PASSED,
                failed,
                exit_code=1 if failed else 0,
                stdout="\n".join(said),
                stderr="",
            )
        )
    if found.fpm is not None:
        out.append(tested(f"{PREFIX}{name} php-fpm -t", name, *found.fpm))
    notes = f"PHP {found.version}: {len(found.modules)} modules"
    notes += f", {len(found.files)} file(s) linted" if path else ""
    notes += ", PHP-FPM's configuration tested" if found.fpm is not None else ""
    return out, notes


# mariadb ----------------------------------------------------------------------------------
MARIADB_INVENTORIES = {"setting": "settings", "plugin": "plugins", "collation": "collations", "database": "databases"}
ROOT_PASSWORDS = ("MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD")


def _mariadb(run: Runner, name: str, container: str, service: Service) -> tuple[list[Observation], str]:
    """The server's inventories, the tables whose collation is not the server's default,
    the client's objects, and each view and function without parameters tried. As root
    (Debian's MariaDB lets the OS user root in), with the root password of the service's
    environment where it has one."""
    password = next((service.environment[k] for k in ROOT_PASSWORDS if service.environment.get(k)), None)
    env = mariadb.ENV | ({"MYSQL_PWD": password} if password else {})
    found = mariadb.parse(_exec(run, container, ["sh", "-c", mariadb.SCRIPT], env, "root"))
    if not found.server:
        raise LabError(f"the client answered nothing: {' '.join(found.errors)[:500]}")
    out = [
        inventory(f"{PREFIX}{name} mariadb {title}", name, found.server.get(kind, {}))
        for kind, title in MARIADB_INVENTORIES.items()
    ]
    default = found.server.get("default collation", {}).get("", "")
    collations = inventory(
        f"{PREFIX}{name} mariadb tables whose collation is not the server's default",
        name,
        {"(the server's default)": default} | found.server.get("other collation", {}),
    )
    out += [collations, inventory(f"{PREFIX}{name} mariadb objects", name, found.objects)]
    for obj, (ok, answer) in sorted(found.tries.items()):
        check_id = f"{PREFIX}{name} mariadb: {obj}"
        if ok:
            out.append(observation(check_id, name, Outcome.PASSED, value=answer))
        elif "max_statement_time" in answer:
            out.append(observation(check_id, name, Outcome.SKIPPED, f"not judged: {answer}"))
        else:
            out.append(observation(check_id, name, Outcome.FAILED, answer))
    said = (
        f"MariaDB: {len(found.server.get('database', {}))} database(s), {len(found.objects)} object(s) of the"
        f" client's, {len(found.tries)} tried (views queried, functions without parameters called)"
    )
    return out, said


# nginx and redis -------------------------------------------------------------------------
def _nginx(run: Runner, name: str, container: str) -> tuple[list[Observation], str]:
    """`nginx -t` (its words compared: a refusal fails, a warning is a changed answer) and
    the modules nginx was built with."""
    result = run(container, bounded(["sh", "-c", servers.NGINX], PROBE_SECONDS), None, None, PROBE_SECONDS)
    code, said, modules = servers.nginx(result.stdout)
    out = [
        tested(f"{PREFIX}{name} nginx -t", name, code, said.splitlines()),
        inventory(f"{PREFIX}{name} nginx modules", name, modules),
    ]
    return out, f"nginx: its configuration tested (nginx -t), {len(modules)} modules built in"


def _redis(run: Runner, name: str, container: str, service: Service, folder: Path) -> tuple[list[Observation], str]:
    """The commands the server offers and the values of what the client's configuration
    files set."""
    directives = [d for item in service.config for d in servers.redis_directives((folder / item.file).read_text())]
    env = {"LAB_REDIS_SETTINGS": " ".join(dict.fromkeys(directives))}
    commands, settings, problems = servers.redis(_exec(run, container, ["sh", "-c", servers.REDIS], env, None))
    if problems and not commands:
        raise LabError(f"redis-cli: {problems[0]}")
    out = [inventory(f"{PREFIX}{name} redis commands", name, commands)]
    if directives:
        out.append(inventory(f"{PREFIX}{name} redis settings of the client's configuration", name, settings))
    said = f"Redis: {len(commands)} commands" + (
        f", {len(settings)} settings of the client's configuration" if directives else ""
    )
    return out, said


# mentions -------------------------------------------------------------------------------
def _mentions(run: Runner, stack: Stack, found: list[Observation]) -> None:
    """Fill each inventory's `mentions` from the applications' folders and the client's
    configuration files in the copy."""
    places: dict[str, list[str]] = {}
    for name, service in stack.services.items():
        places.setdefault(stack.containers[name], []).extend(
            ([service.app.path] if service.app is not None else []) + stack.configs.get(name, [])
        )
    places = {container: paths for container, paths in places.items() if paths}
    inventories = [o for o in found if o.mentions is not None and o.outcome == Outcome.PASSED]
    if not places or not inventories:
        return
    wanted = {w for o in inventories for item in o.output["value"] for w in mentions.words(item)}
    where = mentions.find(run, places, wanted)
    for o in inventories:
        o.mentions = {item: at for item in o.output["value"] if (at := mentions.named(item, where)) is not None}
