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
    """Maps a key path such as ("services", "db", "image") to its 1-based line number."""

    def __init__(self) -> None:
        self._lines: dict[KeyPath, int] = {}

    def record(self, path: KeyPath, line: int) -> None:
        self._lines.setdefault(path, line)

    def line(self, path: KeyPath) -> int | None:
        """The line of `path`, or of its nearest ancestor that the file has.

        >>> p = Positions(); p.record(("services",), 3)
        >>> p.line(("services", "db", "image"))
        3
        """
        for end in range(len(path), -1, -1):
            if path[:end] in self._lines:
                return self._lines[path[:end]]
        return None

    def has(self, path: KeyPath) -> bool:
        return path in self._lines


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
