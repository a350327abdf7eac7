"""Run the scenario's pytest + testinfra files against one copy, in one pytest process.

The pytest start-up is paid once per copy, not per check, while the copy starts. It gets the copy's
containers through `lab.checks.pytest_plugin` and writes one outcome per test, which is read back
here, as each test finishes, so a deadline or an interrupt loses only the unfinished ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from lab.cancel import Token
from lab.results import CheckResult, Observation, Outcome
from lab.scenario import Scenario

POLL = 0.2  # seconds between looks at the cancel flag while pytest runs


def pytest_command(scenario: Scenario, copy_file: Path, ini_file: Path, only: list[str] | None = None) -> list[str]:
    """The pytest command line for one copy (with `only`, those tests): no user ini, no
    cache, our plugin in, testinfra's own `host` parametrisation out (the copy decides the hosts)."""
    files = only or [str(path) for path, _ in scenario.test_files]
    return [
        sys.executable,
        "-m",
        "pytest",
        *dict.fromkeys(files),
        "-c",
        str(ini_file),
        "--rootdir",
        str(scenario.folder),
        "-p",
        "lab.checks.pytest_plugin",
        "-p",
        "no:pytest11.testinfra",
        "-p",
        "no:cacheprovider",
        "--lab-copy",
        str(copy_file),
        "-q",
        "-rN",
        "--tb=short",
        "--color=no",
    ]


class Checking:
    """One copy's pytest process, started as the copy starts: Python's and pytest's start-up,
    the imports and the collection overlap with the containers' start. The tests run when
    `go()` says so, and not at all after `stop()`."""

    def __init__(self, proc: subprocess.Popen[bytes], gate: int, work: Path):
        self.proc = proc
        self.gate = gate  # our end of the pipe the plugin waits on
        self.work = work

    def go(self) -> None:
        self._say(b"go\n")

    def stop(self) -> None:
        """The copy will not be checked: end the process (it has run no test)."""
        self._say(b"stop\n")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._close_output()

    def finish(self, timeout: float, token: Token) -> tuple[list[CheckResult], str]:
        """Wait for the tests; returns the results and pytest's output. The process is killed
        at the deadline or as soon as the run is cancelled; the outcomes of the tests that
        finished before are kept."""
        proc = self.proc
        deadline = time.monotonic() + timeout
        while True:
            try:
                output, _ = proc.communicate(timeout=POLL)
                break
            except subprocess.TimeoutExpired:  # retrying communicate() loses no output
                if token.cancelled or time.monotonic() > deadline:
                    proc.kill()
                    output, _ = proc.communicate()
                    break
        text = output.decode("utf-8", "replace")
        results = _read(self.work / "outcomes.json")
        if token.cancelled:
            results.append(CheckResult(id="(checks)", outcome=Outcome.ERROR, message="stopped: the run was cancelled"))
        elif time.monotonic() > deadline:
            results.append(
                CheckResult(
                    id="(checks)",
                    outcome=Outcome.ERROR,
                    message=f"checks did not finish within {timeout:g} s (timeouts.checks)",
                )
            )
        elif not results and proc.returncode not in (0, 5):
            lines = text.strip().splitlines()
            results.append(
                CheckResult(
                    id="(checks)",
                    outcome=Outcome.ERROR,
                    message=lines[-1] if lines else f"pytest exited with {proc.returncode}",
                    detail="\n".join(lines[-40:]),
                )
            )
        return results, text

    def close(self) -> None:
        """Whatever happened: the process ends and nothing of it stays open."""
        if self.gate >= 0:
            self.stop()
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_output()

    def _say(self, word: bytes) -> None:
        if self.gate < 0:
            return
        try:
            os.write(self.gate, word)
        except OSError:
            pass  # the process has ended already: finish() reports how
        finally:
            os.close(self.gate)
            self.gate = -1

    def _close_output(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start(
    scenario: Scenario,
    variant: str,
    containers: dict[str, str],
    work: Path,
    engine_url: str = "",
    only: list[str] | None = None,
) -> Checking:
    """Start the pytest process of one copy (with `only`, of those tests, by node id); it
    waits for `go()` before running a test."""
    work.mkdir(parents=True, exist_ok=True)
    results_file = work / "outcomes.json"
    recorded_file = work / "recorded.json"
    recorded_file.write_text("", encoding="utf-8")
    copy_file = work / "copy.json"
    ini_file = work / "pytest.ini"
    ini_file.write_text("[pytest]\n", encoding="utf-8")
    copy_file.write_text(
        json.dumps(
            {
                "variant": variant,
                "services": containers,
                "default_host": scenario.test_files[0][1][0] if scenario.test_files else "",
                "files": {str(path.resolve()): list(hosts) for path, hosts in scenario.test_files},
                "results": str(results_file),
                "recorded": str(recorded_file),
            }
        ),
        encoding="utf-8",
    )
    # The lab package must be importable by the child even when run from a checkout.
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
    # Only the lab's plugin: pytest plugins that happen to be installed (hypothesis, say) are
    # not the scenario's, and loading them cost more than the tests themselves.
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=path, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    if engine_url:  # the copy's engine, for the sessions (and testinfra's docker backend) in the child
        env["DOCKER_HOST"] = engine_url
    gate_in, gate_out = os.pipe()  # not stdin: pytest's capture takes fd 0
    try:
        proc = subprocess.Popen(
            [*pytest_command(scenario, copy_file, ini_file, only), "--lab-gate", str(gate_in)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=scenario.folder,
            pass_fds=[gate_in],
        )
    except BaseException:
        os.close(gate_out)
        raise
    finally:
        os.close(gate_in)
    return Checking(proc, gate_out, work)


def recorded(work: Path) -> list[Observation]:
    """Values the tests kept with the `record` fixture, as observations to compare."""
    path = work / "recorded.json"
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            found.append(
                Observation(
                    id=item["id"],
                    service="",
                    outcome=Outcome.PASSED,
                    message=item["test"],
                    output={"value": item["value"]},
                )
            )
    return found


def _read(path: Path) -> list[CheckResult]:
    """The outcomes written so far, one JSON object per line."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [CheckResult.model_validate_json(line) for line in lines if line.strip()]
