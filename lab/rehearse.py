"""Rehearse the upgrade procedure itself: every step of the scenario's `upgrade` (and
`rollback`) run for real against the copies, in order, timed. The total time of the
upgrade steps is the pilot's downtime estimate. A step that fails stops the procedure for
that candidate, with its output as the finding; the steps after it are not run.

A step runs a command in one service of the baseline or of the candidate. With `into`,
its output is streamed through the lab into a command of another service (a dump on the
baseline loaded into the candidate): nothing is shared between the copies but that stream.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping

from lab import session
from lab.engine import EngineLike
from lab.errors import LabError
from lab.model import Step
from lab.probes import bounded
from lab.results import CheckResult, Outcome, StepRecord

OUTPUT_LINES = 30
Containers = dict[str, dict[str, str]]  # side ("baseline", "candidate") -> service -> container


def argv_of(run: list[str] | str) -> list[str]:
    return ["sh", "-c", run] if isinstance(run, str) else list(run)


def run_steps(engines: Mapping[str, EngineLike], steps: list[Step], containers: Containers) -> list[StepRecord]:
    """Run the steps in order until one fails; the ones after it are recorded as not run.
    `engines` and `containers` are by side (baseline, candidate): the two copies may run on
    different engines, and a step streams from one into the other through both APIs."""
    records: list[StepRecord] = []
    for step in steps:
        if records and not records[-1].ok:
            records.append(skipped(step, "an earlier step failed"))
            continue
        records.append(run_step(engines, step, containers))
    return records


def skipped(step: Step, why: str) -> StepRecord:
    """A step that was not run, and why."""
    return StepRecord(
        name=step.name, side=step.side, service=step.service, ok=False, skipped=True, message=f"not run: {why}"
    )


def run_step(engines: Mapping[str, EngineLike], step: Step, containers: Containers) -> StepRecord:
    start = time.perf_counter()
    source = containers[step.side][step.service]
    engine = engines[step.side]
    try:
        stream, exec_id = engine.attach(source, bounded(argv_of(step.run), step.timeout), step.user)
        if step.into is None:
            out, err = session.pipe(stream, io.BytesIO(b""), step.timeout + 5)
            stream.close()
            codes = [engine.exit_code(exec_id)]
            said, moved = err.strip() or out.strip(), 0
        else:
            target = containers[step.into.side][step.into.service]
            receiver = engines[step.into.side]
            into, into_id = receiver.attach(target, bounded(argv_of(step.into.run), step.timeout), step.into.user)
            src_err, out, err, moved = session.relay(stream, into, step.timeout + 5)
            stream.close()
            into.close()
            codes = [engine.exit_code(exec_id), receiver.exit_code(into_id)]
            said = "\n".join(part for part in (src_err.strip(), err.strip() or out.strip()) if part)
    except TimeoutError:
        return _record(step, start, False, f"did not finish within {step.timeout:g} s")
    except (LabError, OSError) as failure:
        return _record(step, start, False, f"could not run: {failure}")
    tail = "\n".join(said.splitlines()[-OUTPUT_LINES:])
    if any(code in (124, 137) for code in codes):
        return _record(step, start, False, f"did not finish within {step.timeout:g} s", tail, moved)
    failed = [code for code in codes if code != 0]
    if failed:
        which = "" if len(codes) == 1 else (" (the sending side)" if codes[0] != 0 else " (the receiving side)")
        return _record(step, start, False, f"failed with exit code {failed[0]}{which}", tail, moved)
    return _record(step, start, True, "done", tail, moved)


def _record(step: Step, start: float, ok: bool, message: str, output: str = "", moved: int = 0) -> StepRecord:
    return StepRecord(
        name=step.name,
        side=step.side,
        service=step.service,
        ok=ok,
        message=message,
        output=output,
        bytes_moved=moved,
        seconds=round(time.perf_counter() - start, 3),
    )


def as_checks(records: list[StepRecord], prefix: str) -> list[CheckResult]:
    """Steps as checks ("upgrade:<name>", "rollback:<name>"), judged like a restore."""
    return [
        CheckResult(
            id=f"{prefix}:{r.name}",
            seconds=r.seconds,
            message="" if r.ok else r.message,
            detail=r.output if not r.ok else "",
            outcome=Outcome.PASSED if r.ok else Outcome.NOT_RUN if r.skipped else Outcome.FAILED,
        )
        for r in records
    ]
