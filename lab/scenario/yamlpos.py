"""YAML with positions: parse a file once, keeping the line of every key and value.

Validation errors point at `file:line` of the key path they concern; PyYAML's plain
`safe_load` forgets where things were, so we compose the node tree ourselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lab.errors import ScenarioError

KeyPath = tuple[str | int, ...]


class Positions:
    """Maps a key path such as ("services", "db", "image") to its 1-based line number, or
    to the override (`--set ...`) that gave its value."""

    def __init__(self) -> None:
        self._lines: dict[KeyPath, int] = {}
        self._origins: dict[KeyPath, str] = {}

    def record(self, path: KeyPath, line: int) -> None:
        self._lines.setdefault(path, line)

    def override(self, path: KeyPath, origin: str) -> None:
        """`path` and what is below it came from `origin`, not from the file."""
        self._origins[path] = origin

    def alias(self, source: KeyPath, target: KeyPath) -> None:
        """What the file says at `source` is also what it says at `target` (a copy)."""
        n = len(source)
        for path, line in list(self._lines.items()):
            if path[:n] == source:
                self.record(target + path[n:], line)

    def where(self, path: KeyPath, shown: str) -> str:
        """`file:line` of `path` (or of its nearest ancestor the file has), or the override
        that gave it.

        >>> p = Positions(); p.record(("timeouts",), 7); p.override(("timeouts", "ready"), "--set timeouts.ready=x")
        >>> p.where(("timeouts", "ready"), "s.yml"), p.where(("timeouts", "build"), "s.yml")
        ('--set timeouts.ready=x', 's.yml:7')
        """
        for end in range(len(path), -1, -1):
            if path[:end] in self._origins:
                return self._origins[path[:end]]
            if path[:end] in self._lines:
                return f"{shown}:{self._lines[path[:end]]}"
        return shown

    def has(self, path: KeyPath) -> bool:
        return path in self._lines or path in self._origins


def load(path: Path, shown: str) -> tuple[Any, Positions]:
    """Parse `path` into plain Python data plus the line of every key path.

    `shown` is how the file is named in messages. Syntax errors and duplicate keys are
    reported as ScenarioError with line and column.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ScenarioError(f"{shown}: cannot read the file: {err.strerror}") from err
    except UnicodeDecodeError as err:
        line = path.read_bytes().count(b"\n", 0, err.start) + 1
        raise ScenarioError(f"{shown}:{line}: not UTF-8 text ({err.reason}) — save the file as UTF-8") from None
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as err:  # a character YAML does not allow, found before parsing
        line = text.count("\n", 0, err.position) + 1
        raise ScenarioError(
            f"{shown}:{line}: a character YAML does not allow (#x{err.character:04x}) — remove it or save the"
            " file as plain UTF-8 text"
        ) from None
    try:
        node = loader.get_single_node()
        positions = Positions()
        problems: list[str] = []
        if node is None:
            return None, positions
        _walk(node, (), positions, problems, shown, depth=0)
        if problems:
            raise ScenarioError(problems)
        return loader.construct_document(node), positions
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark else shown
        raise ScenarioError(f"{where}: YAML error: {err.problem or err.context} — fix the YAML at that spot") from None
    except (yaml.YAMLError, ValueError, TypeError) as err:
        raise ScenarioError(f"{shown}: YAML error: {err} — use plain mappings, lists and values") from None
    finally:
        loader.dispose()


MAX_DEPTH = 50


def _walk(node: yaml.Node, path: KeyPath, pos: Positions, problems: list[str], shown: str, depth: int) -> None:
    line = node.start_mark.line + 1
    pos.record(path, line)
    if depth > MAX_DEPTH:
        problems.append(f"{shown}:{line}: nested too deeply (a YAML alias that refers to itself?) — simplify it")
        return
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(f"{shown}:{key_node.start_mark.line + 1}: keys must be plain text — rename that key")
                continue
            key = key_node.value
            if key in seen:
                problems.append(
                    f"{shown}:{key_node.start_mark.line + 1}: {'.'.join(map(str, path + (key,)))}:"
                    " duplicate key — keep one of them"
                )
            seen.add(key)
            pos.record(path + (key,), key_node.start_mark.line + 1)
            _walk(value_node, path + (key,), pos, problems, shown, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), pos, problems, shown, depth + 1)
