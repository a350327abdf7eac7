"""The client's decision on a pilot, tamper-evident: `approve` appends a record with the
SHA-256 of every artefact of the run folder; `verify` recomputes them and checks the chain.

Records live in the run folder's `approvals.jsonl`, one JSON object per line, append-only:
a later decision adds a line and never rewrites one. Each record carries the SHA-256 of the
line before it (`prev`), so removing or editing an earlier record breaks the chain. A record
may waive specific findings (a check id and a reason); a later pilot of the same scenario
shows which of its findings were already waived.
"""

from __future__ import annotations

import getpass
import glob
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lab.errors import LabError, RunNotFound
from lab.records.report import DECISIONS
from lab.results import PilotResult, Status

APPROVALS = "approvals.jsonl"
PLAN_FILE = "plan.json"  # a pilot plan's folder (lab.records.plans) is approved the same way
RECORD_VERSION = 1


def find_run(run: str, pilots: Path) -> Path:
    """The run folder of `run`: a path to it, or a run id under `pilots/<scenario>/`."""
    given = Path(run)
    if (given / "results.json").is_file():
        return given
    found = sorted(pilots.glob(f"*/{glob.escape(run)}")) if run and "/" not in run else []
    if found and (found[0] / "results.json").is_file():
        return found[0]
    recent = sorted(pilots.glob("*/*/results.json"), key=lambda p: p.parent.name)[-5:]
    hint = ", ".join(p.parent.name for p in recent) or f"none in {pilots}"
    raise RunNotFound(f"no run '{run}' — give a run id or a run folder. Recent runs: {hint}")


def load_results(run_dir: Path) -> PilotResult:
    """The run's results.json, or a clear error when it is missing or damaged."""
    path = run_dir / "results.json"
    try:
        return PilotResult.read(run_dir)
    except FileNotFoundError:
        raise RunNotFound(f"{path} is missing: this folder holds no pilot run") from None
    except (ValidationError, ValueError) as err:
        first = str(err).splitlines()[0]
        raise LabError(f"{path} is damaged and cannot be read ({first}); re-run the pilot") from None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artefacts(run_dir: Path) -> dict[str, str]:
    """SHA-256 of every file of the run (reports, results, logs), by relative path."""
    return {
        p.relative_to(run_dir).as_posix(): sha256(p)
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.name != APPROVALS
    }


def findings(result: PilotResult) -> set[str]:
    """The ids of what a client can waive: regressions, changed answers, slowdowns,
    checks that could not be compared."""
    ids = set()
    for cand in result.candidates:
        ids |= {c.id for c in cand.comparisons if c.status in (Status.REGRESSION, Status.ERROR, Status.CHANGED_FAILURE)}
        ids |= {o.id for o in cand.outputs if o.changed or o.slower or o.unstable}
    return ids


def records(run_dir: Path) -> list[dict[str, Any]]:
    """The run's approval records that can be read (`verify` names the ones that cannot)."""
    path = run_dir / APPROVALS
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and {"by", "at", "decision"} <= record.keys():
            found.append(record)
    return found


