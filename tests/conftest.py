"""Shared helpers: writing scenario folders for tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def write_scenario(tmp_path: Path):
    """Write a scenario folder: write_scenario(yaml_text, {"relative/path": "content"})."""

    def write(text: str, files: dict[str, str] | None = None, name: str = "shop") -> Path:
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "scenario.yml").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        for rel, content in (files or {}).items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(content), encoding="utf-8")
        return folder

    return write
