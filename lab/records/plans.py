"""The pilot plan the client approves before the lab hours (`invoke plan`), and the pilot
measured against it.

A plan says, in a client's words, what will be staged and checked, what happens to the
client's data, how long the lab will take and what it costs. It is written into
`pilots/<scenario>/plans/<plan id>/` (plan.json, plan.md, plan.html, plan.pdf) and approved
like a report (`invoke approve <plan id>`: the same tamper-evident records).

The estimate comes from this engine's history of the scenario when there is one (the
recent completed runs' stage times, the build adjusted to the images that exist now), and
from the scenario's size otherwise; it is a range. The plan also records a digest of
every input of the pilot (stacks, build folders, images, backups, checks, traffic logs,
the procedure): a pilot that runs under an approved plan refuses to start when one of them
changed since, and its report says how the run compared with the plan.
"""

from __future__ import annotations

import ast
import glob
import hashlib
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from lab.engine import images
from lab.engine.types import EngineLike
from lab.errors import LabError
from lab.records import approval, history, pdf
from lab.results import Heading, Kind, PilotResult, PlannedActual, span
from lab.scenario import Scenario
from lab.scenario.secrets import Redactor, looks_secret

PLANS = "plans"
PLAN_FILE = approval.PLAN_FILE
SCHEMA_VERSION = 1
RECENT = 5  # runs of the history an estimate is made from
MARGIN = 0.15  # the range around the runs seen, for what no run has seen
NO_PLAN = "none"
# Without history: seconds (low, high) for each part of a pilot, from this lab's own runs on
# a 2-core machine (docs/benchmarks.md) and widened.
BUILD = (45.0, 240.0)  # one image to build from Debian's archive
START = (1.0, 10.0)  # one wave of services to become ready
RESTORE = (1.0, 5.0)  # one backup file, plus its size at RESTORE_MB (MB per second)
RESTORE_MB = (50.0, 5.0)
CHECK = (0.05, 0.5)  # one run of a declarative check (several run at a time)
TEST_FILE = (1.0, 6.0)  # one pytest + testinfra file
DISCOVERY = (1.0, 8.0)  # the lab's probes of one service
REPLAY_MB = (2.0, 20.0)  # a megabyte of the client's traffic logs
FIXED = (1.0, 5.0)  # the teardown and the report
PARALLEL_CHECKS = 4


class PlanOption(BaseModel):
    name: str
    candidates: list[str]
    low: float
    high: float
    hours: float | None = None
    cost: float | None = None


class Estimate(BaseModel):
    low: float
    high: float
    basis: str  # in words: from which runs, or from the scenario's size
    runs: list[str] = []  # the runs it was made from
    stages: dict[str, list[float]] = {}  # stage -> [low, high]
    to_build: list[str] = []
    present: list[str] = []

    @property
    def point(self) -> float:
        return math.sqrt(max(self.low, 0.1) * max(self.high, 0.1))


class Copy(BaseModel):
    name: str
    role: str
    description: str
    services: dict[str, str]  # service -> what runs (image, or build folder and arguments, and versions seen)


class DataFile(BaseModel):
    service: str
    file: str
    size: int
    sha256: str


class Plan(Heading):
    schema_version: int = SCHEMA_VERSION
    plan_id: str
    created_at: str
    engine: str = ""
    copies: list[Copy]
    checks: dict[str, int]  # kind in words -> how many
    upgrade: list[str] = []
    rollback: list[str] = []
    backups: list[DataFile] = []
    traffic: list[DataFile] = []
    estimate: Estimate
    currency: str = ""
    rate: float | None = None
    options: list[PlanOption] = []
    promises: list[str] = []
    inputs: dict[str, str] = {}

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / PLAN_FILE
        path.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        return path

    @classmethod
    def read(cls, folder: Path) -> Plan:
        path = folder / PLAN_FILE
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LabError(f"{path} is missing: this folder holds no plan") from None
        except (ValidationError, ValueError) as err:
            raise LabError(f"{path} is damaged ({str(err).splitlines()[0]}); make the plan again") from None


# -- making a plan --------------------------------------------------------------------------


