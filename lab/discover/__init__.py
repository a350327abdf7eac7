"""Checks nobody has to write: the lab asks the stack itself (`discover: true`).

For each service that discovery covers, the lab looks at what the container has (one
exec) and runs the probes that apply, each a module with its script, the parsing of its
answer and the observations it becomes, ordinary compared checks of kind `discovered`:
- lab.discover.postgresql: a PostgreSQL server's inventories (extensions, settings, system
  view columns, databases), the client's objects per database, each view, materialized
  view and function without parameters tried;
- lab.discover.mariadb: the same for MariaDB/MySQL, and the tables whose collation is not
  the server's default;
- lab.discover.servers: `nginx -t` and nginx's modules; Redis's commands and the settings
  the client's configuration files set;
- lab.discover.python and lab.discover.php: an application's code on the copy's own
  runtime (`app:`): Python's distributions, every module imported, the imports made only
  when code runs, the Flask routes requested through the copy's probe; PHP's modules,
  every file linted, `php-fpm -t`.

An inventory's answer is {item: detail}. On the baseline, the lab also looks for each
item's words in the applications' folders and the client's configuration files
(lab.discover.mentions): an item the candidate lacks is breaking when the client's code or
configuration names it, unknown otherwise (lab.compare.triage).

Probes only read, or undo what they ran; each has a deadline (lab.discover.probing). A
probe that does not apply to a service is said once, in the copy's notes, not per check.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lab.cancel import Token
from lab.checks.commands import Runner, bounded
from lab.discover import mariadb, mentions, php, postgresql, probing, python, servers
from lab.discover.probing import PREFIX, Plan, observation
from lab.engine.session import ShellPool
from lab.engine.types import EngineLike
from lab.errors import LabError, Stopped
from lab.results import Observation, Outcome
from lab.scenario.model import Service

DETECT_SECONDS = 15.0
PARALLEL = 4
# What the container has: a PostgreSQL server that answers (and its OS user when the
# container runs as another one: psql then runs as that user), Python, PHP and PHP-FPM,
# nginx, Apache, a MariaDB/MySQL server and a Redis server that answer.
DETECT = r"""
for bin in /usr/lib/postgresql/*/bin/postgres "$(command -v postgres)"; do
  [ -x "$bin" ] && command -v psql >/dev/null && pg_isready -q 2>/dev/null && { echo postgresql; break; }
done
[ "$(id -un 2>/dev/null)" != postgres ] && id -u postgres >/dev/null 2>&1 && echo os-user-postgres
command -v python3 >/dev/null && echo python3
command -v php >/dev/null && echo php
ls /usr/sbin/php-fpm* >/dev/null 2>&1 && echo php-fpm
command -v nginx >/dev/null && echo nginx
{ command -v apache2ctl || command -v apachectl; } >/dev/null && echo apache
{ mariadb-admin ping || mysqladmin ping; } 2>/dev/null | grep -q alive && echo mariadb
command -v redis-cli >/dev/null && [ "$(redis-cli ping 2>/dev/null)" = PONG ] && echo redis
exit 0
"""


@dataclass
class Discovery:
    """What discovery found on one copy: observations, what it said once per service, and
    what applied where."""

    observations: list[Observation] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # service -> sentences
    plans: dict[str, Plan] = field(default_factory=dict)


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
        again = probing.request_routes(shells, name, plan, stack.probe)
        if plan.postgresql is not None and plan.tried:
            again = postgresql.observe(shells, name, stack.containers[name], plan.postgresql, server=False)[0] + again
        if plan.mariadb_tried:  # a function's answer may vary: only the tries are kept
            tries = mariadb.observe(shells, name, stack.containers[name], stack.services[name], plan)[0]
            again = [o for o in tries if o.id.startswith(f"{PREFIX}{name} mariadb: ")] + again
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
        probes.append(("PostgreSQL", lambda: postgresql.observe(run, name, container, plan.postgresql, plan=plan)))
    if "mariadb" in has:
        probes.append(("MariaDB", lambda: mariadb.observe(run, name, container, service, plan)))
    for server in ("nginx", "apache"):
        if server in has:
            probes.append((server, functools.partial(servers.observe_web_server, run, name, container, server)))
    if "redis" in has:
        probes.append(("Redis", lambda: servers.observe_redis(run, name, container, service, stack.folder)))
    if service.app is not None and service.app.language == "python":
        if "python3" in has:
            probes.append(("Python", lambda: python.observe(run, name, service, container, stack.probe, plan)))
        else:
            notes.append(f"the application is declared as Python, but the image has no python3 (at {service.app.path})")
    elif service.app is not None and "php" not in has:
        notes.append(f"the application is declared as PHP, but the image has no php (at {service.app.path})")
    if "php" in has and (service.app is not None and service.app.language == "php" or "php-fpm" in has):
        probes.append(("PHP", lambda: php.observe(run, name, container, service, stack.probe, plan)))
    if not probes and not notes:
        notes.append(
            "nothing to probe: no PostgreSQL, MariaDB, nginx, Apache, Redis or PHP-FPM server runs here"
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
