"""Compare what a declarative check answered on the baseline and on a candidate, with the
noise taken out. Pure functions on plain data (the `output` dicts of lab.results.Observation).

Every output is rendered as lines: keyed facts (`status: 200`, `$.items[0].id: 7`,
`exit code: 0`) and plain lines (`stdout | ...`, `row | ...`). Noise is learned from the
data, the way Diffy does it: a fact that differs between two observations of the very same
baseline (a second run, or a second baseline copy) is noise, and so is a plain line that
differs there. What the candidate changes beyond that noise is a finding. Explicit rules
(regex, JSON paths, SQL columns) are applied first. SQL noise is found per column, so a
volatile column does not hide a real change in another column of the same row.
"""

from __future__ import annotations

import difflib
import json
import re
import statistics
from dataclasses import dataclass, replace
from typing import Any

from lab.compare.noise import (
    ANY_LINE,
    cell,
    changed_lines,
    line_pattern,
    noisy_columns,
    opcodes,
    rows_reorder,
    unstable,
)
from lab.scenario.model import Ignore, Slowdown

DATA_KEYS = ("$", "header ")  # keyed facts that regex rules may mask (JSON values, headers)
MIN_SAMPLES = 3  # timings are judged on medians of at least this many runs
NOISE = "<noise>"
IGNORED = "<ignored>"
Line = tuple[str | None, str]  # (key for keyed facts, value)


@dataclass(frozen=True)
class Rules:
    """The explicit ignore rules for one check (its own plus the scenario's)."""

    regex: tuple[re.Pattern[str], ...] = ()
    json_paths: tuple[re.Pattern[str], ...] = ()
    json_path_names: tuple[str, ...] = ()
    columns: frozenset[str] = frozenset()
    ordered: bool = True

    @classmethod
    def of(cls, *ignores: Ignore, ordered: bool = True) -> Rules:
        return cls(
            regex=tuple(re.compile(r) for i in ignores for r in i.regex),
            json_paths=tuple(_path_pattern(p) for i in ignores for p in i.json_paths),
            json_path_names=tuple(p for i in ignores for p in i.json_paths),
            columns=frozenset(c for i in ignores for c in i.columns),
            ordered=ordered,
        )


Cells = dict[str, list[list[re.Pattern[str]]]]  # noisy column -> row -> what may vary in its cell
NOT_A_VALUE = re.compile(r"(?!)")  # fits nothing: a row the baseline did not have


@dataclass(frozen=True)
class OutputDiff:
    changed: bool
    diff: str  # unified diff, baseline → candidate, noise taken out
    noise: tuple[str, ...]  # what was treated as noise
    unstable: tuple[str, ...] = ()  # places that share nothing between two observations: not comparable
    removed: tuple[str, ...] = ()  # the baseline's lines the candidate does not have
    added: tuple[str, ...] = ()  # the candidate's lines the baseline does not have


def _path_pattern(path: str) -> re.Pattern[str]:
    """`$.items[*].id` matches `$.items[3].id` and everything below it.

    >>> bool(_path_pattern("$.items[*].id").match("$.items[3].id.x"))
    True
    """
    escaped = re.escape(path).replace(r"\[\*\]", r"\[\d+\]")
    return re.compile(f"^{escaped}(?=$|[.\\[])")


def flatten(value: Any, path: str = "$") -> list[tuple[str, str]]:
    """JSON as (path, scalar) pairs in document order.

    >>> flatten({"a": [1, {"b": None}]})
    [('$.a[0]', '1'), ('$.a[1].b', 'null')]
    """
    if isinstance(value, dict) and value:  # members in any order: an object is unordered
        return [pair for k, v in sorted(value.items()) for pair in flatten(v, f"{path}.{k}")]
    if isinstance(value, list) and value:
        return [pair for i, v in enumerate(value) for pair in flatten(v, f"{path}[{i}]")]
    return [(path, json.dumps(value, ensure_ascii=False))]


def render(
    output: dict[str, Any], rules: Rules, noisy_columns: frozenset[str] = frozenset(), fits: Cells | None = None
) -> list[Line]:
    """The lines an output is compared by, with the explicit rules applied. Cells of noisy
    columns are masked; with `fits` (a candidate's answer), only those that fit what
    varied in the baseline's own cell."""
    lines: list[Line] = []
    if "error" in output:
        lines.append(("error", output["error"]))
    if "exit_code" in output:
        lines.append(("exit code", str(output["exit_code"])))
        for stream in ("stdout", "stderr"):
            lines += _text_lines(stream, output.get(stream, ""), rules)
    if "status" in output:
        lines.append(("status", str(output["status"])))
        lines += [(f"header {k}", v) for k, v in sorted(output.get("headers", {}).items())]
        lines += [(f"tls {k}", str(v)) for k, v in sorted(output.get("tls", {}).items())]
        body = output.get("body", {})
        if "json" in body:
            lines += [(p, v) for p, v in flatten(body["json"]) if not any(r.match(p) for r in rules.json_paths)]
        for key in ("text", "binary (base64)"):
            if key in body:
                lines += _text_lines("body", str(body[key]), rules)
    if "columns" in output:
        lines += _sql_lines(output, rules, noisy_columns, fits)
    if "value" in output:
        lines += [(p, v) for p, v in flatten(output["value"]) if not any(r.match(p) for r in rules.json_paths)]
    if "reply" in output:  # a Redis reply: text line by line (INFO), anything else as values
        reply = output["reply"]
        lines += _text_lines("reply", reply, rules) if isinstance(reply, str) else [(p, v) for p, v in flatten(reply)]
    return [
        (key, _mask(value, rules)) if key is not None and key.startswith(DATA_KEYS) else (key, value)
        for key, value in lines
    ]