def make(scenario: Scenario, pilots: Path, engine: EngineLike | None, engine_shown: str, now: datetime) -> Plan:
    """The plan of a pilot of `scenario` (as given: its overrides, matrix and candidates)."""
    present, to_build = _images(scenario, engine)
    estimate = estimate_from_history(scenario, pilots, to_build, present) or estimate_from_size(
        scenario, to_build, present
    )
    spec = scenario.plan
    everything = [c.name for c in scenario.candidates]
    options = [
        PlanOption(name="as planned", candidates=everything, low=estimate.low, high=estimate.high, hours=spec.hours)
    ]
    for other in spec.options:
        low, high = _scaled(estimate, (1 + len(other.candidates)) / (1 + len(everything)))
        options.append(PlanOption(name=other.name, candidates=other.candidates, low=low, high=high, hours=other.hours))
    for option in options:
        if spec.rate is not None and option.hours is not None:
            option.cost = round(option.hours * spec.rate, 2)
    return Plan(
        plan_id=f"plan-{now.strftime('%Y%m%d-%H%M%S')}-{hashlib.sha256(now.isoformat().encode()).hexdigest()[:4]}",
        scenario=scenario.name,
        description=scenario.description,
        client=scenario.client,
        consultant=scenario.consultant,
        change=scenario.change,
        created_at=now.isoformat(timespec="seconds"),
        overrides=list(scenario.overrides),
        engine=engine_shown,
        copies=_copies(scenario, pilots),
        checks=scope(scenario),
        upgrade=[_step(s) for s in scenario.upgrade.steps],
        rollback=[_step(s) for s in scenario.upgrade.rollback],
        backups=[
            DataFile(service=service, file=b.file, size=path.stat().st_size, sha256=approval.sha256(path))
            for service, b, path in scenario.backups
        ],
        traffic=[
            DataFile(service=log.service or "", file=log.file, size=path.stat().st_size, sha256=approval.sha256(path))
            for log, path in scenario.replay
        ],
        estimate=estimate,
        currency=spec.currency,
        rate=spec.rate,
        options=options,
        promises=promises(scenario),
        inputs=inputs(scenario, engine),
    )


# The kinds of check a plan counts, in words (the others are counted from the scenario below).
COUNTED = {
    Kind.TEST: "tests (pytest + testinfra)",
    Kind.SQL: "SQL checks",
    Kind.HTTP: "HTTP checks",
    Kind.COMMAND: "command checks",
    Kind.VERIFY: "restore verifications",
}
REPLAYED = "entries of the client's traffic replayed (distinct)"
PROBED = "services probed by discovery"
STEPS = "upgrade and rollback steps"


def scope(scenario: Scenario) -> dict[str, int]:
    """What will be checked, counted by kind, in words: each test function once per service
    its file runs against."""
    counts = {
        COUNTED[Kind.TEST]: sum(_tests_in(path) * len(hosts) for path, hosts in scenario.test_files),
        COUNTED[Kind.SQL]: len(scenario.checks.sql),
        COUNTED[Kind.HTTP]: len(scenario.checks.http),
        COUNTED[Kind.COMMAND]: len(scenario.checks.command),
        REPLAYED: _replayed(scenario),
        PROBED: len(scenario.discovered(scenario.baseline)),
        COUNTED[Kind.VERIFY]: len(scenario.verify),
        STEPS: len(scenario.upgrade.steps) + len(scenario.upgrade.rollback),
    }
    return {kind: n for kind, n in counts.items() if n}


def scope_run(result: PilotResult) -> dict[str, int]:
    """The same counts of what a pilot ran (its baseline's checks), for "planned and actual"."""
    baseline = next((c for c in result.copies if c.role == "baseline"), None)
    if baseline is None:
        return {}
    ran = [c.kind for c in baseline.checks] + [o.kind for o in (baseline.observations[:1] or [[]])[0]]
    counts = {words: ran.count(kind) for kind, words in COUNTED.items()}
    counts[REPLAYED] = sum(log.distinct for log in result.traffic)
    counts[PROBED] = len(baseline.discovered)
    counts[STEPS] = max((len(c.upgrade) + len(c.rollback) for c in result.copies if c.role == "candidate"), default=0)
    return {kind: n for kind, n in counts.items() if n}


