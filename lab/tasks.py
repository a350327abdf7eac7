"""Invoke tasks: the consultant's commands, as an importable collection (`ns`).

`invoke --list` shows them where a `tasks.py` re-exports `ns` (the lab's checkout, or a
client's folder after `upgrade-lab init`); the `upgrade-lab` console script runs the same
tasks anywhere. Scenarios and run folders are found from the working folder (see
lab/workspace.py). This is the only layer that turns errors into exit codes (see
lab/errors.py): 0 no regression, 1 regressions, 2 could not run, 130 interrupted.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.program import Program
from invoke.tasks import task

from lab import workspace

BASE_IMAGES = ("debian:bookworm", "debian:trixie")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def lab_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a LabError into a clear message and its exit code — never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from lab.cancel import SIGNALS
        from lab.errors import LabError

        for kind in SIGNALS:  # explicitly: a process started from a background job inherits SIGINT as ignored
            signal.signal(kind, _raise_interrupt)
        try:
            return fn(*args, **kwargs)
        except LabError as err:
            raise Exit(f"error: {err}", code=err.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None
        except BrokenPipeError:  # the output's reader went away (`| head`): nothing more to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise Exit(code=0) from None
        except Exit:
            raise
        except Exception as err:  # a defect of the lab, not of the input: still exit 2, say where
            import traceback

            where = traceback.extract_tb(err.__traceback__)[-1]
            raise Exit(
                f"internal error: {type(err).__name__}: {err} (at {Path(where.filename).name}:{where.lineno});"
                " please report it with the command that caused it",
                code=2,
            ) from None

    return wrapper


@task
@lab_errors
def engine(c: Context, base_images: bool = True) -> None:
    """Make a Docker engine reachable (installing and starting one if needed) and provide the base images."""
    from lab.engine import provision

    eng = provision.ensure_engine(say)
    version = eng.client.version()
    say(f"engine: Docker {version.get('Version')} (API {version.get('ApiVersion')})")
    if base_images:
        for tag in BASE_IMAGES:
            say(f"base image {tag}: {provision.ensure_base_image(eng, tag, say)}")


@task
@lab_errors
def scenarios(c: Context) -> None:
    """List the scenarios with their descriptions."""
    from lab import scenario

    found = scenario.available(workspace.scenarios())
    if not found:
        say(f"no scenarios in {workspace.scenarios()}")
    width = max((len(n) for n in found), default=0)
    for name, folder in found.items():
        print(f"{name:<{width}}  {scenario.summary(folder)}")


GIVEN_HELP = {
    "set": "KEY=VALUE: set a value of the scenario, e.g. candidates.next.services.app.image=shop:5.3 (repeatable;"
    " also LAB_SET_<ANY>=KEY=VALUE in the environment)",
    "matrix": "candidates.<name>.<key>=V1,V2,...: one candidate per value, e.g."
    " candidates.vendor.services.app.build.args.RELEASE=5.2.1,5.3.0 (repeatable)",
    "candidate": "run only this candidate (repeatable; a matrix candidate's name picks all its values)",
}
GIVEN = ["set", "matrix", "candidate"]
ENGINE_HELP = (
    "a Docker engine to use (repeatable; also LAB_ENGINES=url,url): unix://, ssh:// or tcp:// as Docker says it"
)


def _engines(named: list[str] | None, skip_unreachable: bool = False) -> list[Any]:
    from lab.engine import fleet

    return fleet.connect_all(fleet.urls(named or []), skip_unreachable, say)


def _load(name: str, sets: list[str] | None, matrices: list[str] | None, candidates: list[str] | None) -> Any:
    from lab import scenario
    from lab.scenario.overrides import Given

    return scenario.load(
        name, workspace.scenarios(), Given.of(sets or [], matrices or [], candidates or [], os.environ)
    )


@task(iterable=GIVEN, help={"name": "scenario name or path", **GIVEN_HELP})
@lab_errors
def validate(
    c: Context,
    name: str,
    set: list[str] | None = None,  # the option is --set
    matrix: list[str] | None = None,
    candidate: list[str] | None = None,
) -> None:
    """Validate a scenario (by name or path) without Docker, with the values given for a run."""
    loaded = _load(name, set, matrix, candidate)
    variants = ", ".join(f"{v.name} ({v.role})" for v in loaded.variants)
    print(
        f"{loaded.name}: valid — {len(loaded.baseline.services)} services, copies: {variants},"
        f" {len(loaded.test_files)} test files"
        + (f", {len(loaded.replay)} traffic logs" if loaded.replay else "")
        + (f", discovery on {', '.join(probed)}" if (probed := loaded.discovered(loaded.baseline)) else "")
    )


@task(
    iterable=[*GIVEN, "engine"],
    help={
        "name": "scenario name (see `invoke scenarios`) or path to a scenario folder",
        "engine": ENGINE_HELP + "; the copies are spread across the engines",
        "skip_unreachable": "run on the engines that answer when some named engine does not",
        "reuse_baseline": "reuse the baseline observations of an earlier run with the same inputs on this engine (CI)",
        "keep": "leave the copies running afterwards (remove with `invoke down <run>`; gc spares them for 24 h)",
        "keep_for": "like --keep, for this long (e.g. 2h or 72h): `invoke gc` removes them afterwards",
        "out": "folder for run folders (default: pilots/)",
        "templates": "folder of report templates that override the built-in ones (default: LAB_TEMPLATES)",
        "junit": "also write junit.xml here (for CI)",
        "json": "also write results.json here (for CI)",
        "plan": "the approved plan this pilot runs under (default: the scenario's latest approved plan, if any;"
        " none: without one)",
        **GIVEN_HELP,
    },
)
@lab_errors
def pilot(
    c: Context,
    name: str,
    keep: bool = False,
    out: str = "",
    templates: str = "",
    set: list[str] | None = None,  # the option is --set
    matrix: list[str] | None = None,
    candidate: list[str] | None = None,
    junit: str = "",
    json: str = "",
    engine: list[str] | None = None,
    skip_unreachable: bool = False,
    keep_for: str = "",
    reuse_baseline: bool = False,
    plan: str = "",
) -> None:
    """Run a pilot: stage baseline and candidates, run the checks, compare, report."""
    from lab.cancel import Token, handle_signals
    from lab.pipeline import pilot as pipeline
    from lab.pipeline.context import Options
    from lab.progress import Progress
    from lab.records import plans, report

    token = Token()
    with handle_signals(token):  # from here on, Ctrl-C, SIGTERM and SIGHUP stop the run through the token
        loaded = _load(name, set, matrix, candidate)
        engines = _engines(engine, skip_unreachable)
        pilots = Path(out) if out else workspace.pilots()
        planned = plans.for_pilot(pilots, loaded, plan, engines[0])
        if planned is not None:
            say(f"under plan {planned.plan_id}, approved by {planned.approved_by} at {planned.approved_at}")
        token.check()  # stopped before the pilot began: nothing to tear down
        progress = Progress(sys.stderr)  # a status line on a terminal; plain lines otherwise (CI)
        options = Options(keep=keep or bool(keep_for), reuse_baseline=reuse_baseline, templates=_templates(templates))
        if keep_for:
            options.keep_for = _duration("--keep-for", keep_for)
        ctx = pipeline.prepare(engines, loaded, pilots, options, say=progress.say, token=token)
        ctx.result.planned = planned
        try:
            with progress.showing(ctx.status_line):
                result = pipeline.run(ctx)
        finally:
            _copy_out(ctx.run_dir, {"junit.xml": junit, "results.json": json})
    print(report.summary(result, ctx.run_dir))
    if result.exit_code:
        raise Exit(code=result.exit_code)


def _duration(option: str, text: str) -> float:
    from lab.errors import LabError
    from lab.scenario.fields import parse_duration

    try:
        return parse_duration(text)
    except ValueError as err:
        raise LabError(f"{option} {text}: {err}") from None


def _copy_out(run_dir: Path, wanted: dict[str, str]) -> None:
    """Copies of a run's files where CI wants them."""
    import shutil

    from lab.errors import LabError

    for name, target in wanted.items():
        if target and (run_dir / name).is_file():
            try:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(run_dir / name, target)
            except OSError as err:
                raise LabError(f"cannot write {target}: {err.strerror} — choose another path") from None


