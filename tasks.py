"""The lab's checkout: the consultant's commands (lab/tasks.py) and the developers' own.

`invoke --list` shows them. Outside the checkout the same commands are `upgrade-lab <task>`
(or `invoke <task>` in a folder whose tasks.py re-exports `lab.tasks.ns`).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from invoke import Context, task

from lab.tasks import ns

ROOT = Path(__file__).resolve().parent


@task(
    help={
        "runs": "rounds (each runs every kind once, alternating)",
        "quick": "only the floor and the demo pilot",
        "molecule": "also the same work through Molecule (installs it into bench/molecule/.venv on first use)",
        "json": "where to write the figures (default: bench/results.json)",
    }
)
def bench(c: Context, runs: int = 3, quick: bool = False, json: str = "", molecule: bool = False) -> None:
    """Benchmark: the demo pilot against the same work by hand (bench/floor.sh), and at scale."""
    args = [sys.executable, str(ROOT / "bench" / "suite.py"), "--runs", str(runs)]
    args += ["--quick"] if quick else []
    args += ["--molecule"] if molecule else []
    args += ["--json", json] if json else []
    c.run(shlex.join(args), pty=False, echo=True)


@task(help={"unit": "only the fast tests that need no Docker engine", "k": "pytest -k expression"})
def test(c: Context, unit: bool = False, k: str = "") -> None:
    """Run the test suite (engine tests included unless --unit)."""
    args = ["-m", "not docker"] if unit else []
    if k:
        args += ["-k", k]
    c.run(shlex.join([sys.executable, "-m", "pytest", *args]), pty=False, echo=True)


ns.add_task(bench)
ns.add_task(test)