def promises(scenario: Scenario) -> list[str]:
    """What the lab promises about the client's data, in plain words."""
    said = (
        [
            "Your backup files and traffic logs are only read: each is hashed (SHA-256) before and after the"
            " pilot, and the report shows both."
        ]
        if scenario.backups or scenario.replay
        else []
    )
    said += [
        "Each copy runs on a network of its own with no route out: not to the internet, not to the"
        " other copies, not to this machine's own services.",
        "Passwords and keys are kept out of everything the pilot writes: reports, logs and results"
        " show [secret:NAME] in their place.",
        "Every container, network and volume the pilot creates is removed when it ends — also when it"
        " fails or is stopped — unless the consultant keeps the copies for a set time to investigate"
        " (removed automatically afterwards).",
        "The pilot's run folder (reports, the checks' answers, which can include rows of your data, and"
        " the services' logs) stays on this machine until the consultant deletes it; nothing is sent"
        " anywhere.",
    ]
    if scenario.secrets:
        said.append(f"This scenario has {len(scenario.secrets)} secret(s); their values never appear in the plan.")
    return said


def inputs(scenario: Scenario, engine: EngineLike | None) -> dict[str, str]:
    """A digest of every input of the pilot, by what a person calls it. It holds no secret's
    value (nor a hash of one: secrets are digested as their names, so a password given
    another way on another machine is the same input), and no path of this machine (files
    are named relative to the scenario's folder). An image without an engine to ask is ""."""
    folder = scenario.folder
    redactor = Redactor(scenario.secrets)
    found: dict[str, str] = {}

    def digest(value: Any) -> str:
        text = json.dumps(value, sort_keys=True, default=str).replace(str(folder) + os.sep, "")
        return hashlib.sha256(redactor(text).encode()).hexdigest()

    for variant in scenario.variants:
        for name, service in variant.services.items():
            found[f"the stack of {variant.name}: service {name}"] = digest(service.model_dump(mode="json"))
            if service.build is not None:
                context = (folder / service.build.context).resolve()
                found[f"build folder {os.path.relpath(context, folder)}"] = images.context_digest(
                    context, service.build.dockerfile
                )
            elif service.image:
                found[f"image {service.image}"] = (engine.image_id(service.image) or "") if engine else ""
            for item in service.config:
                found[f"configuration file {item.file}"] = approval.sha256(folder / item.file)
    for _, backup, path in scenario.backups:
        found[f"backup {backup.file}"] = approval.sha256(path)
    for log, path in scenario.replay:
        found[f"traffic log {log.file}"] = approval.sha256(path)
    for path, hosts in scenario.test_files:
        found[f"test file {os.path.relpath(path, folder)}"] = digest([approval.sha256(path), list(hosts)])
    for check in scenario.checks.http:
        if check.body_file is not None:
            found[f"request body {os.path.relpath(check.body_file, folder)}"] = approval.sha256(Path(check.body_file))
    found["the declarative checks"] = digest(scenario.checks.model_dump(mode="json"))
    found["the restore verifications"] = digest([v.model_dump(mode="json") for v in scenario.verify])
    found["the upgrade procedure"] = digest(scenario.upgrade.model_dump(mode="json"))
    found["discovery"] = digest({v.name: sorted(scenario.discovered(v)) for v in scenario.variants})
    return found


def changed_inputs(plan: Plan, now: dict[str, str]) -> list[str]:
    """What changed since the plan, in words; an image the plan could not look up is not compared."""
    said = []
    for key, was in plan.inputs.items():
        new = now.get(key)
        if new is None:
            said.append(f"{key}: no longer in the scenario")
        elif was and new and was != new:
            detail = f" (SHA-256 {was[:12]}… → {new[:12]}…)" if key.startswith(("backup ", "traffic log ")) else ""
            said.append(f"{key}: changed{detail}")
    said += [f"{key}: new since the plan" for key in now if key not in plan.inputs]
    return said


# -- the estimate ---------------------------------------------------------------------------


def estimate_from_history(scenario: Scenario, pilots: Path, to_build: list[str], present: list[str]) -> Estimate | None:
    """The lab time from the recent completed runs of the scenario under `pilots` — the ones
    given the same values when there are, else those with the same candidates, else any —
    the build as the images now need it; None without history."""
    runs = [r for r in history.runs(pilots, scenario.name) if r.verdict != "ERROR"]
    wanted = sorted(c.name for c in scenario.candidates)
    alike = [r for r in runs if sorted(name for name, _ in r.candidates) == wanted]
    same = [r for r in alike if r.overrides == list(scenario.overrides)]
    results = []
    for run in (same or alike or runs)[:RECENT]:
        try:
            found = PilotResult.read(run.folder)
        except (OSError, ValueError):
            continue
        if found.stage == "done" and found.stages.get("total"):
            results.append(found)
    if not results:
        return None
    return estimate_from_stages([r.stages for r in results], [r.run_id for r in results], to_build, present)