@task(help={"run": "run id or run folder", "templates": "folder of report templates (default: LAB_TEMPLATES)"})
@lab_errors
def report(c: Context, run: str, templates: str = "") -> None:
    """Render every report format of a run again from its results.json (no Docker needed)."""
    from lab.errors import LabError
    from lab.records import approval, report

    run_dir = approval.find_run(run, workspace.pilots())
    if (run_dir / approval.APPROVALS).is_file():
        raise LabError(
            f"run {run_dir.name} is approved: its reports stay as they were approved"
            " (`invoke verify` checks them); run the pilot again for new ones"
        )
    result = approval.load_results(run_dir)
    waived = approval.waivers_for(run_dir.parent, exclude=run_dir.name)
    for warning in report.render_all(result, run_dir, _templates(templates), waived):
        say(f"warning: {warning}")
    say(f"rendered report.md, report.html, report.pdf and junit.xml in {run_dir}")


@task(
    iterable=["waive"],
    help={
        "run": "run id or run folder",
        "by": "who decides (the client's name)",
        "decision": "proceed | proceed-with-conditions | defer | reject",
        "note": "free text kept with the decision",
        "waive": 'accept one finding: "<check id>=<reason>" (repeatable)',
    },
)
@lab_errors
def approve(
    c: Context, run: str, by: str = "", decision: str = "", note: str = "", waive: list[str] | None = None
) -> None:
    """Record the client's decision with the SHA-256 of every artefact of the run."""
    from lab.records import approval

    run_dir = _run_or_plan(run)
    record = approval.approve(run_dir, by, decision, note, waive or [])
    say(
        f"recorded: {record['decision']} by {record['by']} at {record['at']}, {len(record['artefacts'])} files hashed"
        f"{', ' + str(len(record['waivers'])) + ' waiver(s)' if record['waivers'] else ''}"
        f" → {run_dir / approval.APPROVALS}\nrecord SHA-256: {record['sha256']} (quote it in the change proposal;"
        f" `invoke verify {run_dir.name} --expect <it>` proves later that the approval stands)"
    )


