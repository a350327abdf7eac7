"""The scenario file's schema: strict pydantic models of what a scenario.yml may say.

Unknown keys are errors (extra="forbid"); values a person writes loosely (durations such
as "500ms", Compose's list form of environment, a command as a string) are normalised by
the types of `lab.scenario.fields`. `lab.scenario.loading` loads files into these models and
reports problems with file and line.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import sqlparse
from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from lab.scenario.fields import (
    NAME_RE,
    Argv,
    Deadline,
    Duration,
    Headers,
    JsonPath,
    Model,
    Regex,
    StrList,
    TextMap,
    parse_size,
)

OS_USER_NOT_USER = (
    "here the OS user is written run_as: (user: names a database role, on sql checks, backups, verify and"
    " replay) — rename the key to run_as"
)


def _no_user(value: str | None) -> str | None:
    if value is not None:
        raise ValueError(OS_USER_NOT_USER)
    return value


class Healthcheck(Model):
    """Compose's healthcheck; run by the engine and polled by the lab until healthy."""

    test: Argv
    interval: Deadline = 0.5
    timeout: Deadline = 5.0
    retries: int = Field(default=3, ge=1)
    start_period: Duration = 0.0


class Build(Model):
    """Build an image from a folder of the scenario."""

    context: str = "."
    dockerfile: str = "Dockerfile"
    args: TextMap = {}


def _build(value: Any) -> Any:
    return {"context": value} if isinstance(value, str) else value


class Resources(Model):
    """Limits of one container, so that a runaway copy cannot take the machine down."""

    memory: Annotated[int, BeforeValidator(parse_size), Field(gt=4 << 20)] = 1 << 30
    cpus: float = Field(default=1.0, gt=0)
    pids: int = Field(default=1024, ge=16)


class App(Model):
    """The client's own application in a service's image: where its code is and what it is
    written in, so that discovery (lab.discover) can load it with the copy's own runtime."""

    path: str = Field(pattern=r"^/")
    language: Literal["python", "php"]
    port: int | None = Field(default=None, ge=1, le=65535)  # where it answers HTTP; default: the first `expose`


class ConfigFile(Model):
    """One of the client's configuration files, placed into the service's container before
    it starts. `path` is where it goes: a file's path, or a folder (ending in "/") to put
    it in under its own name; `*` and `?` stand for what differs between versions
    (`/etc/postgresql/*/main/conf.d/`) and must match exactly one path in the image."""

    file: str
    path: str = Field(pattern=r"^/")


class Service(Model):
    """One service of the client's stack, in Compose's words."""

    image: str | None = None
    build: Annotated[Build | None, BeforeValidator(_build)] = None
    environment: TextMap = {}
    command: Argv | None = None
    entrypoint: Argv | None = None
    user: str | None = None  # the container's own user (Compose's key): its main process runs as it
    run_as: str | None = None  # the OS user the lab's commands run as in it (restores, checks, steps); see lab.users
    working_dir: str | None = None
    healthcheck: Healthcheck | None = None
    depends_on: StrList = []
    volumes: StrList = []
    expose: StrList = []
    resources: Resources = Resources()
    app: App | None = None
    config: list[ConfigFile] = []  # the client's own configuration files (lab.pipeline.configs)
    discover: bool | None = None  # this service's discovery probes on or off; default: the scenario's `discover`

    @field_validator("volumes")
    @classmethod
    def _named_volumes(cls, volumes: list[str]) -> list[str]:
        for spec in volumes:
            name, sep, target = spec.partition(":")
            if not sep or not NAME_RE.match(name) or not target.startswith("/"):
                raise ValueError(
                    f"{spec!r}: write a named volume as NAME:/path (NAME in a-z, 0-9, -);"
                    " each copy gets its own volume, host folders are not mounted"
                )
        return volumes


class VariantSpec(Model):
    """A variant: a description plus overrides merged into the shared services."""

    description: str = ""
    services: dict[str, dict[str, Any]] = {}


class TestFile(Model):
    """A pytest/testinfra file and the services its `host` fixture runs against."""

    file: str
    hosts: StrList = []


def _test_file(value: Any) -> Any:
    return {"file": value} if isinstance(value, str) else value


class Ignore(Model):
    """What to leave out before outputs are compared: the explicit noise rules."""

    regex: list[Regex] = []  # masked in text (command output, HTTP bodies, SQL values)
    json_paths: list[JsonPath] = []  # fields of JSON bodies
    columns: list[str] = []  # SQL result columns


