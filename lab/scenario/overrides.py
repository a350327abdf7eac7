"""Values of a scenario given from outside its file: `--set KEY=VALUE`, `LAB_SET_*`
environment variables, candidate matrices (`--matrix KEY=V1,V2,...`) and `--candidate`.

They are applied to the file's data before validation, so an override is validated like
the file itself, and a problem with it names the override instead of a line of the file.
Keys are paths of dot-separated names (`candidates.next.services.app.image`), with list
positions as numbers (`checks.sql.0.repeat`); values are YAML (`5`, `true`, `[a, b]`, `3s`).
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from lab.errors import did_you_mean
from lab.scenario.yamlpos import KeyPath, Positions

ENV_PREFIX = "LAB_SET_"
CANDIDATES = "candidates"


@dataclass(frozen=True)
class Override:
    path: KeyPath
    value: Any
    origin: str  # how a person gave it, for messages: "--set timeouts.ready=30s", "LAB_SET_READY"


@dataclass(frozen=True)
class Matrix:
    candidate: str
    path: KeyPath  # inside the candidate
    values: tuple[str, ...]
    origin: str


@dataclass(frozen=True)
class Given:
    """Everything given from outside the scenario file, as the command line and
    environment said it."""

    sets: tuple[str, ...] = ()
    matrices: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()  # (variable, value) of LAB_SET_* variables

    @classmethod
    def of(
        cls,
        sets: Sequence[str] = (),
        matrices: Sequence[str] = (),
        candidates: Sequence[str] = (),
        environ: Mapping[str, str] | None = None,
    ) -> Given:
        env = sorted((k, v) for k, v in (environ or {}).items() if k.startswith(ENV_PREFIX))
        return cls(tuple(sets), tuple(matrices), tuple(candidates), tuple(env))

    def described(self) -> list[str]:
        """Each override as a person gave it, for the run folder and the report."""
        return (
            [f"{name}={value}" for name, value in self.environment]
            + [f"--set {s}" for s in self.sets]
            + [f"--matrix {m}" for m in self.matrices]
            + [f"--candidate {c}" for c in self.candidates]
        )


def apply_given(data: dict[str, Any], given: Given, positions: Positions) -> list[str]:
    """Apply `given` to the file's data in place; returns the problems found (each names
    the override). Environment overrides first, then --set (the command line wins), then
    matrices, then the choice of candidates."""
    problems: list[str] = []
    overrides = []
    for name, text in given.environment:
        overrides.append(_parse(text, name, problems))
    for text in given.sets:
        overrides.append(_parse(text, f"--set {text}", problems))
    for override in overrides:
        if override is not None:
            _assign(data, override, positions, problems)
    matrices = [m for m in (_parse_matrix(text, problems) for text in given.matrices) if m is not None]
    _expand(data, matrices, positions, problems)
    if given.candidates:
        _choose(data, given.candidates, {m.candidate for m in matrices}, problems)
    return problems


def _parse(text: str, origin: str, problems: list[str]) -> Override | None:
    key, sep, raw = text.partition("=")
    path = _path(key)
    if not sep or not path:
        problems.append(f"{origin}: give KEY=VALUE, e.g. candidates.next.services.app.image=shop:5.3")
        return None
    return Override(path, _value(raw), origin)


def _parse_matrix(text: str, problems: list[str]) -> Matrix | None:
    origin = f"--matrix {text}"
    key, sep, raw = text.partition("=")
    path = _path(key)
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    if not sep or len(path) < 3 or path[0] != CANDIDATES or not values:
        problems.append(
            f"{origin}: give candidates.<name>.<key>=V1,V2,... — e.g."
            " candidates.vendor.services.app.build.args.RELEASE=5.2.1,5.3.0"
        )
        return None
    return Matrix(str(path[1]), path[2:], values, origin)


def _path(key: str) -> KeyPath:
    parts = key.strip().split(".")
    if not key.strip() or any(not p for p in parts):
        return ()
    return tuple(int(p) if p.isdigit() else p for p in parts)


def _value(raw: str) -> Any:
    """The value as YAML would read it (`5`, `true`, `[a, b]`); text when it is not YAML."""
    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        return raw


def _assign(data: dict[str, Any], override: Override, positions: Positions, problems: list[str]) -> None:
    node: Any = data
    for depth, part in enumerate(override.path):
        last = depth == len(override.path) - 1
        shown = ".".join(map(str, override.path[: depth + 1]))
        if isinstance(node, list) and isinstance(part, int):
            if part >= len(node):
                problems.append(f"{override.origin}: {shown}: the list has {len(node)} items (numbered from 0)")
                return
        elif isinstance(node, dict):
            part = str(part)
            if not last and not isinstance(node.get(part), (dict, list)):
                if node.get(part) is not None:
                    problems.append(f"{override.origin}: {shown} is a single value, not a mapping — set it whole")
                    return
                node[part] = {}
        else:
            problems.append(f"{override.origin}: {shown}: its parent is a single value — set the parent whole")
            return
        if last:
            node[part] = copy.deepcopy(override.value)
        else:
            node = node[part]
    positions.override(override.path, override.origin)


def _expand(data: dict[str, Any], matrices: list[Matrix], positions: Positions, problems: list[str]) -> None:
    """Each matrix candidate becomes one candidate per value (per combination of values,
    when several matrices vary the same candidate), named `<candidate>-<value>`."""
    candidates = data.get(CANDIDATES)
    if not matrices:
        return
    if not isinstance(candidates, dict):
        problems.append(f"{matrices[0].origin}: the scenario has no candidates to vary")
        return
    by_candidate: dict[str, list[Matrix]] = {}
    for matrix in matrices:
        if matrix.candidate not in candidates:
            problems.append(
                f"{matrix.origin}: no candidate '{matrix.candidate}'{did_you_mean(matrix.candidate, candidates)}"
            )
            continue
        by_candidate.setdefault(matrix.candidate, []).append(matrix)
    expanded: dict[str, Any] = {}
    for name, spec in candidates.items():
        varied = by_candidate.get(name)
        if not varied:
            expanded[name] = spec
            continue
        for combination in itertools.product(*(m.values for m in varied)):
            new = "-".join([name, *(_slug(v) for v in combination)])
            if new in expanded or new in candidates:
                problems.append(f"{varied[0].origin}: two candidates would be named '{new}' — give distinct values")
                continue
            expanded[new] = copy.deepcopy(spec) if isinstance(spec, dict) else {}
            positions.alias((CANDIDATES, name), (CANDIDATES, new))
            for matrix, value in zip(varied, combination, strict=True):
                _assign(
                    {CANDIDATES: expanded},
                    Override((CANDIDATES, new, *matrix.path), _value(value), f"{matrix.origin} ({value})"),
                    positions,
                    problems,
                )
    data[CANDIDATES] = expanded


def _choose(data: dict[str, Any], chosen: Sequence[str], varied: set[str], problems: list[str]) -> None:
    """Keep only the chosen candidates; a matrix candidate's name chooses all its values."""
    candidates = data.get(CANDIDATES)
    if not isinstance(candidates, dict):
        return
    keep = {}
    for name in chosen:
        found = {n: s for n, s in candidates.items() if n == name or (name in varied and n.startswith(f"{name}-"))}
        if not found:
            problems.append(
                f"--candidate {name}: no such candidate{did_you_mean(name, candidates)}"
                f" (candidates: {', '.join(candidates) or 'none'})"
            )
            return  # the candidates stay as they are, so that this is the only problem said about them
        keep.update(found)
    data[CANDIDATES] = {n: s for n, s in candidates.items() if n in keep}


def _slug(value: str) -> str:
    """A value as part of a candidate name: 6.0.0-RC1 → 6.0.0-rc1."""
    return re.sub(r"[^a-z0-9.-]+", "-", value.lower()).strip("-.") or "x"
