"""pytest plugin that points testinfra's `host` fixture at one copy of the stack.

Loaded by the pilot into one pytest process per copy (`-p lab.checks.pytest_plugin`), with a JSON
file naming the copy's containers. Existing testinfra files run unmodified: `host` is the
service the scenario names for that file (a test runs once per listed service, with the
service name as its id), and `lab.host("db")` reaches any service of the same copy by name.
Each test's outcome is written to the results file that the pilot reads back, and values
a test keeps with the `record` fixture are compared between copies like the answers of
the declarative checks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra.host

from lab.checks import testinfra_backend
from lab.engine.session import ShellPool

_COPY = pytest.StashKey[dict[str, Any]]()
DETAIL_LINES = 60
WHERE_LINES = 3  # of pytest's explanation (`where False = <service redis-server>.is_running`)
WHERE_CHARS = 200


class LabCopy:
    """The copy a test runs against: its variant and its services by name."""

    def __init__(self, config: dict[str, Any]):
        self.variant: str = config["variant"]
        self.services: dict[str, str] = config["services"]
        self._hosts: dict[str, testinfra.host.Host] = {}
        self._shells: ShellPool | None = None
        self._connected = False  # the engine is reached when a test first needs a host, not before

    def host(self, service: str) -> testinfra.host.Host:
        """The testinfra host of `service` in this copy."""
        if service not in self.services:
            raise KeyError(f"no service '{service}' in this copy; services: {', '.join(self.services)}")
        if not self._connected:
            self._shells = testinfra_backend.shell_pool()
            self._connected = True
        if service not in self._hosts:
            self._hosts[service] = testinfra_backend.host_for(self.services[service], self._shells)
        return self._hosts[service]

    def close(self) -> None:
        if self._shells is not None:
            self._shells.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--lab-copy", help="JSON file describing the copy under test (set by the pilot)")
    parser.addoption("--lab-gate", type=int, help="file descriptor to wait on for 'go' before the tests run")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Started early, the process imports and collects while the copy starts, then waits
    here until the pilot says go (or stop: the copy did not start)."""
    gate = session.config.getoption("--lab-gate")
    if gate is None:
        return
    with os.fdopen(gate, "rb") as pipe:
        word = pipe.readline().strip()
    if word != b"go":
        pytest.exit("not run: the copy was not checked", returncode=0)


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--lab-copy")
    if path:
        copy = json.loads(Path(path).read_text(encoding="utf-8"))
        config.stash[_COPY] = copy
        config.pluginmanager.register(Recorder(Path(copy["results"])), "lab-recorder")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    copy = metafunc.config.stash.get(_COPY, None)
    if copy is None or "_lab_service" not in metafunc.fixturenames:
        return
    module_file = str(Path(str(metafunc.module.__file__)).resolve())
    hosts = copy["files"].get(module_file) or [copy["default_host"]]
    metafunc.parametrize("_lab_service", hosts, ids=hosts, indirect=True, scope="module")


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest) -> Iterator[LabCopy]:
    """The copy under test: `lab.variant`, `lab.services`, `lab.host(name)`."""
    copy = LabCopy(request.config.stash[_COPY])
    yield copy
    copy.close()


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[[str, Any], None]:
    """`record(name, value)`: keep a value (anything JSON can hold) for comparison between
    the baseline and the candidates, like a declarative check's answer, e.g.
    `record("invoice totals", host.run("psql -Atc 'SELECT sum(amount) FROM invoices'").stdout)`.
    """
    path = Path(request.config.stash[_COPY]["recorded"])
    nodeid = request.node.nodeid

    def keep(name: str, value: Any) -> None:
        line = json.dumps({"id": f"record:{name}", "test": nodeid, "value": value})
        with path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    return keep


@pytest.fixture(scope="module")
def _lab_service(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def host(lab: LabCopy, _lab_service: str) -> testinfra.host.Host:
    """testinfra's `host`, bound to the scenario's service in this copy."""
    return lab.host(_lab_service)


class Recorder:
    """Folds setup, call and teardown into one outcome per test, and appends it to the
    results file (a JSON object per line) as soon as the test is finished."""

    RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}

    def __init__(self, path: Path):
        self.path = path
        self.path.write_text("", encoding="utf-8")
        self.open: dict[str, dict[str, Any]] = {}

    def add(self, nodeid: str, outcome: str, seconds: float, message: str, detail: str) -> None:
        entry = self.open.setdefault(
            nodeid, {"id": nodeid, "outcome": "passed", "seconds": 0.0, "message": "", "detail": ""}
        )
        entry["seconds"] = round(entry["seconds"] + seconds, 4)
        if self.RANK[outcome] > self.RANK[entry["outcome"]]:
            entry.update(outcome=outcome, message=message, detail=detail)

    def finish(self, nodeid: str) -> None:
        entry = self.open.pop(nodeid, None)
        if entry is not None:
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.passed:
            self.add(report.nodeid, "passed", report.duration, "", "")
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            self.add(report.nodeid, "skipped", report.duration, str(reason), "")
        else:
            outcome = "failed" if report.when == "call" else "error"
            self.add(report.nodeid, outcome, report.duration, _headline(report), _tail(report.longreprtext))
        if report.when == "teardown":
            self.finish(report.nodeid)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.add(report.nodeid or "(collection)", "error", 0.0, _headline(report), _tail(report.longreprtext))
            self.finish(report.nodeid or "(collection)")


def _headline(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The failure in one line, with pytest's explanation of what each value was: `assert
    False — where False = <service redis-server>.is_running` says what `assert False` alone
    does not."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        lines = [line for line in str(crash.message).strip().splitlines() if line.strip()]
        if not lines:
            return "failed"
        # pytest's explanation: "+  where False = <x>.is_running", nested ones indented further
        found = [
            (line.index("where "), line.strip(" +")) for line in lines[1:] if line.lstrip(" +").startswith("where ")
        ]
        top = min((depth for depth, _ in found), default=0)
        where = [text[:WHERE_CHARS] for depth, text in found if depth == top]
        if not lines[0].strip().removeprefix("AssertionError: ").startswith("assert "):  # the test's own words
            return lines[0].strip()
        return " — ".join([lines[0].strip(), *where[:WHERE_LINES]])
    lines = report.longreprtext.strip().splitlines()
    return lines[-1] if lines else "failed"


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-DETAIL_LINES:])