class Probe(Model):
    """What every declarative check has: a name, the service it runs against, how often."""

    name: str = Field(min_length=1)
    service: str
    compare: bool = True  # diff the candidate's output against the baseline's
    writes: bool = False  # it changes what it reads (a registration, a counter): no noise from the same copy
    repeat: int = Field(default=1, ge=1, le=1000)
    timeout: Deadline = 30.0
    ignore: Ignore = Ignore()


class SqlCheck(Probe):
    """A query run with the service's own client (psql, mariadb/mysql, sqlite3)."""

    query: str
    dialect: Literal["postgresql", "mysql", "sqlite"] = "postgresql"
    database: str | None = None  # for sqlite: the database file
    user: str | None = None  # the database role (the OS user is the service's run_as: lab.users)
    ordered: bool = True  # false: rows compare as a set (order-insensitive)

    @field_validator("query")
    @classmethod
    def _one_statement(cls, query: str) -> str:
        """One statement: its answer is what is compared (a PostgreSQL query also runs again
        for its column types and timings, which statements that write would not survive)."""
        if len([s for s in sqlparse.split(query) if s.strip().strip(";").strip()]) > 1:
            raise ValueError(
                "an sql check is one statement, and this query has several — make a check of each,"
                " or run a script with a command check (psql --file, mariadb < file)"
            )
        return query


class HttpCheck(Probe):
    """A request sent from inside the copy's network (a probe container) to a service."""

    port: int = Field(default=80, ge=1, le=65535)
    scheme: Literal["http", "https"] = "http"  # https: any certificate accepted, and reported
    http_version: Annotated[Literal["1.1", "2"], BeforeValidator(str)] = (
        "1.1"  # "2": HTTP/2 (ALPN h2 over https, prior knowledge over http)
    )
    method: str = "GET"
    path: str = "/"
    host: str | None = None  # the Host header (a virtual host); default: the service's name
    headers: Headers = []
    body: str | None = None
    body_file: str | None = None  # a file of the scenario sent as the body (bytes as they are)
    expect_status: int | None = None  # default: any status below 400 passes
    compare_headers: list[str] = ["content-type"]


class CommandCheck(Probe):
    """A command run in a service's container; exit code and output are compared."""

    run: Argv
    run_as: str | None = None  # the OS user; default: the service's run_as, else the container's user
    user: Annotated[str | None, AfterValidator(_no_user)] = None
    expect_exit: int = 0


def _routes(value: Any) -> Any:
    return {"*": value} if isinstance(value, str) else value


LogFormat = Literal["access-log", "har", "postgresql", "postgresql-csv", "mysql-general", "mysql-slow", "redis-monitor"]


class ReplayLog(Model):
    """A log of the client's production traffic, replayed against every copy (lab.replay).

    HTTP entries go by their host to `to` ("service:port", or a map of virtual host or
    URL host to "service:port", "*" for the rest); SQL entries to `service`'s database
    server as the logged user and database (`user`/`database` where the log does not
    say); Redis commands to `service` (port 6379 unless `port`) in their logged database.
    """

    file: str
    format: LogFormat | Literal["auto"] = "auto"  # recognised by content
    service: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    to: Annotated[dict[str, str], BeforeValidator(_routes)] = {}
    database: str | None = None
    user: str | None = None  # the database role (the OS user is the service's run_as: lab.users)
    log_line_prefix: str | None = None  # a PostgreSQL stderr log's, when not one of the usual
    connect_as: str | None = None  # the database user every replayed SQL session logs in as (lab.replay.sql_clients)
    writes: Literal["replay", "skip"] = "replay"
    max_distinct: int = Field(default=1000, ge=1)
    include: list[Regex] = []  # only entries whose id matches one of these
    exclude: list[Regex] = []
    repeat: int = Field(default=3, ge=1, le=100)  # an entry the log repeats runs up to this often (medians)
    timeout: Deadline = 30.0  # per entry
    ignore: Ignore = Ignore()


class Noise(Model):
    """Where the second baseline observation comes from (see lab.compare.diff)."""

    second_run: bool = True  # run the checks a second time on the baseline
    second_copy: bool = False  # stage a second baseline copy and observe it too


class Slowdown(Model):
    factor: float = Field(default=1.5, gt=1.0)  # candidate median / baseline median
    floor: Duration = 0.05  # and slower by at least this much (seconds)


class Checks(Model):
    host: str | None = None
    testinfra: list[Annotated[TestFile, BeforeValidator(_test_file)]] = []
    sql: list[SqlCheck] = []
    http: list[HttpCheck] = []
    command: list[CommandCheck] = []
    ignore: Ignore = Ignore()  # applies to every check, on top of each check's own
    noise: Noise = Noise()
    slowdown: Slowdown = Slowdown()


