"""Noise learned from the data: what differs between two observations of the very same
baseline (a second run, or a second baseline copy). A fact or a line that differs there
gets a pattern of what may vary in it (the parts both versions share stay fixed); a
candidate's answer that fits the pattern is noise, one that does not is a change. A place
where the two observations share nothing (a counter, a timestamp alone on a line, a random
token) has a pattern that every answer fits: it is *unstable* — it cannot be compared, and
says so, instead of passing whatever the candidate answers.
"""

from __future__ import annotations

import difflib
import re
from typing import Any


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
        a = [cell(r[i]) for r in first["rows"]]
        b = [cell(r[i]) for r in second["rows"]]
        if (a if ordered else sorted(a)) != (b if ordered else sorted(b)):
            noisy.add(column["name"])
    return frozenset(noisy)


def rows_reorder(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """True when two samples hold the same rows in another order (a query without a full
    ORDER BY): the order itself is noise then."""
    a, b = first.get("rows", []), second.get("rows", [])
    key = repr
    return a != b and sorted(a, key=key) == sorted(b, key=key)


def changed_lines(a: list[str], b: list[str]) -> dict[int, re.Pattern[str]]:
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
        if tag == "equal":  # numbers that stayed may vary too (the minute of a timestamp)
            parts.append("".join(r"\d+" if token.isdigit() else re.escape(token) for token in a[i1:i2]))
        elif not parts or parts[-1] != ".*?":
            parts.append(".*?")
    return re.compile("".join(parts), re.DOTALL)


TOKEN_RE = re.compile(r"\w+|\W")


def unstable(pattern: re.Pattern[str]) -> bool:
    """True when a learned pattern fixes nothing of the answer's shape (only the stream's
    name, or a JSON string's quotes): every answer fits it.

    >>> unstable(line_pattern("41", "42")), unstable(line_pattern('"a1"', '"b2"'))
    (True, True)
    >>> unstable(line_pattern("stdout | 41", "stdout | 42")), unstable(line_pattern("12:00:01", "12:00:02"))
    (True, False)
    """
    if pattern.pattern == ANY_LINE.pattern:
        return True
    shape = re.sub(r"^\w+\\ \\\|\\ ", "", pattern.pattern)  # "stdout | " before a plain line
    return shape.replace(".*?", "").replace('"', "") == ""


def cell(value: str | None) -> str:
    """A cell as it is compared: NULL apart from the text 'NULL', separators quoted.

    >>> cell(None), cell("NULL"), cell("a | b")
    ('NULL', "'NULL'", "'a | b'")
    """
    if value is None:
        return "NULL"
    if value in ("NULL", "") or "|" in value or value != value.strip() or value.startswith("'"):
        return "'" + value.replace("'", "''") + "'"
    return value