def estimate_from_stages(
    stages: list[dict[str, float]], run_ids: list[str], to_build: list[str], present: list[str]
) -> Estimate:
    """The range of the next pilot's wall time from earlier runs' stage times (newest first).

    The build is what it was when the earlier runs built (the longest seen) if an image is
    to be built now, and what reusing cost otherwise; every other stage is taken as seen.

    >>> e = estimate_from_stages([{"build": 0.1, "checks": 10.0, "total": 20.0}, {"build": 60.0, "checks": 12.0,
    ...     "total": 80.0}], ["r2", "r1"], [], ["a"])
    >>> round(e.low, 1), round(e.high, 1), e.stages["build"]
    (17.0, 23.1, [0.1, 0.1])
    """
    builds = [s.get("build", 0.0) for s in stages]
    build = max(builds) if to_build else min(builds)
    unseen = (0.0, 0.0)  # images to build now where no run of the history built one
    if to_build and build < BUILD[0] / 10:
        unseen = (BUILD[0] * len(to_build), BUILD[1] * len(to_build))
    totals = [s["total"] - s.get("build", 0.0) + build for s in stages]
    by_stage: dict[str, list[float]] = {}
    for name in dict.fromkeys(k for s in stages for k in s if k != "total"):
        seen = [s[name] for s in stages if name in s]
        by_stage[name] = [round(min(seen), 1), round(max(seen), 1)] if name != "build" else [build, build]
    if unseen[1]:
        by_stage["build"] = [round(build + unseen[0], 1), round(build + unseen[1], 1)]
    low, high = min(totals) * (1 - MARGIN) + unseen[0], max(totals) * (1 + MARGIN) + unseen[1]
    basis = f"this engine's history of the scenario: {len(run_ids)} recent run(s), the newest {run_ids[0]}"
    if to_build:
        basis += f"; {len(to_build)} image(s) to build, as long as the longest build seen"
    return Estimate(
        low=round(low, 1),
        high=round(high, 1),
        basis=basis,
        runs=run_ids,
        stages=by_stage,
        to_build=to_build,
        present=present,
    )


def estimate_from_size(scenario: Scenario, to_build: list[str], present: list[str]) -> Estimate:
    """The lab time from the scenario's size, without history: a wide range."""
    copies = len(scenario.variants)
    rounds = math.ceil(copies / (os.cpu_count() or 1))  # copies run in parallel, one per core
    waves = max(len(set(s.depends_on)) for s in scenario.baseline.services.values()) + 1
    sizes = [path.stat().st_size / 1e6 for _, _, path in scenario.backups]
    runs = sum(c.repeat for c in [*scenario.checks.sql, *scenario.checks.http, *scenario.checks.command])
    log_mb = sum(path.stat().st_size / 1e6 for _, path in scenario.replay)
    parts: dict[str, tuple[float, float]] = {
        "build": (BUILD[0] * len(to_build), BUILD[1] * len(to_build)) if to_build else (0.5, 2.0),
        "start_ready": (START[0] * waves, START[1] * waves),
        "restore": (
            sum(RESTORE[0] + mb / RESTORE_MB[0] for mb in sizes),
            sum(RESTORE[1] + mb / RESTORE_MB[1] for mb in sizes),
        ),
        "checks": (
            (CHECK[0] * runs * 2 / PARALLEL_CHECKS)
            + TEST_FILE[0] * len(scenario.test_files)
            + DISCOVERY[0] * len(scenario.discovered(scenario.baseline))
            + REPLAY_MB[0] * log_mb,
            (CHECK[1] * runs * 2 / PARALLEL_CHECKS)
            + TEST_FILE[1] * len(scenario.test_files)
            + DISCOVERY[1] * len(scenario.discovered(scenario.baseline))
            + REPLAY_MB[1] * log_mb,
        ),
        "teardown and report": FIXED,
    }
    per_copy = ("start_ready", "restore", "checks")
    stages = {
        name: [round(lo * (rounds if name in per_copy else 1), 1), round(hi * (rounds if name in per_copy else 1), 1)]
        for name, (lo, hi) in parts.items()
        if hi > 0
    }
    return Estimate(
        low=round(sum(lo for lo, _ in stages.values()), 1),
        high=round(sum(hi for _, hi in stages.values()), 1),
        basis=f"the scenario's size ({copies} copies, {len(to_build)} image(s) to build): no pilot of it ran here yet",
        stages=stages,
        to_build=to_build,
        present=present,
    )


