"""Untrusted input: whatever YAML a scenario file holds, loading it ends in a valid scenario
or in a ScenarioError whose every line names the file (and the line, when the file has
it) — never in another exception."""

from __future__ import annotations

import copy
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab import scenario
from lab.errors import ScenarioError

VALID = yaml.safe_load(
    textwrap.dedent(
        """
        description: Generated
        secrets: {pw: {env: UNTRUSTED_TEST_PASSWORD}}
        services:
          db:
            build: {context: db, args: {DEBIAN: bookworm}}
            environment: {POSTGRES_PASSWORD: "${secret:pw}"}
            healthcheck: {test: ["CMD", "true"], interval: 100ms}
            volumes: ["data:/data"]
            resources: {memory: 256m, cpus: 0.5, pids: 64}
          app: {image: "debian:bookworm", depends_on: [db], command: ["sleep", "infinity"]}
        candidates:
          next: {services: {db: {build: {args: {DEBIAN: trixie}}}}}
        backup:
          db: [{file: backup/dump.sql, format: postgresql, database: shop}]
        verify:
          - {name: rows, service: db, database: shop, query: SELECT 1, expect: "1"}
        upgrade:
          steps: [{name: move, side: baseline, service: db, run: pg_dump shop, into: {service: db, run: psql}}]
        checks:
          host: app
          testinfra: [checks/test_x.py, {file: checks/test_x.py, hosts: [db]}]
          sql: [{name: q, service: db, database: shop, query: SELECT 1, repeat: 3}]
          http: [{name: h, service: app, port: 80, path: /}]
          command: [{name: c, service: app, run: uname -a, ignore: {regex: ["x+"]}}]
          noise: {second_copy: true}
          slowdown: {factor: 1.5, floor: 50ms}
        timeouts: {ready: 30s, pilot: 1h}
        """
    )
)
FILES = {
    "db/Dockerfile": "FROM debian:bookworm\n",
    "checks/test_x.py": "def test_x(host):\n    pass\n",
    "backup/dump.sql": "SELECT 1;\n",
}
KEYS = sorted(
    {
        "description", "services", "candidates", "baseline", "checks", "backup", "verify", "upgrade", "secrets",
        "timeouts", "image", "build", "context", "args", "environment", "healthcheck", "test", "interval",
        "depends_on", "volumes", "resources", "memory", "cpus", "pids", "command", "host", "testinfra", "file",
        "hosts", "sql", "http", "name", "service", "query", "steps", "into", "side", "run", "env", "db", "app",
        "next", "ready", "pilot", "noise", "slowdown", "factor", "floor", "ignore", "regex", "format", "expose",
    }
)  # fmt: skip

scalars = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats() | st.text(max_size=20)
keys = st.sampled_from(KEYS) | st.text(max_size=12)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """The valid scenario with a few of its values replaced, keys removed or keys added."""
    doc = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        parent, key = draw(_places(doc))
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "remove" and isinstance(parent, dict):
            parent.pop(key, None)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(keys)] = draw(values)
        else:
            parent[key] = draw(values)
    return doc


def _places(doc: Any) -> st.SearchStrategy[tuple[Any, Any]]:
    found: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for key, child in list(items):
            found.append((node, key))
            walk(child)

    walk(doc)
    return st.sampled_from(found)


def outcome(text: str | bytes) -> scenario.Scenario | None:
    """The scenario the text makes, or None when it is invalid (and the error located)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "untrusted"
        for rel, content in FILES.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(content)
        path = folder / "scenario.yml"
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        try:
            loaded = scenario.load(str(folder))
        except ScenarioError as err:
            for line in err.problems:
                first = line.splitlines()[0]
                assert first.startswith(str(path)) or first.startswith("scenario.yml"), line
            return None
        assert loaded.name == "untrusted" and loaded.variants[0].name == "baseline"
        return loaded


def test_the_valid_document_loads(monkeypatch):
    monkeypatch.setenv("UNTRUSTED_TEST_PASSWORD", "s3cret-value")
    loaded = outcome(yaml.safe_dump(VALID))
    assert loaded is not None and [v.name for v in loaded.variants] == ["baseline", "baseline-2", "next"]
    assert loaded.timeouts.pilot == 3600


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(mutated())
def test_a_mutated_scenario_is_valid_or_a_located_error(doc):
    outcome(yaml.safe_dump(doc, allow_unicode=True))


@SETTINGS
@given(values)
def test_any_yaml_document_is_valid_or_a_located_error(doc):
    outcome(yaml.safe_dump(doc, allow_unicode=True))


@SETTINGS
@given(
    st.lists(
        st.sampled_from([*"ab:-[]{}&*!|>'\"%@` \n\t#,?\u00e9\x00", "services", "  ", "- ", "&a", "*a"]), max_size=60
    ).map("".join)
)
def test_any_text_is_valid_or_a_located_error(text):
    outcome(text)


@SETTINGS
@given(st.binary(max_size=60))
def test_any_bytes_are_valid_or_a_located_error(data):
    outcome(b"description: x\nservices:\n  " + data)