class Backup(Model):
    """One of the client's backup artefacts, restored into a service of every copy.

    postgresql: a pg_dump file — plain SQL, gzipped, or custom format (-Fc), recognised by
    its content — loaded with psql or pg_restore into `database` (created if missing).
    mysql: a mysqldump/mariadb-dump file (plain or gzipped) loaded into `database`.
    sqlite: an SQL dump (plain or gzipped) loaded into the database file `database`.
    redis-rdb: an RDB snapshot placed as `path` (default /var/lib/redis/dump.rdb) before
    the service starts. files: a tar archive (plain, gzip, bzip2, xz) unpacked at `path`
    before the service starts.
    """

    file: str
    format: Literal["postgresql", "mysql", "sqlite", "redis-rdb", "files"]
    database: str | None = None
    user: str | None = None  # the database role (the OS user is the service's run_as: lab.users)
    path: str | None = None
    timeout: Deadline = 600.0


class Verify(Model):
    """What a good restore looks like, checked in every copy: a query with a known answer,
    row counts per table, or a checksum manifest (sha256sum format) of restored files."""

    name: str = Field(min_length=1)
    service: str
    dialect: Literal["postgresql", "mysql", "sqlite"] = "postgresql"
    database: str | None = None
    user: str | None = None  # the database role (the OS user is the service's run_as: lab.users)
    query: str | None = None
    expect: str | None = None  # the query's answer, as psql -At (or the client's batch mode) prints it
    row_counts: dict[str, int] = {}
    manifest: str | None = None  # a file of the scenario: "<sha256>  <path in the container>" lines
    timeout: Deadline = 120.0


class Into(Model):
    """Where a step's output goes: the stdin of a command in another service or copy."""

    service: str
    run: Argv
    side: Literal["baseline", "candidate"] = "candidate"
    run_as: str | None = None  # the OS user; default: the service's run_as
    user: Annotated[str | None, AfterValidator(_no_user)] = None


class Step(Model):
    """One step of the upgrade (or rollback) procedure, run for real and timed.

    `run` runs in `service` of the copy on `side`; with `into`, its output is streamed
    (through the lab, no shared files) into another command's input — for example
    `pg_dump` on the baseline into `pg_restore` on the candidate."""

    name: str = Field(min_length=1)
    service: str
    run: Argv
    side: Literal["baseline", "candidate"] = "candidate"
    run_as: str | None = None  # the OS user; default: the service's run_as
    user: Annotated[str | None, AfterValidator(_no_user)] = None
    into: Into | None = None
    timeout: Deadline = 1800.0


class Upgrade(Model):
    """How production would really move. When `steps` are given, each candidate starts
    from the migrated baseline data instead of a fresh restore of the backup; their total
    time is the downtime estimate. `rollback` steps run after the checks, the same way."""

    steps: list[Step] = []
    rollback: list[Step] = []


class Timeouts(Model):
    build: Deadline = 1800.0
    ready: Deadline = 120.0
    checks: Deadline = 600.0
    pilot: Deadline = 7200.0  # the whole pilot, from the first build to the comparison


class Secret(Model):
    """Where a password or key comes from: an environment variable or a file — never the
    scenario itself. Its value is redacted in every artefact of a run."""

    env: str | None = None
    file: str | None = None


class PlanOptionSpec(Model):
    """Another scope the client may choose: some of the candidates, with the consultant's hours."""

    name: str = Field(min_length=1)
    candidates: StrList
    hours: float | None = Field(default=None, ge=0)


class PlanSpec(Model):
    """What the pilot plan (`invoke plan`) says of the consultant's time and its cost."""

    rate: float | None = Field(default=None, ge=0)  # per hour
    currency: str = ""
    hours: float | None = Field(default=None, ge=0)  # the consultant's hours for the pilot as planned
    options: list[PlanOptionSpec] = []


class ScenarioFile(Model):
    """The top level of scenario.yml."""

    description: str
    client: str = ""  # who the pilot is for: shown in every report
    consultant: str = ""  # who runs it
    change: str = ""  # the change reference (ticket) the report belongs to
    services: dict[str, dict[str, Any] | None]  # each validated as a Service on its own
    baseline: VariantSpec = VariantSpec()
    candidates: dict[str, VariantSpec]
    checks: Checks = Checks()
    backup: dict[str, list[Backup]] = {}  # service -> its backup artefacts
    verify: list[Verify] = []
    upgrade: Upgrade = Upgrade()
    secrets: dict[str, Secret] = {}
    timeouts: Timeouts = Timeouts()
    replay: list[ReplayLog] = []
    discover: bool = False  # probes of the lab's own on every service (lab.discover)
    plan: PlanSpec = PlanSpec()  # the consultant's rate and hours, for the pilot plan (lab.records.plans)
