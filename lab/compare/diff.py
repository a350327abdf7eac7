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


@dataclass(frozen=True)
class OutputDiff:
    changed: bool
    diff: str  # unified diff, baseline → candidate, noise taken out
    noise: tuple[str, ...]  # what was treated as noise
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


def render(output: dict[str, Any], rules: Rules, noisy_columns: frozenset[str] = frozenset()) -> list[Line]:
    """The lines an output is compared by, with the explicit rules applied."""
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
        body = output.get("body", {})
        if "json" in body:
            lines += [(p, v) for p, v in flatten(body["json"]) if not any(r.match(p) for r in rules.json_paths)]
        for key in ("text", "binary (base64)"):
            if key in body:
                lines += _text_lines("body", str(body[key]), rules)
    if "columns" in output:
        lines += _sql_lines(output, rules, noisy_columns)
    if "value" in output:
        lines += [(p, v) for p, v in flatten(output["value"]) if not any(r.match(p) for r in rules.json_paths)]
    return [
        (key, _mask(value, rules)) if key is not None and key.startswith(DATA_KEYS) else (key, value)
        for key, value in lines
    ]


def _text_lines(prefix: str, text: str, rules: Rules) -> list[Line]:
    """Plain lines, each masked by the regex rules before it is prefixed."""
    return [(None, f"{prefix} | {_mask(line, rules)}") for line in text.splitlines()]


def _sql_lines(output: dict[str, Any], rules: Rules, noisy: frozenset[str]) -> list[Line]:
    columns = [c for c in output["columns"] if c["name"] not in rules.columns]
    keep = [i for i, c in enumerate(output["columns"]) if c["name"] not in rules.columns]
    schema = ", ".join(f"{c['name']} {c['type']}".strip() for c in columns)
    rows = []
    for row in output["rows"]:
        cells = [NOISE if output["columns"][i]["name"] in noisy else _mask(_cell(row[i]), rules) for i in keep]
        rows.append(" | ".join(cells))
    if not rules.ordered:
        rows.sort()
    return [("columns", schema), ("row count", str(len(rows)))] + [(None, f"row | {r}") for r in rows]


def _cell(value: str | None) -> str:
    """A cell as it is compared: NULL apart from the text 'NULL', separators quoted.

    >>> _cell(None), _cell("NULL"), _cell("a | b")
    ('NULL', "'NULL'", "'a | b'")
    """
    if value is None:
        return "NULL"
    if value in ("NULL", "") or "|" in value or value != value.strip() or value.startswith("'"):
        return "'" + value.replace("'", "''") + "'"
    return value


def _mask(value: str, rules: Rules) -> str:
    for pattern in rules.regex:
        value = pattern.sub(IGNORED, value)
    return value


def noisy_columns(first: dict[str, Any], second: dict[str, Any], ordered: bool) -> frozenset[str]:
    """SQL columns whose values differ between two observations of the same copy.

    Only comparable samples teach anything: with another row count, or with the same rows
    in another order, no column is called noisy (the row count is noise then, and the
    order is handled by `rows_reorder`)."""
    if "columns" not in first or "columns" not in second or first["columns"] != second["columns"]:
        return frozenset()
    if len(first["rows"]) != len(second["rows"]) or rows_reorder(first, second):
        return frozenset()
    noisy = set()
    for i, column in enumerate(first["columns"]):
        a = [_cell(r[i]) for r in first["rows"]]
        b = [_cell(r[i]) for r in second["rows"]]
        if (a if ordered else sorted(a)) != (b if ordered else sorted(b)):
            noisy.add(column["name"])
    return frozenset(noisy)