def _text_lines(prefix: str, text: str, rules: Rules) -> list[Line]:
    """Plain lines, each masked by the regex rules before it is prefixed."""
    return [(None, f"{prefix} | {_mask(line, rules)}") for line in text.splitlines()]


def _sql_lines(output: dict[str, Any], rules: Rules, noisy: frozenset[str], fits: Cells | None) -> list[Line]:
    columns = [c for c in output["columns"] if c["name"] not in rules.columns]
    keep = [i for i, c in enumerate(output["columns"]) if c["name"] not in rules.columns]
    schema = ", ".join(f"{c['name']} {c['type']}".strip() for c in columns)

    def shown(r: int, i: int, value: str | None) -> str:
        name = output["columns"][i]["name"]
        if name not in noisy:
            return _mask(cell(value), rules)
        if fits is None or name not in fits:
            return NOISE
        patterns = fits[name][r] if r < len(fits[name]) else [NOT_A_VALUE]
        return NOISE if all(p.fullmatch(cell(value)) for p in patterns) else cell(value)

    rows = [" | ".join(shown(r, i, row[i]) for i in keep) for r, row in enumerate(output["rows"])]
    if not rules.ordered:
        rows.sort()
    return [("columns", schema), ("row count", str(len(rows)))] + [(None, f"row | {r}") for r in rows]


def _mask(value: str, rules: Rules) -> str:
    for pattern in rules.regex:
        value = pattern.sub(IGNORED, value)
    return value


def compare(
    baseline: dict[str, Any], again: list[dict[str, Any]], candidate: dict[str, Any], rules: Rules
) -> OutputDiff:
    """Diff the candidate's output against the baseline's, ignoring what differs between
    the baseline and its repeated observations `again` — as long as the candidate's answer
    there fits what varied. Places where the observations share nothing are unstable."""
    if rules.ordered and any(rows_reorder(baseline, other) for other in again):
        rules = replace(rules, ordered=False)  # the order varies by itself: compare rows as a set
        order_noise = ["row order (differs between two observations of the baseline: add ORDER BY)"]
    else:
        order_noise = []
    columns = frozenset().union(*(noisy_columns(baseline, other, rules.ordered) for other in again))
    fits = _cell_patterns(baseline, again, columns) if rules.ordered else None
    base = render(baseline, rules, columns)
    others = [render(other, rules, columns) for other in again]
    cand = render(candidate, rules, columns, fits)
    facts = _fact_patterns(base, others)
    base = [(k, NOISE if k in facts else v) for k, v in base]
    others = [[(k, NOISE if k in facts else v) for k, v in other] for other in others]
    cand = [(k, NOISE if k in facts and all(p.fullmatch(v) for p in facts[k]) else v) for k, v in cand]
    base_text, cand_text = _text(base), _text(cand)
    noisy_lines: dict[int, list[re.Pattern[str]]] = {}
    for other in others:
        for i, pattern in changed_lines(base_text, _text(other)).items():
            noisy_lines.setdefault(i, []).append(pattern)
    # A candidate change that only touches lines the baseline itself varies on is noise.
    aligned = list(cand_text)
    for tag, i1, i2, j1, j2 in reversed(opcodes(base_text, cand_text)):
        if tag == "replace" and i2 - i1 == j2 - j1:  # line for line: noisy lines count as equal
            for k in range(i2 - i1):
                patterns = noisy_lines.get(i1 + k, [])
                if patterns and all(p.fullmatch(cand_text[j1 + k]) for p in patterns):
                    aligned[j1 + k] = base_text[i1 + k]
    diff = "\n".join(difflib.unified_diff(base_text, aligned, "baseline", "candidate", n=2, lineterm=""))
    removed, added = [], []
    for tag, i1, i2, j1, j2 in opcodes(base_text, aligned):
        if tag != "equal":
            removed += base_text[i1:i2]
            added += aligned[j1:j2]
    wholly = [k for k in sorted(facts) if all(unstable(p) for p in facts[k])]
    wholly += [
        f"column {c}" for c in sorted(fits or {}) if all(all(unstable(p) for p in row) for row in (fits or {})[c])
    ]
    wholly += [f"line '{base_text[i]}'" for i in sorted(noisy_lines) if all(unstable(p) for p in noisy_lines[i])]
    noise = order_noise + [f"regex '{rule.pattern}' (ignore rule)" for rule in rules.regex]
    noise += [f"JSON path {path} (ignore rule)" for path in rules.json_path_names]
    noise += [f"column {c} (ignore rule)" for c in sorted(rules.columns)]
    noise += [f"{k} (differs between two observations of the baseline)" for k in sorted(facts)]
    noise += [f"column {c} (differs between two observations of the baseline)" for c in sorted(columns)]
    noise += [f"line '{base_text[i]}' (differs between two observations of the baseline)" for i in sorted(noisy_lines)]
    return OutputDiff(
        changed=bool(diff),
        diff=diff,
        noise=tuple(noise),
        unstable=tuple(wholly),
        removed=tuple(removed),
        added=tuple(added),
    )


