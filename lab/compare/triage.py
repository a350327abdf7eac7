"""Triage of a changed answer: breaking, harmless or unknown, by rules a reader can check.

Each rule looks at what the diff removed from the baseline's answer and added in the
candidate's (noise already taken out), and at the two answers themselves; the first rule
that holds decides, and its reason is shown with the finding. In order:

breaking
  - an error appeared where there was an answer (error words such as ERROR, FATAL, failed,
    denied, Traceback, Redis's ERR; a non-zero exit inside the output): a regression, whatever
    the exit code said
  - the HTTP status turned into an error (4xx, 5xx)
  - a redirect now points elsewhere
  - a JSON value changed type (a number turned into a string)
  - a date kept its value but changed its format (2024-01-22 → Mon, 22 Jan 2024 00:00:00 GMT):
    whatever parses it expects the old format
  - members disappeared (JSON members, rows, lines of a listing)
harmless
  - only warnings or deprecation notices were added
  - members were only added (also within a line: `a=1,b=2` → `a=1,b=2,c=3`)
  - only the order changed
  - only version-like tokens changed (15.8 → 17.2)
  - only the encoding changed (é → &eacute; or \\u00e9)
unknown
  - anything else: a value changed, and only a person can say whether it matters
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

from lab.compare.diff import flatten
from lab.results import Triage

ERROR_RE = re.compile(
    r"(?i)\b(error|errors|fatal|exception|traceback|panic|failed|failure|denied|refused|unknown command|"
    r"syntax error|not permitted|segmentation fault)\b|\bERR\b"
)
NONZERO_EXIT_RE = re.compile(r"(?i)\b(exit(ed)?( with)? (code|status)|returned|rc)\W{0,3}[1-9]\d*\b")
WARNING_RE = re.compile(r"(?i)\b(warn|warning|warnings|deprecated|deprecation|notice)\b")
MEMBER_RE = re.compile(r"[,;\s]+")  # what separates the members of a listing within a line
DATE_LIKE_RE = re.compile(r"\d{4}-\d\d-\d\d|\d{1,2} [A-Z][a-z]{2} \d{4}")
VERSION_RE = re.compile(r"\bv?\d+(?:\.\d+)+(?:[-+~][0-9A-Za-z.+~-]*)?\b")


@dataclass(frozen=True)
class Change:
    """A changed answer: both answers, and the diff's lines on each side (noise taken out)."""

    baseline: dict[str, Any]
    candidate: dict[str, Any]
    removed: list[str]
    added: list[str]


@dataclass(frozen=True)
class Decision:
    triage: Triage
    why: str
    regression: bool = False  # an error appeared: a regression whatever the exit code said


def triage(baseline: dict[str, Any], candidate: dict[str, Any], removed: list[str], added: list[str]) -> Decision:
    """Sort one changed answer. `removed` and `added` are the diff's lines (noise taken out).

    >>> triage({}, {}, ["stdout | 0"], ["stdout | ERR syntax error"]).why
    "an error appeared: 'stdout | ERR syntax error'"
    >>> triage({}, {}, ["stdout | PostgreSQL 15.8"], ["stdout | PostgreSQL 17.2"]).triage.value
    'harmless'
    """
    change = Change(baseline, candidate, removed, added)
    for rule in RULES:
        found = rule(change)
        if found is not None:
            return found
    shown = f"'{removed[0]}' → '{added[0]}'" if removed and added else repr((removed or added or [""])[0])
    return Decision(Triage.UNKNOWN, f"a value changed: {shown}")


def inventory(removed: list[str], added: list[str], mentions: dict[str, str]) -> Decision | None:
    """An inventory's items (an answer {item: detail}) that the candidate lacks: breaking
    when the client's code or configuration names one (`mentions`: item -> where), unknown
    otherwise; None when nothing is gone (the other rules decide).

    >>> inventory(['$.pg_stat_bgwriter.checkpoints_timed: "bigint"'], [],
    ...           {"pg_stat_bgwriter.checkpoints_timed": "/srv/app/jobs.py:9"}).why[-65:]
    'names it: pg_stat_bgwriter.checkpoints_timed (/srv/app/jobs.py:9)'

    >>> inventory(['$.lc_collate: "C"'], [], {}).triage.value
    'unknown'
    """
    still = {_key(line) for line in added}
    gone = [key[2:] for line in removed if (key := _key(line)) is not None and key not in still]
    if not gone:
        return None
    named = [f"{item} ({mentions[item]})" for item in gone if item in mentions]
    if named:
        why = f"gone on the candidate, and the client's code or configuration names it: {_listed_plain(named)}"
        return Decision(Triage.BREAKING, why)
    return Decision(
        Triage.UNKNOWN,
        f"gone on the candidate; the client's code and configuration do not name it: {_listed_plain(gone)}",
    )


