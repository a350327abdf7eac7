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
from pathlib import Path
from typing import Any

from lab.errors import ScenarioError, did_you_mean
from lab.scenario import secrets, yamlpos
from lab.scenario.checking import (
    Problems,
    check_backups,
    check_names,
    check_secrets,
    check_stack,
    mapping,
    shown,
    test_files_of,
    variant_specs,
)
from lab.scenario.model import Checks, ScenarioFile, Service
from lab.scenario.overrides import Given, apply_given
from lab.scenario.resolved import BASELINE, TWIN, Scenario, Variant
from lab.scenario.traffic import check_replay

SCENARIO_FILE = "scenario.yml"


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
        f"no scenario '{name_or_path}' in {shown(scenarios_dir)}/{hint or '.'} Available: {listing}"
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
    file_shown = shown(path)
    data, positions = yamlpos.load(path, file_shown)
    if not isinstance(data, dict):
        raise ScenarioError(f"{file_shown}:1: the file must be a mapping with description, services, candidates")
    report = Problems(file_shown, positions)
    report.lines += apply_given(data, given or Given(), positions)
    # Every part is validated on its own, so that all problems are reported at once.
    spec = report.validate(ScenarioFile, data, ())
    services_raw = mapping(data.get("services"))
    base = {name: report.validate(Service, raw or {}, ("services", name)) for name, raw in services_raw.items()}
    overrides = {
        where: {
            name: report.validate(Service, raw or {}, where + ("services", name))
            for name, raw in mapping(mapping(variant).get("services")).items()
        }
        for where, variant in variant_specs(data)
    }
    check_names(data, report)
    secret_values = check_secrets(data, spec, folder, report)
    test_files = test_files_of(data, folder, report)
    backups = check_backups(spec, folder, report) if spec is not None else []
    replay = check_replay(spec, folder, report) if spec is not None else []
    variants = []
    if spec is None or None in base.values():  # check what can be checked
        check_stack({n: s for n, s in base.items() if s}, (BASELINE,), folder, report, set(base))
    else:
        for (where, variant), role in zip(
            variant_specs(data), ["baseline"] + ["candidate"] * len(spec.candidates), strict=True
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
            check_stack(stack, where, folder, report, set(stack))
            name = BASELINE if where == (BASELINE,) else str(where[1])
            variants.append(Variant(name, role, str(mapping(variant).get("description", "")).strip(), stack))
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
        checks=_resolved_checks(spec.checks, secret_values, folder),
        timeouts=spec.timeouts,
        backups=tuple(backups),
        replay=tuple(replay),
        verify=tuple(spec.verify),
        upgrade=spec.upgrade,
        secrets=secret_values,
        effective=copy.deepcopy(data),
        overrides=tuple(given.described()) if given else (),
        discover=spec.discover,
        plan=spec.plan,
    )


def _resolved_checks(checks: Checks, values: dict[str, str], folder: Path) -> Checks:
    """The checks as they run: `${secret:NAME}` replaced in what they send (an HTTP check's
    path, Host, headers and body, a command, a query — redacted in every artefact as all
    secrets are), an HTTP body file's path made absolute."""

    def sub(text: str) -> str:
        return secrets.substitute(text, values)

    return checks.model_copy(
        update={
            "http": [
                c.model_copy(
                    update={
                        "path": sub(c.path),
                        "host": sub(c.host) if c.host else c.host,
                        "headers": [(k, sub(v)) for k, v in c.headers],
                        "body": sub(c.body) if c.body is not None else None,
                        "body_file": str((folder / c.body_file).resolve()) if c.body_file else None,
                    }
                )
                for c in checks.http
            ],
            "command": [
                c.model_copy(update={"run": sub(c.run) if isinstance(c.run, str) else [sub(a) for a in c.run]})
                for c in checks.command
            ],
            "sql": [c.model_copy(update={"query": sub(c.query)}) for c in checks.sql],
        }
    )


def _resolve(
    base: dict[str, Service | None], overrides: dict[str, Service | None], where: yamlpos.KeyPath, report: Problems
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