@task(help={"run": "run id or run folder", "expect": "the approval record's SHA-256 quoted in the change proposal"})
@lab_errors
def verify(c: Context, run: str, expect: str = "") -> None:
    """Check that every approved artefact of a run is unchanged and the record chain is intact."""
    from lab.records import approval

    run_dir = _run_or_plan(run)
    problems = approval.verify(run_dir, expect)
    if problems:
        raise Exit("NOT VERIFIED:\n  " + "\n  ".join(problems), code=1)
    records = approval.records(run_dir)
    last = records[-1]
    say(
        f"verified: {len(last['artefacts'])} files unchanged since {len(records)} approval(s);"
        f" last: {last['decision']} by {last['by']} at {last['at']}"
    )


@task(help={"scenario": "only the runs of this scenario", "out": "folder of run folders (default: pilots/)"})
@lab_errors
def history(c: Context, scenario: str = "", out: str = "") -> None:
    """List the pilots run so far and their plans, newest first: verdicts, candidates, approval, time."""
    from lab.records import history, plans
    from lab.results import span

    pilots = Path(out) if out else workspace.pilots()
    found = history.runs(pilots, scenario)
    planned = plans.listed(pilots, scenario)
    if not found and not planned:
        say(f"no runs or plans{' of ' + scenario if scenario else ''} in {pilots}")
        return
    dated = []
    for r in found:
        decision = f"{r.decision} ({r.decided_by})" if r.decision else "—"
        candidates = ", ".join(f"{name} {verdict}" for name, verdict in r.candidates) or "—"
        started = r.started_at[:16].replace("T", " ")
        dated.append((r.run_id, started, r.scenario, r.verdict, candidates, decision, f"{r.seconds:.0f} s"))
    for p, decided in planned:
        decision = f"{decided['decision']} ({decided['by']})" if decided else "—"
        made = p.created_at[:16].replace("T", " ")
        estimate = f"est. {span(p.estimate.low, p.estimate.high)}"
        dated.append(
            (
                p.plan_id,
                made,
                p.scenario,
                "PLAN",
                ", ".join(c.name for c in p.copies if c.role == "candidate"),
                decision,
                estimate,
            )
        )
    dated.sort(key=lambda row: (row[1], row[0]), reverse=True)
    rows = [("RUN", "STARTED (UTC)", "SCENARIO", "VERDICT", "CANDIDATES", "DECISION", "TIME"), *dated]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _run_or_plan(given: str) -> Path:
    """The folder of a run, or of a pilot plan, given by id or path."""
    from lab.records import approval, plans

    return plans.find(given, workspace.pilots()) or approval.find_run(given, workspace.pilots())


@task(
    iterable=[*GIVEN, "engine"],
    help={
        "name": "scenario name (see `invoke scenarios`) or path to a scenario folder",
        "out": "folder for run folders, where the plan goes under <scenario>/plans/ (default: pilots/)",
        "templates": "folder of templates that override the built-in ones (default: LAB_TEMPLATES)",
        "engine": ENGINE_HELP + "; its history and images make the estimate",
        **GIVEN_HELP,
    },
)
@lab_errors
def plan(
    c: Context,
    name: str,
    out: str = "",
    templates: str = "",
    set: list[str] | None = None,  # the option is --set
    matrix: list[str] | None = None,
    candidate: list[str] | None = None,
    engine: list[str] | None = None,
) -> None:
    """Write the pilot plan for the client to approve: scope, data handling, estimated lab time, options and cost."""
    from lab.engine.types import shown_url
    from lab.errors import LabError
    from lab.records import plans
    from lab.results import span

    loaded = _load(name, set, matrix, candidate)
    pilots = Path(out) if out else workspace.pilots()
    try:
        found = _engines(engine, skip_unreachable=True)
    except LabError as err:
        say(f"note: {err} — the estimate counts every image as to build")
        found = []
    eng = found[0] if found else None
    made = plans.make(loaded, pilots, eng, shown_url(eng.url) if eng else "", plans.now_utc())
    folder = plans.folder_of(pilots, loaded.name) / made.plan_id
    made.write(folder)
    for warning in plans.render(made, folder, _templates(templates)):
        say(f"warning: {warning}")
    print(
        f"plan {made.plan_id}: estimated lab time {span(made.estimate.low, made.estimate.high)}"
        f" ({made.estimate.basis})\n  plan: {folder / 'plan.html'} (also .md, .pdf)\n"
        f'  approve: invoke approve {made.plan_id} --by "<the client>" --decision proceed'
    )