def _listed_plain(items: list[str], most: int = 5) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


def _error_appeared(ch: Change) -> Decision | None:
    def erroneous(line: str) -> bool:
        return bool(ERROR_RE.search(_value(line)) or NONZERO_EXIT_RE.search(_value(line)))

    before = {_value(line) for line in ch.removed if erroneous(line)}
    new = [line for line in ch.added if erroneous(line) and _value(line) not in before]
    if new and not before:
        return Decision(Triage.BREAKING, f"an error appeared: '{new[0]}'", regression=True)
    return None


def _status(ch: Change) -> Decision | None:
    was, now = ch.baseline.get("status"), ch.candidate.get("status")
    if isinstance(was, int) and isinstance(now, int) and was < 400 <= now:
        return Decision(Triage.BREAKING, f"the HTTP status turned into an error: {was} → {now}", regression=True)
    return None


def _redirect(ch: Change) -> Decision | None:
    was = (ch.baseline.get("headers") or {}).get("location")
    now = (ch.candidate.get("headers") or {}).get("location")
    if was is not None and was != now:
        return Decision(Triage.BREAKING, f"a redirect now points elsewhere: {was} → {now or '(none)'}")
    return None


def _json_type(ch: Change) -> Decision | None:
    was, now = _types(ch.baseline), _types(ch.candidate)
    for path, kind in was.items():
        if path in now and now[path] != kind:
            return Decision(Triage.BREAKING, f"a JSON value changed type: {path} {kind} → {now[path]}")
    return None


def _date_format(ch: Change) -> Decision | None:
    now = {_key(line): _value(line) for line in ch.added if _key(line) is not None}
    for line in ch.removed:
        key = _key(line)
        if key is None or key not in now:
            continue
        was, new = _text(_value(line)), _text(now[key])
        before, after = _date(was), _date(new)
        if before is not None and before == after and _shape(was) != _shape(new):
            return Decision(Triage.BREAKING, f"a date changed its format: {key} {was} → {new}")
    return None


def _shape(text: str) -> str:
    """A text with every digit as 9: two times of one day in the same format have the same shape.

    >>> _shape("2026-12-04T09:51:26") == _shape("2026-12-04T09:51:27"), _shape("2024-01-22")
    (True, '9999-99-99')
    """
    return re.sub(r"\d", "9", text)


def _date(text: str) -> date | None:
    """The day a date or timestamp names, in ISO 8601 or an email/HTTP date; else None.

    >>> _date("2024-01-22"), _date("Mon, 22 Jan 2024 00:00:00 GMT"), _date("42")
    (datetime.date(2024, 1, 22), datetime.date(2024, 1, 22), None)
    """
    if not DATE_LIKE_RE.search(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text).date()
    except (TypeError, ValueError, IndexError):
        return None


def _text(value: str) -> str:
    try:
        loaded = json.loads(value)
    except ValueError:
        return value
    return loaded if isinstance(loaded, str) else value


def _disappeared(ch: Change) -> Decision | None:
    added_keys = {key for line in ch.added if (key := _key(line)) is not None}
    gone = [
        line
        for line in ch.removed
        if (key := _key(line)) is not None and key not in added_keys and not _filled(key, line, added_keys)
    ]
    if gone:
        return Decision(Triage.BREAKING, f"members disappeared: {_listed(gone)}")
    plain_removed = Counter(line for line in ch.removed if _key(line) is None)
    plain_added = Counter(line for line in ch.added if _key(line) is None)
    if sum(plain_removed.values()) > sum(plain_added.values()):
        gone = list((plain_removed - plain_added).elements())
        return Decision(Triage.BREAKING, f"members disappeared: {_listed(gone)}")
    return None


