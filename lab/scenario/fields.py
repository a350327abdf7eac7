"""The loose values a person writes in a scenario file, and how they are read: durations
("500ms", "2m", "1h"), sizes ("512m"), Compose's list form of environment, commands as a
string or a list, regular expressions and JSON paths — each a pydantic type that
normalises the value or says what to write instead. `Model` forbids unknown keys."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")  # services: also their host names in a copy
CANDIDATE_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{0,40}$")  # candidates: 'vendor-5.3.0' (a matrix's)
DURATION_RE = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?!s))?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*(?:(\d+)\s*ms)?\s*$"
)


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as "500ms", "2s", "1m30s", "2h".

    >>> parse_duration("1m30s"), parse_duration("250ms"), parse_duration(3), parse_duration("1h")
    (90.0, 0.25, 3.0, 3600.0)
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30, '30s', '500ms' or '2m'")
    if isinstance(value, (int, float)):
        return float(value)
    match = DURATION_RE.match(str(value))
    if not match or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration — write e.g. 30, '30s', '500ms' or '2m'")
    hours, minutes, seconds, millis = match.groups()
    return float(hours or 0) * 3600 + float(minutes or 0) * 60 + float(seconds or 0) + float(millis or 0) / 1000


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError(f"expected a plain value (text or number), got {type(value).__name__}")


def _text_map(value: Any) -> dict[str, str]:
    """A mapping of text values; Compose's list form ["KEY=value"] is accepted too."""
    if isinstance(value, list):
        pairs = {}
        for item in value:
            if not isinstance(item, str) or "=" not in item:
                raise ValueError(f"list entries must look like KEY=value, got {item!r}")
            key, _, val = item.partition("=")
            pairs[key] = val
        return pairs
    if isinstance(value, dict):
        return {str(k): _scalar_text(v) for k, v in value.items()}
    raise ValueError("expected a mapping of NAME: value")


def _argv(value: Any) -> list[str] | str:
    """A command: a list of arguments, or a string run by /bin/sh -c."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and value and all(isinstance(a, (str, int, float)) for a in value):
        return [str(a) for a in value]
    raise ValueError("expected a command: a non-empty list of arguments or a shell string")


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(a, (str, int)) for a in value):
        return [str(a) for a in value]
    raise ValueError("expected a list of names")


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
Deadline = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


def _headers(value: Any) -> list[tuple[str, str]]:
    """HTTP headers: a mapping, or a list of [name, value] pairs or "Name: value" lines (a
    name may repeat, as clients send Cookie or Accept twice).

    >>> _headers({"Accept": "text/html"}), _headers(["X-A: 1", ["X-A", "2"]])
    ([('Accept', 'text/html')], [('X-A', '1'), ('X-A', '2')])
    """
    if isinstance(value, dict):
        return [(str(k), str(v)) for k, v in value.items()]
    if isinstance(value, list):
        pairs = []
        for item in value:
            if isinstance(item, str) and ":" in item:
                name, _, val = item.partition(":")
                pairs.append((name.strip(), val.strip()))
            elif isinstance(item, list) and len(item) == 2:
                pairs.append((str(item[0]), str(item[1])))
            else:
                raise ValueError(f"a header is a pair [name, value] or a line 'Name: value', got {item!r}")
        return pairs
    raise ValueError("expected headers: a mapping, or a list of [name, value] pairs")


TextMap = Annotated[dict[str, str], BeforeValidator(_text_map)]
Headers = Annotated[list[tuple[str, str]], BeforeValidator(_headers)]
Argv = Annotated[list[str] | str, BeforeValidator(_argv)]
StrList = Annotated[list[str], BeforeValidator(_str_list)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _regex(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a regular expression (text)")
    try:
        re.compile(value)
    except re.error as err:
        raise ValueError(f"{value!r} is not a valid regular expression: {err}") from None
    return value


Regex = Annotated[str, BeforeValidator(_regex)]
JSON_PATH_RE = re.compile(r"^\$(\.[^.\[\]]+|\[(\d+|\*)\])*$")


def _json_path(value: Any) -> str:
    if not isinstance(value, str) or not JSON_PATH_RE.match(value):
        raise ValueError(f"{value!r} is not a JSON path — write e.g. $.created_at or $.items[*].id")
    return value


SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*$", re.IGNORECASE)


def parse_size(value: Any) -> int:
    """Bytes from a number or a string such as "512m" or "2g".

    >>> parse_size("512m"), parse_size("1g"), parse_size(1024)
    (536870912, 1073741824, 1024)
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = SIZE_RE.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a size — write e.g. 512m or 2g")
    number, unit = match.groups()
    return int(float(number) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit.lower()])


JsonPath = Annotated[str, BeforeValidator(_json_path)]