def record_hash(line: bytes) -> str:
    """The SHA-256 of one approval record as written: quote it in the change proposal, and
    `invoke verify --expect` proves later that the record (and so every hash in it) stands."""
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def approve(
    run_dir: Path, by: str, decision: str, note: str = "", waivers: list[str] | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Append the client's decision to the run's record (or to a pilot plan's: a folder with
    plan.json, whose record names the plan and waives nothing); returns the record."""
    if not by.strip():
        raise LabError('say who decides: --by "<name>"')
    if decision not in DECISIONS:
        raise LabError(f"unknown decision '{decision}' — choose one of: {', '.join(DECISIONS)}")
    if (run_dir / PLAN_FILE).is_file():
        if waivers:
            raise LabError("a plan has no findings to waive: waive findings when approving the pilot's report")
        return _append(run_dir, by, decision, note, {"plan": run_dir.name}, now)
    result = load_results(run_dir)
    waived = []
    known = findings(result)
    for item in waivers or []:
        check, sep, reason = item.partition("=")
        if not sep or not reason.strip():
            raise LabError(f"waiver '{item}': write it as \"<check id>=<reason>\"")
        if check.strip() not in known:
            listing = "; ".join(sorted(known)) or "this run has no findings to waive"
            raise LabError(f"waiver '{check.strip()}': no such finding in run {result.run_id}. Findings: {listing}")
        waived.append({"check": check.strip(), "reason": reason.strip()})
    return _append(
        run_dir, by, decision, note, {"run": result.run_id, "verdict": result.verdict.value, "waivers": waived}, now
    )


def _append(
    run_dir: Path, by: str, decision: str, note: str, subject: dict[str, Any], now: datetime | None
) -> dict[str, Any]:
    """One record, chained to the one before it, with the SHA-256 of every file of the folder."""
    path = run_dir / APPROVALS
    previous = path.read_bytes().splitlines()[-1] if path.is_file() and path.read_bytes().strip() else b""
    record = {
        "version": RECORD_VERSION,
        "at": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "by": by.strip(),
        "decision": decision,
        "note": note,
        "recorded_by": getpass.getuser(),
        "waivers": [],
        **subject,
        "artefacts": artefacts(run_dir),
        "prev": hashlib.sha256(previous).hexdigest() if previous else "",
    }
    line = json.dumps(record, sort_keys=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")
    record["sha256"] = record_hash(line.encode())
    return record


def verify(run_dir: Path, expect: str = "") -> list[str]:
    """Every problem with the run's approvals: changed, missing or added files, a broken
    chain, a record that is not the one whose hash `expect` gives. An empty list means every
    approved artefact is byte for byte what was approved."""
    path = run_dir / APPROVALS
    lines = path.read_bytes().splitlines() if path.is_file() else []
    if not any(line.strip() for line in lines):
        raise LabError(f"run {run_dir.name} has no approval to verify — record one with `invoke approve`")
    problems = []
    previous = b""
    current = artefacts(run_dir)
    approved: set[str] = set()
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError
        except ValueError:
            problems.append(f"{APPROVALS} line {number} is not a valid record")
            previous = line
            continue
        expected = hashlib.sha256(previous).hexdigest() if previous else ""
        if record.get("prev") != expected:
            problems.append(f"{APPROVALS} line {number}: the record chain is broken (a record was edited or removed)")
        who = f"approval {number} ({record.get('decision')} by {record.get('by')} at {record.get('at')})"
        for name, digest in sorted(record.get("artefacts", {}).items()):
            approved.add(name)
            if name not in current:
                problems.append(f"{name}: missing since {who}")
            elif current[name] != digest:
                problems.append(f"{name}: changed since {who}")
        previous = line
    problems += [f"{name}: added since the approvals" for name in sorted(set(current) - approved)]
    if expect and expect not in {record_hash(line) for line in lines}:
        problems.append(
            f"no approval record has the SHA-256 {expect}: the record quoted in the change"
            " proposal was removed or changed"
        )
    return problems


def waivers_for(scenario_dir: Path, exclude: str = "") -> dict[str, str]:
    """Findings already waived in runs of a scenario earlier than run `exclude`: check id →
    who, when, why. Unreadable records are passed over (`verify` names them)."""
    waived: dict[str, str] = {}
    for approvals in sorted(scenario_dir.glob(f"*/{APPROVALS}")):
        if exclude and approvals.parent.name >= exclude:
            continue  # only earlier runs (run ids sort by time)
        for record in records(approvals.parent):
            for waiver in record.get("waivers", []):
                if not isinstance(waiver, dict) or not {"check", "reason"} <= waiver.keys():
                    continue
                waived[waiver["check"]] = (
                    f"{waiver['reason']} — {record['by']}, {record['at'][:10]}, run {approvals.parent.name}"
                )
    return waived