def _filled(key: str, line: str, added_keys: set[str]) -> bool:
    """An empty list or object of the baseline that has members on the candidate: nothing
    of it disappeared ("$.meta: []" → "$.meta.footnotes: \"\"").

    >>> _filled("$.meta", '$.meta: []', {'$.meta.footnotes'}), _filled("$.tags", '$.tags: []', set())
    (True, False)
    """
    return _value(line) in ("[]", "{}") and any(k.startswith((key + ".", key + "[")) for k in added_keys)


def _only_warnings(ch: Change) -> Decision | None:
    if ch.added and not ch.removed and all(WARNING_RE.search(_value(line)) for line in ch.added):
        return Decision(Triage.HARMLESS, f"only warnings or deprecation notices were added: {_listed(ch.added)}")
    return None


def _only_added(ch: Change) -> Decision | None:
    if ch.added and not ch.removed:
        return Decision(Triage.HARMLESS, f"members were only added: {_listed(ch.added)}")
    if ch.removed and len(ch.removed) == len(ch.added):  # within lines: "a=1,b=2" → "a=1,b=2,c=3"
        new: list[str] = []
        for before, after in zip(ch.removed, ch.added, strict=True):
            was, now = Counter(MEMBER_RE.split(before)), Counter(MEMBER_RE.split(after))
            if was - now or not now - was:
                return None
            new += [m for m in (now - was).elements() if m]
        return Decision(Triage.HARMLESS, f"members were only added: {_listed(new)}")
    return None


def _only_order(ch: Change) -> Decision | None:
    if ch.removed and Counter(ch.removed) == Counter(ch.added):
        return Decision(Triage.HARMLESS, "only the order changed")
    return None


def _only_versions(ch: Change) -> Decision | None:
    if ch.removed and len(ch.removed) == len(ch.added):
        pairs = list(zip(ch.removed, ch.added, strict=True))
        if all(VERSION_RE.sub("<version>", a) == VERSION_RE.sub("<version>", b) for a, b in pairs):
            a, b = pairs[0]
            was, now = VERSION_RE.findall(a), VERSION_RE.findall(b)
            shown = f"{was[0]} → {now[0]}" if was and now else f"'{a}' → '{b}'"
            return Decision(Triage.HARMLESS, f"only version-like tokens changed: {shown}")
    return None


def _only_encoding(ch: Change) -> Decision | None:
    if ch.removed and len(ch.removed) == len(ch.added):
        if all(_decoded(a) == _decoded(b) for a, b in zip(ch.removed, ch.added, strict=True)):
            return Decision(Triage.HARMLESS, f"only the encoding changed: '{ch.removed[0]}' → '{ch.added[0]}'")
    return None


# The order in which the rules are asked: breaking first, then harmless; the first that holds decides.
RULES: tuple[Callable[[Change], Decision | None], ...] = (
    _error_appeared,
    _status,
    _redirect,
    _json_type,
    _date_format,
    _disappeared,
    _only_warnings,
    _only_added,
    _only_order,
    _only_versions,
    _only_encoding,
)


def _decoded(line: str) -> str:
    text = html.unescape(unquote(line))
    try:
        text = json.loads(f'"{text}"') if "\\u" in text else text
    except ValueError:
        pass
    return text


def _types(output: dict[str, Any]) -> dict[str, str]:
    """The JSON type of every value of an answer's JSON body (or recorded value), by path."""
    body = output.get("body") or {}
    value = body.get("json") if "json" in body else output.get("value")
    if value is None and "json" not in body:
        return {}
    return {path: _type_name(json.loads(text)) for path, text in flatten(value)}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "object" if isinstance(value, dict) else "array"


def _key(line: str) -> str | None:
    """The key of a keyed fact ("$.items[0].id: 7" → "$.items[0].id"); None for plain lines."""
    if " | " in line.split(": ", 1)[0]:
        return None
    key, sep, _ = line.partition(": ")
    return key if sep else None


def _value(line: str) -> str:
    if _key(line) is not None:
        return line.partition(": ")[2]
    return line.partition(" | ")[2] or line


def _listed(lines: list[str], most: int = 3) -> str:
    shown = ", ".join(f"'{line}'" for line in lines[:most])
    return shown + (f" and {len(lines) - most} more" if len(lines) > most else "")
