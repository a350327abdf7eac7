"""The Docker engines a lab uses, and where each copy of a pilot runs.

A lab names its engines with `--engine URL` (repeatable) or `LAB_ENGINES` (comma-separated):
local sockets, `ssh://user@host` or `tcp://host:2376`, as Docker understands them; without
either, the one engine of DOCKER_HOST or the local socket. Everything goes through the
engines' APIs — no host ports, no shared file system — so the copies of a pilot and the
pilots of a matrix can be spread across machines.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from lab.engine.client import Engine
from lab.errors import EngineUnavailable

ENV = "LAB_ENGINES"
E = TypeVar("E")


def urls(given: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> list[str]:
    """The engines named on the command line, else in LAB_ENGINES; [""] means the default one.

    >>> urls([], {"LAB_ENGINES": "unix:///run/a.sock, ssh://lab2"})
    ['unix:///run/a.sock', 'ssh://lab2']
    >>> urls([], {})
    ['']
    """
    env = os.environ if environ is None else environ
    named = [u.strip() for u in given if u.strip()] or [u.strip() for u in env.get(ENV, "").split(",") if u.strip()]
    return list(dict.fromkeys(named)) or [""]


def connect_all(
    named: Sequence[str], skip_unreachable: bool = False, say: Callable[[str], None] = print
) -> list[Engine]:
    """An Engine for every URL that answers. An engine that does not answer is named with
    the reason: an error before anything starts, or — with `skip_unreachable` — a note,
    as long as one engine is left."""
    engines, problems = [], []
    for url in named:
        try:
            engines.append(Engine.connect(url or None))
        except EngineUnavailable as err:
            problems.append(str(err).splitlines()[0])
    if problems and (not skip_unreachable or not engines):
        hint = (
            "Hint: start those engines, or leave them out (--engine / LAB_ENGINES)"
            + ("" if skip_unreachable else ", or pass --skip-unreachable to run on the others")
            + "."
        )
        raise EngineUnavailable("\n".join(problems + [hint]))
    for problem in problems:
        say(f"note: {problem} — running on the other engines")
    return engines


def place(variants: Sequence[str], engines: Sequence[E]) -> dict[str, E]:
    """Each copy's engine: round robin, the baseline on the first.

    >>> place(["baseline", "a", "b", "c"], ["e1", "e2"])
    {'baseline': 'e1', 'a': 'e2', 'b': 'e1', 'c': 'e2'}
    """
    return {name: engines[index % len(engines)] for index, name in enumerate(variants)}