def _templates(given: str) -> Path | None:
    chosen = given or os.environ.get("LAB_TEMPLATES", "")
    return Path(chosen) if chosen else None


@task(iterable=["engine"], help={"run_id": "the run id (the name of its run folder)", "engine": ENGINE_HELP})
@lab_errors
def down(c: Context, run_id: str, engine: list[str] | None = None) -> None:
    """Remove every container, network and volume of a run (e.g. one kept with --keep), on every engine."""
    from lab.engine.types import shown_url

    for eng in _engines(engine, skip_unreachable=True):
        gone = eng.remove_run(run_id)
        where = shown_url(eng.url)
        say(f"removed {gone} of run {run_id} on {where}" if gone else f"nothing of run {run_id} on {where}")


@task(
    iterable=["engine"],
    help={
        "all_runs": "also remove runs kept with --keep (runs whose pilot is still running are always spared)",
        "engine": ENGINE_HELP,
    },
)
@lab_errors
def gc(c: Context, all_runs: bool = False, engine: list[str] | None = None) -> None:
    """Remove what earlier runs left in every engine (found by label), sparing kept and running ones."""
    from lab.engine.gc import collect

    removed = sum(collect(eng, all_runs, say) for eng in _engines(engine, skip_unreachable=True))
    if not removed:
        say("nothing to remove")


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


CLIENT_TASKS = '''"""The lab's commands in this folder: `invoke --list` (the lab is installed with pip)."""

from lab.tasks import ns  # noqa: F401
'''


@task(
    help={
        "name": "the new scenario's name (a folder under scenarios/)",
        "from_compose": "the client's docker-compose.yml to start from (default: a commented template)",
    }
)
@lab_errors
def init(c: Context, name: str, from_compose: str = "") -> None:
    """Scaffold scenarios/<name>/ from the client's Compose file (or a template); it validates and runs as it is."""
    from lab import scaffold, scenario
    from lab.errors import LabError
    from lab.scenario.fields import NAME_RE

    if not NAME_RE.match(name):
        raise LabError(f"scenario name '{name}': use a-z, 0-9 and '-' (max 31 characters)")
    folder = workspace.scenarios() / name
    made = scaffold.from_compose(Path(from_compose), folder, name) if from_compose else scaffold.template(name)
    scaffold.write(made, folder)
    try:
        loaded = scenario.load(str(folder), folder.parent)
    except LabError as err:  # a defect of the scaffold: leave nothing half-made behind
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        raise LabError(f"the scaffold of {name} does not validate, so it was not kept:\n{err}") from None
    say(f"wrote {', '.join(sorted(made.files))} in {folder}")
    for line in made.notes:
        say(f"  note: {line}")
    tasks_file = folder.parent.parent / "tasks.py"
    if not tasks_file.exists():
        tasks_file.write_text(CLIENT_TASKS, encoding="utf-8")
        say(f"wrote {tasks_file}: `invoke <task>` runs the lab's tasks in this folder")
    say(
        f"{loaded.name}: valid — next: fill in what is marked CHANGE in {folder / 'scenario.yml'},"
        f" then `invoke validate {name}` and `invoke pilot {name}`"
    )


ns = Collection(init, engine, scenarios, validate, plan, pilot, report, approve, verify, history, down, gc)

# Tasks whose first word after the task name may be given without its flag (`upgrade-lab
# history demo`): invoke fills a positional argument only when it has no default.
OPTIONAL_POSITIONAL = {"history": "--scenario"}


def main(argv: list[str] | None = None) -> None:
    """The `upgrade-lab` console script: the same tasks as `invoke`, with no tasks.py needed."""
    from importlib.metadata import version

    args = list(sys.argv if argv is None else argv)
    Program(namespace=ns, name="Upgrade Pilot Lab", binary="upgrade-lab", version=version("upgrade-pilot-lab")).run(
        _with_flags(args)
    )


def _with_flags(argv: list[str]) -> list[str]:
    """`history demo` → `history --scenario demo`, for each task in OPTIONAL_POSITIONAL."""
    out = list(argv)
    for i, word in enumerate(out[:-1]):
        flag = OPTIONAL_POSITIONAL.get(word)
        if flag and not out[i + 1].startswith("-") and out[i + 1] not in ns.task_names:
            out.insert(i + 1, flag)
            break
    return out
