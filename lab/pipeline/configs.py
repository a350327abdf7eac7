"""The client's own configuration files (a service's `config:`), placed into its container
after it is created and before it starts, as production has them. A service that refuses
one does not start, and its log names the file in the server's own words: that file is a
finding (a check of kind `config` that fails with those words), and the service is started
again without it, so that the copy's other checks still run.

A path with `*` or `?` is matched in the created container (the engine lists the folder
above the first pattern): `/etc/postgresql/*/main/conf.d/` is `/etc/postgresql/17/main/conf.d/`
on Debian 13. It must match exactly one path. Folders on the way that the image does not
have are made (0755, root's); folders it has are left as they are.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from lab.engine.types import EngineLike
from lab.errors import LabError
from lab.pipeline.restore import tar_of
from lab.results import CheckResult, Kind, Outcome
from lab.scenario import Variant
from lab.scenario.model import ConfigFile

PATTERN = re.compile(r"[*?\[]")
CONFIG_ERROR = re.compile(r"(?i)config|^>>> |\b(bad|unknown|unrecognized|invalid)\b")  # Redis names no file
STAMP = re.compile(  # a log line's time and process: PostgreSQL's and MariaDB's, Redis's
    r"^(\d{4}-\d\d-\d\d[ T][\d:.,]+( [A-Z]{2,5})?( \[\d+\])?:? *|\d+:[CMSX] \d\d \w{3} \d{4} [\d:.]+ [*#.-] )"
)


def place(engine: EngineLike, container: str, items: list[ConfigFile], folder: Path) -> list[str]:
    """Put each file at its path; the paths where they went. LabError names the file."""
    placed = []
    for item in items:
        source = folder / item.file
        path = item.path.rstrip("/")
        try:
            where = PurePosixPath(resolve(engine, container, path) if PATTERN.search(path) else path)
            target = where / source.name if item.path.endswith("/") else where
            top = target.parent
            while top != top.parent and not engine.exists(
                container, str(top)
            ):  # folders it needs are made, no other touched
                top = top.parent
            made = [str(f.relative_to(top)) for f in reversed(target.parents) if f.is_relative_to(top) and f != top]
            with source.open("rb") as stream:
                engine.put_archive(container, str(top), tar_of(stream, str(target.relative_to(top)), source, made))
        except (LabError, OSError) as err:
            raise LabError(f"the configuration file {item.file} could not be placed at {item.path}: {err}") from None
        placed.append(str(target))
    return placed


def resolve(engine: EngineLike, container: str, pattern: str) -> str:
    """The one path in the container that `pattern` matches (`*` and `?` within one part)."""
    parts = PurePosixPath(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if PATTERN.search(part))
    top = str(PurePosixPath(*parts[:fixed]))
    found = sorted({path.rstrip("/") for path in engine.listing(container, top) if matches(path.rstrip("/"), pattern)})
    if len(found) != 1:
        what = "nothing" if not found else f"{len(found)} paths ({', '.join(found[:5])})"
        raise LabError(f"{pattern} matches {what} in the image: give the path of this version (a per-copy value)")
    return found[0]


def matches(path: str, pattern: str) -> bool:
    """Whether `path` is `pattern`, part for part.

    >>> matches("/etc/postgresql/17/main/conf.d", "/etc/postgresql/*/main/conf.d")
    True
    >>> matches("/etc/postgresql/17/main/conf.d/x", "/etc/postgresql/*/main/conf.d")
    False
    """
    a, b = PurePosixPath(path).parts, PurePosixPath(pattern).parts
    return len(a) == len(b) and PurePosixPath(path).match(pattern)


def refused(log: str, placed: list[str]) -> dict[str, str]:
    """The placed files that a service's log names, with the lines that name them (each
    without its time and process).

    >>> log = '2026-12-04 06:14:56.271 GMT [1] FATAL:  configuration file "/etc/t.conf" contains errors'
    >>> refused(log, ["/etc/t.conf", "/etc/u.conf"])
    {'/etc/t.conf': 'FATAL:  configuration file "/etc/t.conf" contains errors'}
    """
    found = {}
    lines = [STAMP.sub("", line.strip()) for line in log.splitlines() if line.strip()]
    for path in placed:
        named = [line for line in lines if path in line]
        if named:
            found[path] = " / ".join(dict.fromkeys(named))[:1000]
    if not found and len(placed) == 1:  # the one file there is, when the server says its configuration is wrong
        said = [line for line in lines if CONFIG_ERROR.search(line) and "loaded" not in line]
        if said:
            found[placed[0]] = " / ".join(dict.fromkeys(said))[:1000]
    return found


def checks(variant: Variant, placed: dict[str, list[str]], refused: dict[str, dict[str, str]]) -> list[CheckResult]:
    """One check per configuration file of the copy's services: taken, or refused in the
    server's words (a refusal on the candidate only is a regression)."""
    found = []
    for service, spec in variant.services.items():
        for item in spec.config:
            said = refused.get(service, {}).get(item.file)
            found.append(
                CheckResult(
                    id=f"config:{service} {item.file}",
                    kind=Kind.CONFIG,
                    outcome=Outcome.FAILED if said else Outcome.PASSED,
                    message=f"refused: {said}" if said else "",
                )
            )
    return found