# -- finding plans, and using one ------------------------------------------------------------


def folder_of(pilots: Path, scenario: str) -> Path:
    return pilots / scenario / PLANS


def find(plan: str, pilots: Path) -> Path | None:
    """The folder of a plan given by id or path; None when `plan` names none."""
    given = Path(plan)
    if (given / PLAN_FILE).is_file():
        return given
    found = sorted(pilots.glob(f"*/{PLANS}/{plan}/{PLAN_FILE}")) if plan and "/" not in plan else []
    return found[0].parent if found else None


def listed(pilots: Path, scenario: str = "") -> list[tuple[Plan, dict[str, Any] | None]]:
    """The plans under `pilots` (of one scenario, when given), each with its last approval
    record (None when undecided); plans that cannot be read are passed over."""
    found = []
    for path in sorted(pilots.glob(f"{glob.escape(scenario) if scenario else '*'}/{PLANS}/*/{PLAN_FILE}")):
        try:
            plan = Plan.read(path.parent)
        except LabError:
            continue
        records = approval.records(path.parent)
        found.append((plan, records[-1] if records else None))
    return found


def approved(folder: Path) -> dict[str, Any] | None:
    """The last approval record of a plan when it approves (proceed, with or without conditions)."""
    records = approval.records(folder)
    return records[-1] if records and records[-1]["decision"] in history.APPROVING else None


def for_pilot(pilots: Path, scenario: Scenario, named: str, engine: EngineLike | None) -> PlannedActual | None:
    """The approved plan a pilot runs under: the one named, else the scenario's latest
    approved plan, else none. Raises LabError when the plan is not approved or an input
    changed since."""
    if named == NO_PLAN:
        return None
    if named:
        folder = find(named, pilots)
        if folder is None:
            raise LabError(f"no plan '{named}' — `invoke history` lists the plans; or run without one: --plan none")
    else:
        candidates = sorted(folder_of(pilots, scenario.name).glob(f"*/{PLAN_FILE}"), reverse=True)
        folder = next((p.parent for p in candidates if approved(p.parent)), None)
        if folder is None:
            return None
    plan = Plan.read(folder)
    record = approved(folder)
    if record is None:
        raise LabError(
            f"plan {plan.plan_id} is not approved — record the client's approval with"
            f" `invoke approve {plan.plan_id} --by <name> --decision proceed`, or run without it: --plan none"
        )
    if problems := approval.verify(folder):
        raise LabError(f"plan {plan.plan_id} does not verify since its approval: {'; '.join(problems)}")
    changed = changed_inputs(plan, inputs(scenario, engine))
    if changed:
        raise LabError(
            f"the scenario changed since plan {plan.plan_id} was approved ({record['by']}, {record['at'][:10]}): "
            + "; ".join(changed)
            + " — make a new plan (`invoke plan`) and have it approved, or run without one: --plan none"
        )
    lines = (folder / approval.APPROVALS).read_bytes().splitlines()
    return PlannedActual(
        plan_id=plan.plan_id,
        approved_by=record["by"],
        approved_at=record["at"],
        record=approval.record_hash(lines[-1]),
        low=plan.estimate.low,
        high=plan.estimate.high,
        copies_planned=[c.name for c in plan.copies],
        checks_planned=plan.checks,
    )


def measured(planned: PlannedActual, result: PilotResult) -> PlannedActual:
    """The plan's figures beside what the pilot did."""
    return planned.model_copy(
        update={
            "seconds": result.stages.get("total", 0.0),
            "copies_run": [c.variant for c in result.copies],
            "checks_run": scope_run(result),
        }
    )


