"""Validation of a scenario file: every problem found at once, each located (`file:line`,
the key path) with a fix — unknown keys (with "did you mean"), wrong types, missing files,
dangling references between services, checks, secrets and backups. Nothing here talks to
Docker; `lab.scenario.loading` calls these while it resolves the variants."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from lab.errors import ScenarioError, did_you_mean
from lab.scenario import secrets, yamlpos
from lab.scenario.fields import CANDIDATE_RE, NAME_RE
from lab.scenario.model import Backup, ScenarioFile, Service
from lab.scenario.resolved import BASELINE, TWIN, start_order

M = TypeVar("M", bound=BaseModel)
PROBE_KINDS = ("sql", "http", "command")


def variant_specs(data: dict[str, Any]) -> list[tuple[yamlpos.KeyPath, Any]]:
    """(where, raw spec) of the baseline and of every candidate."""
    candidates = mapping(data.get("candidates"))
    return [((BASELINE,), data.get(BASELINE))] + [(("candidates", name), v) for name, v in candidates.items()]


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def names_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def check_stack(
    stack: dict[str, Service], where: yamlpos.KeyPath, folder: Path, report: Problems, names: set[str]
) -> None:
    """What a variant's resolved stack must satisfy: something to run, known
    dependencies without cycles, build folders and Dockerfiles that exist."""

    def at(name: str, *rest: str | int) -> yamlpos.KeyPath:
        # The problem is the override's when the variant sets that key, else the stack's.
        own = where + ("services", name) + rest[:1]
        return own + rest[1:] if report.positions.has(own) else ("services", name) + rest

    for name, service in stack.items():
        if service.image is None and service.build is None:
            report.add(at(name), "needs 'image' or 'build' — say what to run")
        for dep in service.depends_on:
            if dep not in names:
                report.add(at(name, "depends_on"), f"unknown service '{dep}'{did_you_mean(dep, names)}")
        for index, item in enumerate(service.config):
            if not (folder / item.file).is_file():
                report.add(
                    at(name, "config", index, "file"), f"configuration file not found: {shown(folder / item.file)}"
                )
        if service.build is not None:
            context = folder / service.build.context
            dockerfile = context / service.build.dockerfile
            if not context.is_dir():
                report.add(at(name, "build", "context"), f"folder not found: {shown(context)}")
            elif not dockerfile.is_file():
                report.add(at(name, "build"), f"Dockerfile not found: {shown(dockerfile)}")
    known = {n: s for n, s in stack.items() if set(s.depends_on) <= set(stack)}
    try:
        start_order(known)
    except ScenarioError as err:
        report.add(at(sorted(known)[0], "depends_on") if known else where, str(err))


def check_names(data: dict[str, Any], report: Problems) -> None:
    """Names and references that do not depend on the variants."""
    services = mapping(data.get("services"))
    for service in services:
        if not NAME_RE.match(str(service)):
            report.add(("services", service), "service names use a-z, 0-9 and '-' (max 31 characters)")
    candidates = mapping(data.get("candidates"))
    if not candidates:
        report.add(("candidates",), "no candidate — name at least one proposed upgrade")
    for name in candidates:
        if name in (BASELINE, TWIN) or not CANDIDATE_RE.match(str(name)):
            report.add(("candidates", name), "candidate names use a-z, 0-9, '.' and '-', and are not 'baseline'")
    for where, variant in variant_specs(data):
        for service in mapping(mapping(variant).get("services")):
            if service not in services:
                report.add(
                    where + ("services", service),
                    f"service '{service}' is not in the stack{did_you_mean(service, services)}",
                )
    for index, option in enumerate(_list(mapping(data.get("plan")).get("options"))):
        for name in names_in(mapping(option).get("candidates")):
            if name not in candidates:
                report.add(
                    ("plan", "options", index, "candidates"),
                    f"unknown candidate '{name}'{did_you_mean(str(name), candidates)}",
                )
    checks = mapping(data.get("checks"))
    hosts: list[tuple[yamlpos.KeyPath, str]] = []
    if isinstance(checks.get("host"), str):
        hosts.append((("checks", "host"), checks["host"]))
    for index, test in enumerate(_list(checks.get("testinfra"))):
        hosts += [(("checks", "testinfra", index, "hosts"), h) for h in names_in(mapping(test).get("hosts"))]
    for kind in PROBE_KINDS:
        seen: set[str] = set()
        for index, probe in enumerate(_list(checks.get(kind))):
            probe = mapping(probe)
            if isinstance(probe.get("service"), str):
                hosts.append(((("checks", kind, index, "service")), probe["service"]))
            probe_name = probe.get("name")
            if isinstance(probe_name, str) and probe_name in seen:
                report.add(
                    ("checks", kind, index, "name"), f"another {kind} check is named '{probe_name}' — names must differ"
                )
            seen.add(str(probe_name))
    for key_path, host in hosts:
        if host not in services:
            report.add(key_path, f"unknown service '{host}'{did_you_mean(host, services)}")


def check_secrets(data: dict[str, Any], spec: ScenarioFile | None, folder: Path, report: Problems) -> dict[str, str]:
    """Secrets are referenced, never written inline; every reference names a secret that
    can be read. Returns the values (for substitution and redaction)."""
    if spec is None:  # the file is invalid elsewhere: check the references against the names it declares
        declared: dict[str, Any] = {str(k): None for k in mapping(data.get("secrets"))}
        values: dict[str, str] = {}
        problems: list[str] = []
    else:
        declared = dict(spec.secrets)
        values, problems = secrets.resolve(spec.secrets, folder, dict(os.environ))
    for line in problems:
        name = line.split(":", 1)[0].split(".", 1)[1]
        report.add(("secrets", name), line.split(": ", 1)[1])
    places: list[tuple[yamlpos.KeyPath, Any]] = [
        (("services", s), raw) for s, raw in mapping(data.get("services")).items()
    ]
    places += [
        (where + ("services", s), raw)
        for where, variant in variant_specs(data)
        for s, raw in mapping(mapping(variant).get("services")).items()
    ]
    for where, raw in places:
        environment = mapping(raw).get("environment")
        pairs = environment.items() if isinstance(environment, dict) else []
        for key, value in pairs:
            text = str(value)
            for name in secrets.REFERENCE_RE.findall(text):
                if name not in declared:
                    report.add(
                        where + ("environment", key),
                        f"no secret '{name}'{did_you_mean(name, declared)} — declare it under secrets",
                    )
            if secrets.looks_secret(str(key)) and not secrets.REFERENCE_RE.search(text) and text:
                report.add(
                    where + ("environment", key),
                    "a secret written into the scenario — declare it under"
                    " secrets (env: VARIABLE or file: path) and write ${secret:NAME} here",
                )
    checks = mapping(data.get("checks"))
    for kind in ("http", "command", "sql"):
        for index, raw in enumerate(_list(checks.get(kind))):
            for key, value in mapping(raw).items():
                for name in secrets.REFERENCE_RE.findall(json.dumps(value)):
                    if name not in declared:
                        report.add(
                            ("checks", kind, index, key),
                            f"no secret '{name}'{did_you_mean(name, declared)} — declare it under secrets",
                        )
            body_file = mapping(raw).get("body_file")
            if isinstance(body_file, str) and not (folder / body_file).is_file():
                report.add(("checks", kind, index, "body_file"), f"file not found: {shown(folder / body_file)}")
            if isinstance(body_file, str) and mapping(raw).get("body") is not None:
                report.add(("checks", kind, index), "give body or body_file, not both")
    return values


def check_backups(spec: ScenarioFile, folder: Path, report: Problems) -> list[tuple[str, Backup, Path]]:
    """The backup artefacts (files that exist, for services that exist) and the
    verifications (one kind each, for services that exist)."""
    found = []
    for service, items in spec.backup.items():
        if service not in spec.services:
            report.add(("backup", service), f"unknown service '{service}'{did_you_mean(service, spec.services)}")
        for index, item in enumerate(items):
            path = (folder / item.file).resolve()
            if not path.is_file():
                report.add(("backup", service, index, "file"), f"backup file not found: {shown(path)}")
            if item.format in ("postgresql", "mysql", "sqlite") and not item.database:
                report.add(("backup", service, index), f"a {item.format} dump needs 'database': where to load it")
            found.append((service, item, path))
    for index, check in enumerate(spec.verify):
        if check.service not in spec.services:
            report.add(
                ("verify", index, "service"),
                f"unknown service '{check.service}'{did_you_mean(check.service, spec.services)}",
            )
        kinds = [k for k in ("query", "row_counts", "manifest") if getattr(check, k)]
        if len(kinds) != 1:
            report.add(("verify", index), "give exactly one of: query (with expect), row_counts, manifest")
        if check.query and check.expect is None:
            report.add(("verify", index), "a query needs 'expect': the answer a good restore gives")
        if check.manifest and not (folder / check.manifest).is_file():
            report.add(("verify", index, "manifest"), f"manifest not found: {shown(folder / check.manifest)}")
    for part in ("steps", "rollback"):
        for index, step in enumerate(getattr(spec.upgrade, part)):
            for key, named in (("service", step.service), ("into", step.into.service if step.into else None)):
                if named is not None and named not in spec.services:
                    report.add(
                        ("upgrade", part, index, key), f"unknown service '{named}'{did_you_mean(named, spec.services)}"
                    )
    if spec.upgrade.rollback and not spec.upgrade.steps:
        report.add(
            ("upgrade", "rollback"),
            "a rollback rehearses the way back from the upgrade steps, and there are none — add"
            " upgrade.steps (how the candidate gets the baseline's data), or remove upgrade.rollback",
        )
    return found


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def test_files_of(data: dict[str, Any], folder: Path, report: Problems) -> list[tuple[Path, tuple[str, ...]]]:
    """The test files with the services each runs against; a file listed twice runs once,
    against the hosts of both entries."""
    services = mapping(data.get("services"))
    checks = mapping(data.get("checks"))
    default_host = str(checks["host"]) if isinstance(checks.get("host"), str) else str(next(iter(services), ""))
    files: dict[Path, list[str]] = {}
    for index, test in enumerate(_list(checks.get("testinfra"))):
        entry = {"file": test} if isinstance(test, str) else mapping(test)
        if not isinstance(entry.get("file"), str):
            continue  # reported by the type check
        path = (folder / entry["file"]).resolve()
        if not path.is_file():
            report.add(("checks", "testinfra", index), f"test file not found: {shown(path)}")
        hosts = files.setdefault(path, [])
        hosts += [h for h in names_in(entry.get("hosts")) or [default_host] if h not in hosts]
    discovers = data.get("discover") is True or any(
        mapping(service).get("discover") is True for service in services.values()
    )
    if not files and not any(_list(checks.get(kind)) for kind in PROBE_KINDS) and not _list(data.get("replay")):
        if not discovers:
            report.add(
                ("checks",),
                "no checks — list pytest/testinfra files under checks.testinfra, sql, http and command checks,"
                " the client's traffic logs under replay, or let the lab find its own with `discover: true`",
            )
    return [(path, tuple(hosts)) for path, hosts in files.items()]


class Problems:
    """Collects problems as `file:line: key.path: message` lines."""

    def validate(self, model: type[M], data: Any, prefix: yamlpos.KeyPath) -> M | None:
        """`data` as a `model`, or None with its problems recorded."""
        try:
            return model.model_validate(data)
        except ValidationError as err:
            self.pydantic(err, prefix, model)
            return None

    def __init__(self, shown: str, positions: yamlpos.Positions):
        self.shown = shown
        self.positions = positions
        self.lines: list[str] = []

    def add(self, path: yamlpos.KeyPath, message: str) -> None:
        where = self.positions.where(path, self.shown)
        key = ".".join(str(p) for p in path) or "(top level)"
        text = f"{where}: {key}: {message}"
        if text not in self.lines:
            self.lines.append(text)

    def pydantic(self, err: ValidationError, prefix: yamlpos.KeyPath, model: type[BaseModel]) -> None:
        for item in err.errors():
            loc = tuple(item["loc"])
            if item["type"] == "extra_forbidden":
                fields = _fields_at(model, loc[:-1])
                self.add(prefix + loc, f"unknown key{did_you_mean(str(loc[-1]), fields)}")
            elif item["type"] == "missing":
                self.add(prefix + loc, "required key is missing — add it")
            else:
                message = str(item["msg"]).removeprefix("Value error, ")
                self.add(prefix + loc, message)


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model reached by following `loc` from `model`.

    >>> _fields_at(Service, ("build",))
    ['context', 'dockerfile', 'args']
    """
    current: Any = model
    for part in loc:
        current = _core(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            current = field.annotation if field else None
        elif get_origin(current) in (dict, list):
            current = get_args(current)[-1]
        else:
            return []
    current = _core(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _core(tp: Any) -> Any:
    """Strip Annotated and Optional from a type."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif get_origin(tp) in (Union, UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            models = [a for a in members if isinstance(_core(a), type) and issubclass(_core(a), BaseModel)]
            tp = (models or members)[0]
        else:
            return tp


def shown(path: Path) -> str:
    """A path as a person would type it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