def inventory_changes(removed: list[str], added: list[str], most: int = 20) -> str:
    """An inventory's diff in short (an inventory has hundreds of items): every item gone,
    then the first `most` that changed and that were added.

    >>> print(inventory_changes(['$.a: "1"', '$.b: "1"'], ['$.b: "2"', '$.c: "1"', '$.d: "1"'], most=1))
    - a: "1"
    ~ b: "1" → "2"
    + c: "1"
    + … and 1 more added
    """

    def items(lines: list[str]) -> dict[str, str]:
        return dict(line[2:].split(": ", 1) for line in lines if line.startswith("$.") and ": " in line)

    was, now = items(removed), items(added)
    out = [f"- {k}: {v}" for k, v in was.items() if k not in now]
    changed = [f"~ {k}: {v} → {now[k]}" for k, v in was.items() if k in now]
    new = [f"+ {k}: {v}" for k, v in now.items() if k not in was]
    for lines, word in ((changed, "changed"), (new, "added")):
        out += lines[:most] + ([f"{lines[0][0]} … and {len(lines) - most} more {word}"] if len(lines) > most else [])
    return "\n".join(out)


def _fact_patterns(base: list[Line], others: list[list[Line]]) -> dict[str, list[re.Pattern[str]]]:
    """Keyed facts that differ between the baseline's observations, each with what may vary
    in its value (a fact one observation lacks may be anything)."""
    mine = {k: v for k, v in base if k is not None}
    found: dict[str, list[re.Pattern[str]]] = {}
    for other in others:
        theirs = {k: v for k, v in other if k is not None}
        for key in mine.keys() | theirs.keys():
            if mine.get(key) != theirs.get(key):
                both = key in mine and key in theirs
                found.setdefault(key, []).append(line_pattern(mine[key], theirs[key]) if both else ANY_LINE)
    return found


def _cell_patterns(baseline: dict[str, Any], again: list[dict[str, Any]], columns: frozenset[str]) -> Cells:
    """For each noisy SQL column, row by row, what may vary in its cell."""
    if not columns or "columns" not in baseline:
        return {}
    names = [c["name"] for c in baseline["columns"]]
    fits: Cells = {}
    for name in columns:
        i = names.index(name)
        rows = []
        for r, row in enumerate(baseline["rows"]):
            mine = cell(row[i])
            patterns = [
                line_pattern(mine, cell(other["rows"][r][i]))
                for other in again
                if len(other.get("rows", [])) == len(baseline["rows"]) and cell(other["rows"][r][i]) != mine
            ]
            rows.append(patterns or [re.compile(re.escape(mine))])
        fits[name] = rows
    return fits


def _text(lines: list[Line]) -> list[str]:
    return [f"{k}: {v}" if k is not None else v for k, v in lines]


def slowdown(baseline: list[float], candidate: list[float], rule: Slowdown) -> tuple[bool, str]:
    """Whether the candidate's median is slower than the rule allows, and how much.

    >>> slowdown([0.010, 0.012, 0.011], [0.100, 0.110, 0.105], Slowdown(factor=1.5, floor=0.05))
    (True, 'median 11.0 ms → 105.0 ms (9.5×)')
    >>> slowdown([0.001] * 3, [0.003] * 3, Slowdown(factor=1.5, floor=0.05))[0]  # under the floor
    False
    >>> slowdown([0.01], [0.5], Slowdown())[0]  # one sample is not a measurement
    False
    """
    if not baseline or not candidate:
        return False, ""
    b, c = statistics.median(baseline), statistics.median(candidate)
    ratio = c / b if b > 0 else float("inf")
    times = f"{ratio:.1f}×" if ratio != float("inf") else "from nothing"
    text = f"median {b * 1000:.1f} ms → {c * 1000:.1f} ms ({times})"
    if min(len(baseline), len(candidate)) < MIN_SAMPLES:
        return False, text
    return (ratio >= rule.factor and c - b >= rule.floor), text