def render(plan: Plan, folder: Path, templates: Path | None = None) -> list[str]:
    """plan.md, plan.html and plan.pdf; returns warnings (a PDF that could not be printed)."""
    from lab.records import report

    env = report.environment(templates)
    values = {"p": plan, "span": span, "size": size, "money": money, "date": plan.created_at[:10]}
    for name in ("plan.md", "plan.html"):
        (folder / name).write_text(env.get_template(f"{name}.j2").render(**values), encoding="utf-8")
    return [w.replace("report.pdf", "plan.pdf") for w in pdf.print_pdf(folder / "plan.html", folder / "plan.pdf")]


# -- in words -------------------------------------------------------------------------------


def size(count: int) -> str:
    """Bytes in words.

    >>> size(512), size(2_500_000)
    ('512 bytes', '2.5 MB')
    """
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= factor:
            return f"{count / factor:.1f} {unit}"
    return f"{count} bytes"


def money(amount: float | None, currency: str) -> str:
    return "—" if amount is None else f"{amount:,.2f} {currency}".strip()


def _images(scenario: Scenario, engine: EngineLike | None) -> tuple[list[str], list[str]]:
    """The images the pilot needs that the engine has, and those it must build or get."""
    planned = images.plan(scenario).values()
    if engine is None:
        return [], sorted({p.ref for p in planned})
    wanted = sorted({images.tag_of(p, engine) for p in planned})
    present = [ref for ref in wanted if engine.image_id(ref)]
    return present, [ref for ref in wanted if ref not in present]


def _copies(scenario: Scenario, pilots: Path) -> list[Copy]:
    """The copies, each service with what runs and the versions the last run saw."""
    seen: dict[tuple[str, str], str] = {}
    runs = history.runs(pilots, scenario.name)
    try:
        last = PilotResult.read(runs[0].folder) if runs else None
    except (OSError, ValueError):
        last = None
    for copy in last.copies if last else []:
        for name, info in copy.services.items():
            versions = ", ".join(f"{p} {v}" for p, v in list(info.packages.items())[:3])
            seen[(copy.variant, name)] = "; ".join(x for x in (info.os, versions) if x)
    out = []
    for variant in scenario.variants:
        services = {}
        for name, svc in variant.services.items():
            if svc.build is not None:
                args = ", ".join(f"{k}={'[hidden]' if looks_secret(k) else v}" for k, v in svc.build.args.items())
                what = f"built from {svc.build.context}" + (f" ({args})" if args else "")
            else:
                what = f"image {svc.image}"
            if seen.get((variant.name, name)):
                what += f" — last run: {seen[(variant.name, name)]}"
            services[name] = what
        out.append(Copy(name=variant.name, role=variant.role, description=variant.description, services=services))
    return out


def _step(step: Any) -> str:
    where = f"{step.side} {step.service}"
    into = f", into {step.into.side} {step.into.service}" if step.into else ""
    return f"{step.name} ({where}{into})"


def _replayed(scenario: Scenario) -> int:
    """The distinct entries of the client's traffic logs the pilot will replay (its logs read
    as the pilot reads them: a log that cannot be read is an error here already)."""
    from lab import replay

    return sum(replay.read(spec, path, os.path.relpath(path)).coverage.distinct for spec, path in scenario.replay)


def _tests_in(path: Path) -> int:
    """The tests of a pytest file: each test function once per case of its literal
    `pytest.mark.parametrize` lists (at least 1: the file is one check).

    >>> import tempfile; f = Path(tempfile.mkdtemp()) / "test_x.py"
    >>> _ = f.write_text("@pytest.mark.parametrize('a', [1, 2, 3])\\ndef test_a(a): pass\\ndef test_b(): pass\\n")
    >>> _tests_in(f)
    4
    """
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return 1
    found = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            cases = 1
            for mark in node.decorator_list:
                if isinstance(mark, ast.Call) and ast.unparse(mark.func).endswith("parametrize") and len(mark.args) > 1:
                    values = mark.args[1]
                    cases *= len(values.elts) if isinstance(values, ast.List | ast.Tuple) else 1
            found += cases
    return max(found, 1)


def _scaled(estimate: Estimate, share: float) -> tuple[float, float]:
    """An option's lab time (low, high): the build as planned, the rest in proportion to its copies."""
    build = estimate.stages.get("build", [0.0, 0.0])
    low, high = (
        fixed + (total - fixed) * share for fixed, total in zip(build, (estimate.low, estimate.high), strict=True)
    )
    return round(low, 1), round(high, 1)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