def rows_reorder(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """True when two samples hold the same rows in another order (a query without a full
    ORDER BY): the order itself is noise then."""
    a, b = first.get("rows", []), second.get("rows", [])
    key = repr
    return a != b and sorted(a, key=key) == sorted(b, key=key)


def compare(
    baseline: dict[str, Any], again: list[dict[str, Any]], candidate: dict[str, Any], rules: Rules
) -> OutputDiff:
    """Diff the candidate's output against the baseline's, ignoring what differs between
    the baseline and its repeated observations `again`."""
    if rules.ordered and any(rows_reorder(baseline, other) for other in again):
        rules = replace(rules, ordered=False)  # the order varies by itself: compare rows as a set
        order_noise = ["row order (differs between two observations of the baseline: add ORDER BY)"]
    else:
        order_noise = []
    columns = frozenset().union(*(noisy_columns(baseline, other, rules.ordered) for other in again))
    base = render(baseline, rules, columns)
    others = [render(other, rules, columns) for other in again]
    cand = render(candidate, rules, columns)
    keys: set[str] = set()
    for other in others:
        keys |= _differing_keys(base, other)
    base, cand = _masked(base, keys), _masked(cand, keys)
    others = [_masked(other, keys) for other in others]
    base_text, cand_text = _text(base), _text(cand)
    noisy_lines: dict[int, list[re.Pattern[str]]] = {}
    for other in others:
        for i, pattern in _changed_lines(base_text, _text(other)).items():
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
    noise = order_noise + [f"regex '{rule.pattern}' (ignore rule)" for rule in rules.regex]
    noise += [f"JSON path {path} (ignore rule)" for path in rules.json_path_names]
    noise += [f"column {c} (ignore rule)" for c in sorted(rules.columns)]
    noise += [f"{k} (differs between two observations of the baseline)" for k in sorted(keys)]
    noise += [f"column {c} (differs between two observations of the baseline)" for c in sorted(columns)]
    noise += [f"line '{base_text[i]}' (differs between two observations of the baseline)" for i in sorted(noisy_lines)]
    return OutputDiff(changed=bool(diff), diff=diff, noise=tuple(noise), removed=tuple(removed), added=tuple(added))


def _differing_keys(a: list[Line], b: list[Line]) -> set[str]:
    da = {k: v for k, v in a if k is not None}
    db = {k: v for k, v in b if k is not None}
    return {k for k in da.keys() | db.keys() if da.get(k) != db.get(k)}


def _masked(lines: list[Line], keys: set[str]) -> list[Line]:
    return [(k, NOISE if k in keys else v) for k, v in lines]


def _text(lines: list[Line]) -> list[str]:
    return [f"{k}: {v}" if k is not None else v for k, v in lines]


def _changed_lines(a: list[str], b: list[str]) -> dict[int, re.Pattern[str]]:
    """The lines of `a` that differ in `b`, each with the pattern of what may vary in it:
    the parts both versions share stay fixed, the parts that differ become wildcards."""
    found: dict[int, re.Pattern[str]] = {}
    for tag, i1, i2, j1, j2 in opcodes(a, b):
        if tag == "equal":
            continue
        for k in range(i1, i2):
            paired = tag == "replace" and i2 - i1 == j2 - j1
            found[k] = line_pattern(a[k], b[j1 + k - i1]) if paired else ANY_LINE
    return found


ANY_LINE = re.compile(".*", re.DOTALL)


def opcodes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes, with a linear path for the common cases: equal outputs, and
    outputs of equal length compared line by line (thousands of rows stay fast).

    >>> opcodes(["a", "b", "c"], ["a", "x", "c"])
    [('equal', 0, 1, 0, 1), ('replace', 1, 2, 1, 2), ('equal', 2, 3, 2, 3)]
    """
    if len(a) != len(b):
        return list(difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes())
    codes: list[tuple[str, int, int, int, int]] = []
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        tag = "equal" if x == y else "replace"
        if codes and codes[-1][0] == tag:
            codes[-1] = (tag, codes[-1][1], i + 1, codes[-1][3], i + 1)
        else:
            codes.append((tag, i, i + 1, i, i + 1))
    return codes


def line_pattern(first: str, second: str) -> re.Pattern[str]:
    """What may vary in a line, learned from two versions of it.

    >>> bool(line_pattern("took 12 ms", "took 15 ms").fullmatch("took 9 ms"))
    True
    >>> bool(line_pattern("took 12 ms", "took 15 ms").fullmatch("FATAL: disk full"))
    False
    """
    a, b = TOKEN_RE.findall(first), TOKEN_RE.findall(second)  # words and numbers vary whole
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    parts = []
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag == "equal":
            parts.append(re.escape("".join(a[i1:i2])))
        elif not parts or parts[-1] != ".*?":
            parts.append(".*?")
    return re.compile("".join(parts), re.DOTALL)


TOKEN_RE = re.compile(r"\w+|\W")


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
