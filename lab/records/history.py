"""The history of pilots: an SQLite index (`history.sqlite`) of the run folders under one
pilots folder — scenario, candidates, verdicts, approval state, timings.

The run folders stay the evidence; the index is brought up to date from them whenever it
is read (a run whose results.json or approvals.jsonl changed is indexed again, a removed
folder leaves the index), so it never disagrees with what is on disk and can simply be
deleted. It answers `invoke history` and "what changed since the last approved run?".
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from lab.records import approval
from lab.results import PilotResult, SinceApproved

DB = "history.sqlite"
APPROVING = ("proceed", "proceed-with-conditions")  # decisions that approve the upgrade
SLOWER = 1.25  # a stage this many times slower (and by at least FLOOR seconds) is named
FLOOR = 1.0
VERSION = 2  # of the schema below: an index of another version is rebuilt from the run folders
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    started_at TEXT NOT NULL,
    verdict TEXT NOT NULL,
    exit_code INTEGER NOT NULL,
    candidates TEXT NOT NULL,   -- JSON: [[name, verdict], ...]
    overrides TEXT NOT NULL,    -- JSON: what was given from outside the scenario file
    seconds REAL NOT NULL,
    decision TEXT NOT NULL,     -- the last approval record's decision, '' when not decided
    decided_by TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    folder TEXT NOT NULL,
    baseline_key TEXT NOT NULL, -- the digest of the baseline's inputs (for --reuse-baseline)
    stamp TEXT NOT NULL         -- when results.json and approvals.jsonl last changed
);
CREATE INDEX IF NOT EXISTS runs_by_scenario ON runs (scenario, started_at);
"""


@dataclass(frozen=True)
class Run:
    run_id: str
    scenario: str
    started_at: str
    verdict: str
    exit_code: int
    candidates: list[tuple[str, str]]
    overrides: list[str]
    seconds: float
    decision: str
    decided_by: str
    decided_at: str
    folder: Path
    baseline_key: str


def runs(root: Path, scenario: str = "", exclude: str = "") -> list[Run]:
    """The runs under `root` (of one scenario, when given), newest first."""
    with _index(root) as db:
        rows = db.execute(
            "SELECT * FROM runs WHERE (? = '' OR scenario = ?) AND run_id != ? ORDER BY started_at DESC, run_id DESC",
            (scenario, scenario, exclude),
        ).fetchall()
    return [
        Run(
            r["run_id"],
            r["scenario"],
            r["started_at"],
            r["verdict"],
            r["exit_code"],
            [tuple(c) for c in json.loads(r["candidates"])],
            json.loads(r["overrides"]),
            r["seconds"],
            r["decision"],
            r["decided_by"],
            r["decided_at"],
            Path(r["folder"]),
            r["baseline_key"],
        )
        for r in rows
    ]


def since_approved(root: Path, current: PilotResult) -> SinceApproved | None:
    """What changed since the last approved run of the same scenario: findings that are new
    and findings that are gone (by check id, whatever the candidates were called), and
    stages that got slower or faster. None when no earlier run was approved."""
    earlier = [r for r in runs(root, current.scenario, exclude=current.run_id) if r.run_id < current.run_id]
    approved = next((r for r in earlier if r.decision in APPROVING), None)
    if approved is None:
        return None
    try:
        previous = PilotResult.read(approved.folder)
    except (OSError, ValueError):
        return None
    before, now = approval.findings(previous), approval.findings(current)
    slower, faster = [], []
    for stage, seconds in current.stages.items():
        was = previous.stages.get(stage)
        if not was or stage in ("logs", "teardown"):
            continue
        change = f"{stage}: {was:.1f} s → {seconds:.1f} s"
        if seconds > was * SLOWER and seconds - was >= FLOOR:
            slower.append(change)
        elif was > seconds * SLOWER and was - seconds >= FLOOR:
            faster.append(change)
    return SinceApproved(
        run_id=approved.run_id,
        decision=approved.decision,
        by=approved.decided_by,
        at=approved.decided_at,
        new=sorted(now - before),
        gone=sorted(before - now),
        slower=slower,
        faster=faster,
    )


@contextmanager
def _index(root: Path) -> Iterator[sqlite3.Connection]:
    """The index, brought up to date with the run folders under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(root / DB, timeout=30)) as db:
        db.row_factory = sqlite3.Row
        with db:  # one transaction: concurrent pilots see the index before or after, never half
            if db.execute("PRAGMA user_version").fetchone()[0] != VERSION:
                db.execute("DROP TABLE IF EXISTS runs")
                db.execute(f"PRAGMA user_version = {VERSION}")
            db.executescript(SCHEMA)
            known = {r["run_id"]: r["stamp"] for r in db.execute("SELECT run_id, stamp FROM runs")}
            present = set()
            for results in root.glob("*/*/results.json"):
                folder = results.parent
                present.add(folder.name)
                stamp = _stamp(folder)
                if known.get(folder.name) != stamp:
                    _put(db, folder, stamp)
            for gone in set(known) - present:
                db.execute("DELETE FROM runs WHERE run_id = ?", (gone,))
        yield db


def _stamp(folder: Path) -> str:
    marks = []
    for name in ("results.json", approval.APPROVALS):
        path = folder / name
        marks.append(f"{path.stat().st_mtime_ns}:{path.stat().st_size}" if path.is_file() else "-")
    return "/".join(marks)


def _put(db: sqlite3.Connection, folder: Path, stamp: str) -> None:
    try:
        result = PilotResult.read(folder)
    except (OSError, ValueError):
        return  # not a run folder the lab can read (yet): left out of the index
    decided = approval.records(folder)
    last = decided[-1] if decided else {}
    db.execute(
        "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            result.run_id,
            result.scenario,
            result.started_at,
            result.verdict.value,
            result.exit_code,
            json.dumps([[c.candidate, c.verdict.value] for c in result.candidates]),
            json.dumps(result.overrides),
            result.stages.get("total", 0.0),
            str(last.get("decision", "")),
            str(last.get("by", "")),
            str(last.get("at", "")),
            str(folder),
            result.baseline_key,
            stamp,
        ),
    )
