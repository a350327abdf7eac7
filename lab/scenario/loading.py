"""The scenario model: load a scenario folder, validate it strictly, resolve its variants.

A scenario folder holds `scenario.yml`, the Dockerfiles it builds and the check files it
runs. The YAML is parsed once into frozen pydantic models; every problem (unknown key,
wrong type, missing file, dangling reference) is collected and reported together, each
with `file:line`, the key path and a fix. Nothing here talks to Docker.

The resolved form is a `Scenario` with one `Variant` per copy to stage: the baseline and
each candidate, each a full stack obtained by deep-merging the variant's overrides into
the shared `services`.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from lab.errors import ScenarioError, did_you_mean
from lab.scenario import secrets, yamlpos
from lab.scenario.model import CANDIDATE_RE, NAME_RE, Backup, Checks, ScenarioFile, Service, Timeouts, Upgrade, Verify
from lab.scenario.overrides import Given, apply_given

SCENARIO_FILE = "scenario.yml"
M = TypeVar("M", bound=BaseModel)
BASELINE = "baseline"
TWIN = "baseline-2"  # the second baseline copy, staged when checks.noise.second_copy asks
PROBE_KINDS = ("sql", "http", "command")


@dataclass(frozen=True)
class Variant:
    """One copy to stage: the baseline or a candidate, as a complete stack."""

    name: str
    role: str  # "baseline" or "candidate"
    description: str
    services: dict[str, Service]


@dataclass(frozen=True)
class Scenario:
    """A validated scenario, ready to stage. Paths are absolute."""

    name: str
    folder: Path
    description: str
    client: str
    consultant: str
    change: str
    variants: tuple[Variant, ...]
    test_files: tuple[tuple[Path, tuple[str, ...]], ...]  # (file, services its `host` targets)
    checks: Checks
    timeouts: Timeouts
    backups: tuple[tuple[str, Backup, Path], ...] = ()  # (service, artefact, absolute path)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)  # name -> value: redacted in artefacts
    verify: tuple[Verify, ...] = ()
    upgrade: Upgrade = Upgrade()
    effective: dict[str, Any] = field(default_factory=dict, repr=False)  # the file's data with the overrides
    overrides: tuple[str, ...] = ()  # as given: "--set KEY=VALUE", "LAB_SET_X=KEY=VALUE", "--matrix ..."

    @property
    def baseline(self) -> Variant:
        return self.variants[0]

    @property
    def candidates(self) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if v.role == "candidate")

    @property
    def twin(self) -> Variant | None:
        """The second baseline copy, when the scenario asks for one."""
        return next((v for v in self.variants if v.name == TWIN), None)


def deep_merge(base: Any, override: Any) -> Any:
    """Overrides win; mappings merge key by key, anything else is replaced.

    >>> deep_merge({"build": {"context": "db", "args": {"A": "1"}}}, {"build": {"args": {"A": "2"}}})
    {'build': {'context': 'db', 'args': {'A': '2'}}}
    """
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def start_order(services: dict[str, Service]) -> list[list[str]]:
    """Waves of services: each wave depends only on earlier waves.

    >>> start_order({"app": Service(image="a", depends_on=["db"]), "db": Service(image="d")})
    [['db'], ['app']]
    """
    waves: list[list[str]] = []
    placed: set[str] = set()
    while len(placed) < len(services):
        wave = sorted(n for n, s in services.items() if n not in placed and set(s.depends_on) <= placed)
        if not wave:
            cycle = sorted(set(services) - placed)
            raise ScenarioError(
                f"services {', '.join(cycle)} depend on each other in a cycle — break the cycle in depends_on"
            )
        waves.append(wave)
        placed.update(wave)
    return waves


def available(scenarios_dir: Path) -> dict[str, Path]:
    """Scenario names found under `scenarios_dir`, each with its folder."""
    if not scenarios_dir.is_dir():
        return {}
    return {p.parent.name: p.parent for p in sorted(scenarios_dir.glob(f"*/{SCENARIO_FILE}"))}


def locate(name_or_path: str, scenarios_dir: Path) -> Path:
    """The folder of a scenario given by name (under `scenarios_dir`) or by path."""
    given = Path(name_or_path)
    if given.name == SCENARIO_FILE and given.is_file():
        return given.parent
    if (given / SCENARIO_FILE).is_file():
        return given
    known = available(scenarios_dir)
    if name_or_path in known:
        return known[name_or_path]
    hint = did_you_mean(name_or_path, known)
    listing = ", ".join(known) or "none"
    raise ScenarioError(
        f"no scenario '{name_or_path}' in {_shown(scenarios_dir)}/{hint or '.'} Available: {listing}"
        " (`invoke scenarios` lists them with their descriptions)"
    )


def summary(folder: Path) -> str:
    """The description line of a scenario, without full validation (for listings)."""
    try:
        data, _ = yamlpos.load(folder / SCENARIO_FILE, str(folder / SCENARIO_FILE))
    except ScenarioError:
        return "(invalid: run `invoke validate` on it)"
    text = data.get("description", "") if isinstance(data, dict) else ""
    return str(text).strip().splitlines()[0] if text else ""


def load(name_or_path: str, scenarios_dir: Path = Path("scenarios"), given: Given | None = None) -> Scenario:
    """Load, validate and resolve a scenario, with the values `given` from outside its file
    (overrides, matrices, the choice of candidates); raises ScenarioError listing every problem."""
    folder = locate(name_or_path, scenarios_dir).resolve()
    path = folder / SCENARIO_FILE
    shown = _shown(path)
    data, positions = yamlpos.load(path, shown)
    if not isinstance(data, dict):
        raise ScenarioError(f"{shown}:1: the file must be a mapping with description, services, candidates")
    report = _Problems(shown, positions)
    report.lines += apply_given(data, given or Given(), positions)
    # Every part is validated on its own, so that all problems are reported at once.
    spec = report.validate(ScenarioFile, data, ())
    services_raw = _mapping(data.get("services"))
    base = {name: report.validate(Service, raw or {}, ("services", name)) for name, raw in services_raw.items()}
    overrides = {
        where: {
            name: report.validate(Service, raw or {}, where + ("services", name))
            for name, raw in _mapping(_mapping(variant).get("services")).items()
        }
        for where, variant in _variant_specs(data)
    }
    _check_names(data, report)
    secret_values = _check_secrets(data, spec, folder, report)
    test_files = _test_files(data, folder, report)
    backups = _check_backups(spec, folder, report) if spec is not None else []
    variants = []
    if spec is None or None in base.values():  # check what can be checked
        _check_stack({n: s for n, s in base.items() if s}, (BASELINE,), folder, report, set(base))
    else:
        for (where, variant), role in zip(
            _variant_specs(data), ["baseline"] + ["candidate"] * len(spec.candidates), strict=True
        ):
            stack = {
                name: service.model_copy(
                    update={
                        "environment": {
                            key: secrets.substitute(value, secret_values) for key, value in service.environment.items()
                        }
                    }
                )
                for name, service in _resolve(base, overrides[where], where, report).items()
            }
            _check_stack(stack, where, folder, report, set(stack))
            name = BASELINE if where == (BASELINE,) else str(where[1])
            variants.append(Variant(name, role, str(_mapping(variant).get("description", "")).strip(), stack))
    if spec is None or report.lines:
        raise ScenarioError(report.lines)
    if spec.checks.noise.second_copy:
        variants.insert(
            1,
            Variant(TWIN, "baseline", "a second copy of the baseline, to tell noise from change", variants[0].services),
        )
    return Scenario(
        name=folder.name,
        folder=folder,
        description=spec.description.strip(),
        client=spec.client,
        consultant=spec.consultant,
        change=spec.change,
        variants=tuple(variants),
        test_files=tuple(test_files),
        checks=spec.checks,
        timeouts=spec.timeouts,
        backups=tuple(backups),
        verify=tuple(spec.verify),
        upgrade=spec.upgrade,
        secrets=secret_values,
        effective=copy.deepcopy(data),
        overrides=tuple(given.described()) if given else (),
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _variant_specs(data: dict[str, Any]) -> list[tuple[yamlpos.KeyPath, Any]]:
    """(where, raw spec) of the baseline and of every candidate."""
    candidates = _mapping(data.get("candidates"))
    return [((BASELINE,), data.get(BASELINE))] + [(("candidates", name), v) for name, v in candidates.items()]


def _resolve(
    base: dict[str, Service | None], overrides: dict[str, Service | None], where: yamlpos.KeyPath, report: _Problems
) -> dict[str, Service]:
    """A variant's full stack: its overrides deep-merged into the shared services. Both
    sides are merged in their validated, normalised form (`build: db` is
    `build: {context: db}`), keeping only what each actually says."""
    stack = {}
    for name, service in base.items():
        assert service is not None
        override = overrides.get(name)
        merged = deep_merge(
            service.model_dump(exclude_unset=True), override.model_dump(exclude_unset=True) if override else {}
        )
        validated = report.validate(Service, merged, where + ("services", name))
        if validated is not None:
            stack[name] = validated
    return stack


def _check_stack(
    stack: dict[str, Service], where: yamlpos.KeyPath, folder: Path, report: _Problems, names: set[str]
) -> None:
    """What a variant's resolved stack must satisfy: something to run, known
    dependencies without cycles, build folders and Dockerfiles that exist."""

    def at(name: str, *rest: str) -> yamlpos.KeyPath:
        # The problem is the override's when the variant sets that key, else the stack's.
        own = where + ("services", name) + rest[:1]
        return own + rest[1:] if report.positions.has(own) else ("services", name) + rest

    for name, service in stack.items():
        if service.image is None and service.build is None:
            report.add(at(name), "needs 'image' or 'build' — say what to run")
        for dep in service.depends_on:
            if dep not in names:
                report.add(at(name, "depends_on"), f"unknown service '{dep}'{did_you_mean(dep, names)}")
        if service.build is not None:
            context = folder / service.build.context
            dockerfile = context / service.build.dockerfile
            if not context.is_dir():
                report.add(at(name, "build", "context"), f"folder not found: {_shown(context)}")
            elif not dockerfile.is_file():
                report.add(at(name, "build"), f"Dockerfile not found: {_shown(dockerfile)}")
    known = {n: s for n, s in stack.items() if set(s.depends_on) <= set(stack)}
    try:
        start_order(known)
    except ScenarioError as err:
        report.add(at(sorted(known)[0], "depends_on") if known else where, str(err))


def _check_names(data: dict[str, Any], report: _Problems) -> None:
    """Names and references that do not depend on the variants."""
    services = _mapping(data.get("services"))
    for service in services:
        if not NAME_RE.match(str(service)):
            report.add(("services", service), "service names use a-z, 0-9 and '-' (max 31 characters)")
    candidates = _mapping(data.get("candidates"))
    if not candidates:
        report.add(("candidates",), "no candidate — name at least one proposed upgrade")
    for name in candidates:
        if name in (BASELINE, TWIN) or not CANDIDATE_RE.match(str(name)):
            report.add(("candidates", name), "candidate names use a-z, 0-9, '.' and '-', and are not 'baseline'")
    for where, variant in _variant_specs(data):
        for service in _mapping(_mapping(variant).get("services")):
            if service not in services:
                report.add(
                    where + ("services", service),
                    f"service '{service}' is not in the stack{did_you_mean(service, services)}",
                )
    checks = _mapping(data.get("checks"))
    hosts: list[tuple[yamlpos.KeyPath, str]] = []
    if isinstance(checks.get("host"), str):
        hosts.append((("checks", "host"), checks["host"]))
    for index, test in enumerate(_list(checks.get("testinfra"))):
        hosts += [(("checks", "testinfra", index, "hosts"), h) for h in _names(_mapping(test).get("hosts"))]
    for kind in PROBE_KINDS:
        seen: set[str] = set()
        for index, probe in enumerate(_list(checks.get(kind))):
            probe = _mapping(probe)
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


def _check_secrets(data: dict[str, Any], spec: ScenarioFile | None, folder: Path, report: _Problems) -> dict[str, str]:
    """Secrets are referenced, never written inline; every reference names a secret that
    can be read. Returns the values (for substitution and redaction)."""
    if spec is None:  # the file is invalid elsewhere: check the references against the names it declares
        declared: dict[str, Any] = {str(k): None for k in _mapping(data.get("secrets"))}
        values: dict[str, str] = {}
        problems: list[str] = []
    else:
        declared = dict(spec.secrets)
        values, problems = secrets.resolve(spec.secrets, folder, dict(os.environ))
    for line in problems:
        name = line.split(":", 1)[0].split(".", 1)[1]
        report.add(("secrets", name), line.split(": ", 1)[1])
    places: list[tuple[yamlpos.KeyPath, Any]] = [
        (("services", s), raw) for s, raw in _mapping(data.get("services")).items()
    ]
    places += [
        (where + ("services", s), raw)
        for where, variant in _variant_specs(data)
        for s, raw in _mapping(_mapping(variant).get("services")).items()
    ]
    for where, raw in places:
        environment = _mapping(raw).get("environment")
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
    return values


def _check_backups(spec: ScenarioFile, folder: Path, report: _Problems) -> list[tuple[str, Backup, Path]]:
    """The backup artefacts (files that exist, for services that exist) and the
    verifications (one kind each, for services that exist)."""
    found = []
    for service, items in spec.backup.items():
        if service not in spec.services:
            report.add(("backup", service), f"unknown service '{service}'{did_you_mean(service, spec.services)}")
        for index, item in enumerate(items):
            path = (folder / item.file).resolve()
            if not path.is_file():
                report.add(("backup", service, index, "file"), f"backup file not found: {_shown(path)}")
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
            report.add(("verify", index, "manifest"), f"manifest not found: {_shown(folder / check.manifest)}")
    for part in ("steps", "rollback"):
        for index, step in enumerate(getattr(spec.upgrade, part)):
            for key, named in (("service", step.service), ("into", step.into.service if step.into else None)):
                if named is not None and named not in spec.services:
                    report.add(
                        ("upgrade", part, index, key), f"unknown service '{named}'{did_you_mean(named, spec.services)}"
                    )
    return found


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _test_files(data: dict[str, Any], folder: Path, report: _Problems) -> list[tuple[Path, tuple[str, ...]]]:
    """The test files with the services each runs against; a file listed twice runs once,
    against the hosts of both entries."""
    services = _mapping(data.get("services"))
    checks = _mapping(data.get("checks"))
    default_host = str(checks["host"]) if isinstance(checks.get("host"), str) else str(next(iter(services), ""))
    files: dict[Path, list[str]] = {}
    for index, test in enumerate(_list(checks.get("testinfra"))):
        entry = {"file": test} if isinstance(test, str) else _mapping(test)
        if not isinstance(entry.get("file"), str):
            continue  # reported by the type check
        path = (folder / entry["file"]).resolve()
        if not path.is_file():
            report.add(("checks", "testinfra", index), f"test file not found: {_shown(path)}")
        hosts = files.setdefault(path, [])
        hosts += [h for h in _names(entry.get("hosts")) or [default_host] if h not in hosts]
    if not files and not any(_list(checks.get(kind)) for kind in PROBE_KINDS):
        report.add(
            ("checks",),
            "no checks — list pytest/testinfra files under checks.testinfra, or sql, http and command checks",
        )
    return [(path, tuple(hosts)) for path, hosts in files.items()]


class _Problems:
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


def _shown(path: Path) -> str:
    """A path as a person would type it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
