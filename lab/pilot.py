"""The pilot pipeline: build → stage ∥ → check ∥ → compare → report → teardown.

Each copy (baseline, candidates) is staged and checked in its own thread, so a copy that
is ready starts its checks without waiting for the others. Teardown always runs: on
success, on failure, on errors and on interrupt. Failures of a copy become data in the
results; only a pilot that cannot run at all (bad input, no engine, a failed build, a
baseline that does not start) ends with exit code 2.
"""

from __future__ import annotations

import resource
import secrets
import signal
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

import yaml

from lab import (
    approval,
    baseline_cache,
    checks,
    compare,
    fleet,
    history,
    images,
    inventory,
    probes,
    rehearse,
    report,
    restore,
)
from lab.diff import Rules
from lab.engine import ContainerSpec, EngineLike, labels
from lab.errors import EngineUnavailable, Interrupted, LabError
from lab.interrupts import deferred_signals, pilot_deadline
from lab.results import (
    BackupFile,
    CheckResult,
    CopyResult,
    ImageRecord,
    PilotResult,
    RestoreRecord,
    ServiceInfo,
    StepRecord,
    Verdict,
)
from lab.scenario import TWIN, Scenario, Variant
from lab.secrets import Redactor
from lab.session import ShellPool
from lab.stage import CopyNames, stage_copy

Say = Callable[[str], None]
PROBE = "lab-probe"  # the HTTP probe's container in a copy, and its key in the image plans
LOG_LINES = 20_000  # the run folder keeps at most this many lines of each container's log
LOG_BYTES = 4 << 20  # and at most this many characters
EFFECTIVE = "scenario.effective.yml"  # the scenario as this run used it, when values were given from outside
SECOND_PASS_GAP = 1.1  # seconds between the baseline's two observations
KEEP_FOR = 24 * 3600.0  # how long `invoke gc` spares copies kept with --keep
T = TypeVar("T")


def new_run_id() -> str:
    """Sortable and unique: UTC time plus randomness, e.g. 20261123-141502-3fa2."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


class Pilot:
    """One run of one scenario. `run()` returns the results; the folder holds the evidence."""

    def __init__(
        self,
        engine: EngineLike | Sequence[EngineLike],
        scenario: Scenario,
        out_root: Path,
        keep: bool = False,
        say: Say = print,
        clock: Callable[[], float] = time.monotonic,
        templates: Path | None = None,
        keep_for: float = KEEP_FOR,
        reuse_baseline: bool = False,
    ):
        self.engines = [engine] if not isinstance(engine, Sequence) else list(engine)
        # where each copy runs: the baseline on the first engine, the others round robin
        self.placement = fleet.place([v.name for v in scenario.variants], self.engines)
        self.scenario = scenario
        self.keep = keep
        self.keep_for = keep_for
        self.reuse_baseline = reuse_baseline
        self.templates = templates
        self.redact = Redactor(scenario.secrets)
        self.say = say
        self.clock = clock
        self.run_id = new_run_id()
        self.run_dir = out_root / scenario.name / self.run_id
        self.cancelled = threading.Event()
        self.late_signals: list[int] = []  # signals that arrived while the run folder was written
        self.wrapping = False  # the stages are over: logs, teardown and the run folder
        # side work of the copies (a probe's start, the inventory), off their critical path
        self.background = ThreadPoolExecutor(max_workers=2 * len(scenario.variants), thread_name_prefix="side")
        self.baseline_restored = threading.Event()  # the baseline holds the client's data
        self.baseline_checked = threading.Event()  # the baseline's checks are done
        self.lock = threading.Lock()
        self.t0 = clock()
        self.result = PilotResult(
            run_id=self.run_id,
            scenario=scenario.name,
            description=scenario.description,
            client=scenario.client,
            consultant=scenario.consultant,
            change=scenario.change,
            overrides=list(scenario.overrides),
            started_at=_now(),
            kept=keep,
        )
        self.copies = {
            v.name: CopyResult(
                variant=v.name, role=v.role, description=v.description, engine=fleet.shown(self.placement[v.name].url)
            )
            for v in scenario.variants
        }

    def run(self) -> PilotResult:
        """Run the whole pipeline; never leaves copies behind unless `keep`."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise LabError(
                f"cannot create the run folder {self.run_dir}: {err.strerror} — choose another with --out"
            ) from None
        if self.scenario.overrides:  # what this run really was, the overrides applied
            (self.run_dir / EFFECTIVE).write_text(
                yaml.safe_dump(self.scenario.effective, sort_keys=False, allow_unicode=True), encoding="utf-8"
            )
        self.log(
            f"run {self.run_id}: {self.scenario.name} — "
            f"{', '.join(v.name for v in self.scenario.variants)} → {self.run_dir}"
        )
        interrupted: BaseException | None = None
        try:
            with pilot_deadline(self.scenario.timeouts.pilot):
                self.stages()
        except LabError as err:
            self.fail(err)
            if isinstance(err, Interrupted):
                interrupted = err
        except KeyboardInterrupt as err:
            self.fail(Interrupted("interrupted (Ctrl-C)"))
            interrupted = err
        except Exception as err:  # a defect of the lab: still tear down and say so
            self.fail(LabError(f"internal error: {type(err).__name__}: {err}"))
            self.result.warnings.append("".join(traceback.format_exception(err)))
        finally:
            self.cancelled.set()
            self.background.shutdown(wait=False, cancel_futures=True)
            self.wrapping = True
            with deferred_signals() as self.late_signals:
                self.wrap_up(interrupted=interrupted is not None)
        if interrupted is not None:
            raise Interrupted(f"interrupted; run folder: {self.run_dir}") from interrupted
        if self.late_signals:
            raise Interrupted(f"interrupted while the run folder was written; it was finished first: {self.run_dir}")
        return self.result

    # stages ---------------------------------------------------------------------------
    def stages(self) -> None:
        self.hash_backups("before")
        self.result.stage = "build"
        refs = self.timed("build", self.build)
        reused = self.reuse(refs)
        self.result.stage = "copies"  # stage, then check, each copy on its own
        self.stage_and_check(refs, skip=reused)
        self.result.stage = "compare"
        self.judge()
        self.result.stage = "done"

    def build(self) -> dict[tuple[str, str], str]:
        plans = images.plan(self.scenario)
        if self.scenario.checks.http:
            plans.update({(v.name, PROBE): images.probe_plan() for v in self.scenario.variants})
        self.log(f"images: {len(set(plans.values()))} to provide")
        refs, done = images.ensure(self.placement, self.scenario, plans, self.clock)
        for item in done:
            self.log(f"image {item.ref}: {'built' if item.built else 'reused'} ({item.seconds:.1f} s)")
        self.result.images = [ImageRecord(**item.__dict__) for item in done]
        return refs

    def reuse(self, refs: dict[tuple[str, str], str]) -> set[str]:
        """With --reuse-baseline: the copies (the baseline, its twin) whose recorded
        observations from an earlier run with the same inputs stand in for staging them."""
        baseline = self.scenario.baseline
        engine = self.placement[baseline.name]
        image_ids = {s: engine.image_id(refs[(baseline.name, s)]) or "" for s in baseline.services}
        backups = {b.file: b.sha256_before for b in self.result.backups}
        self.result.baseline_key = baseline_cache.key(self.scenario, engine.identity(), image_ids, backups)
        if not self.reuse_baseline:
            return set()
        why = baseline_cache.why_not(self.scenario)
        found = None
        if not why:
            root = self.run_dir.parent.parent
            found = baseline_cache.find(root, self.scenario.name, self.result.baseline_key, exclude=self.run_id)
        if found is None:
            why = why or "no earlier run on this engine had the same images, backup and checks"
            self.log(f"baseline: staged, not reused — {why}")
            return set()
        origin, copies = found
        for copy in copies:
            self.copies[copy.variant] = copy
        self.result.baseline_reused_from = origin
        self.baseline_restored.set()
        self.baseline_checked.set()
        self.log(f"baseline: the observations of run {origin} are reused (the same inputs on this engine)")
        return {copy.variant for copy in copies}

    def stage_and_check(self, refs: dict[tuple[str, str], str], skip: set[str]) -> None:
        staged = [v for v in self.scenario.variants if v.name not in skip]
        pool = ThreadPoolExecutor(max_workers=len(staged), thread_name_prefix="copy")
        try:
            futures = [pool.submit(self.one_copy, variant, refs) for variant in staged]
            wait(futures, return_when=FIRST_EXCEPTION)  # a copy that raises stops the others at once
            for future in futures:
                future.result()
            for engine in self.engines:  # copies record what fails; an engine that went away ends the pilot
                engine.ping()
        except BaseException:
            # Stop the other copies and wait for their threads, so that none of them
            # creates anything after the teardown that follows.
            self.cancelled.set()  # the copies' threads and their pytest processes stop at this
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()

    def one_copy(self, variant: Variant, refs: dict[tuple[str, str], str]) -> None:
        """Stage one copy, then run the checks against it; failures are recorded, not raised."""
        copy = self.copies[variant.name]
        copy.began = round(self.clock() - self.t0, 3)
        names = CopyNames(self.run_id, variant.name)
        checking = None
        try:
            if self.scenario.test_files and variant.name != TWIN:  # the twin only samples noise
                checking = checks.start(
                    self.scenario,
                    variant.name,
                    {s: names.container(s) for s in variant.services},
                    self.run_dir / "checks" / variant.name,
                    self.placement[variant.name].url,
                )
            self._stage_and_check(variant, refs, names, checking)
        finally:
            if checking is not None:
                checking.close()
            copy.ended = round(self.clock() - self.t0, 3)
            if variant.name == self.scenario.baseline.name:  # never leave the candidates waiting
                self.baseline_restored.set()
                self.baseline_checked.set()

    def _stage_and_check(
        self, variant: Variant, refs: dict[tuple[str, str], str], names: CopyNames, checking: checks.Checking | None
    ) -> None:
        copy = self.copies[variant.name]
        copy.stage = "start"
        engine = self.placement[variant.name]
        copy.services = {
            s: ServiceInfo(container=names.container(s), image=refs[(variant.name, s)]) for s in variant.services
        }
        start = self.clock()
        migrating = variant.role == "candidate" and bool(self.scenario.upgrade.steps)
        # A service that the upgrade steps bring its data gets no restore of its own.
        moved = {s.into.service for s in self.scenario.upgrade.steps if s.into and s.into.side == "candidate"}
        artefacts = [restore.Artefact(*item) for item in self.scenario.backups if not (migrating and item[0] in moved)]

        probe: list[Future[str]] = []  # the HTTP probe, started with the copy's first service

        def place_files(service: str, container: str) -> None:
            if self.scenario.checks.http and not probe:  # the copy's network exists now
                probe.append(self.background.submit(self.start_probe, variant, names, refs))
            for item in artefacts:
                if item.service == service and item.before_start:
                    self.log(f"{variant.name}: placing {item.spec.file} into {service}...")
                    copy.restores.append(self.restored(variant, restore.place(engine, container, item)))

        def load_dumps(wave: list[str]) -> None:
            # before the services that need the data start
            for item in artefacts:
                if item.service in wave and not item.before_start:
                    if self.cancelled.is_set():
                        raise Interrupted("stopped during the restore")
                    copy.stage = "restore"
                    self.log(f"{variant.name}: restoring {item.spec.file} into {item.service}...")
                    record = restore.load(engine, names.container(item.service), item)
                    copy.restores.append(self.restored(variant, record))
            if migrating and moved & set(wave):
                self.rehearse(variant, copy, {s: names.container(s) for s in variant.services})

        try:
            stage_copy(
                engine,
                self.scenario.name,
                variant,
                names,
                {s: refs[(variant.name, s)] for s in variant.services},
                self.scenario.timeouts.ready,
                self.cancelled,
                self.clock,
                on_ready=lambda s, t: self.log(f"{variant.name}: {s} ready ({t:.1f} s)"),
                before_start=place_files,
                after_wave=load_dumps,
            )
        except (Interrupted, EngineUnavailable):
            raise
        except LabError as err:
            copy.error = str(err)
            copy.seconds["start_ready"] = round(self.clock() - start, 3)
            self.log(f"{variant.name}: did not start — {str(err).splitlines()[0]}")
            return
        copy.ready = True
        copy.seconds["start_ready"] = round(self.clock() - start, 3)
        self.slowest("start_ready", copy.seconds["start_ready"])
        described = self.describe(engine, copy)  # in the background, while the copy is checked
        containers = {s: i.container for s, i in copy.services.items()}
        if migrating and not copy.upgrade:  # steps that move no data into a service: after staging
            self.rehearse(variant, copy, containers)
        if artefacts or self.scenario.verify:
            self.restore_and_verify(
                variant, copy, containers, verify=not migrating or all(r.ok for r in copy.upgrade), engine=engine
            )
        if variant.name == self.scenario.baseline.name:
            self.baseline_restored.set()
        if self.cancelled.is_set():
            raise Interrupted("stopped before the checks")
        copy.stage = "checks"
        t_checks = self.clock()
        # The declarative checks first; then the tests (their process has started up
        # meanwhile); then the baseline's second observation, which must come more than a
        # second after the first: the tests fill that time.
        prober = probe[0].result() if probe else None
        declarative = bool(probes.all_checks(self.scenario))
        first = probes.run_all(engine, self.scenario, containers, prober) if declarative else []
        first_done = self.clock()
        recorded = []
        if checking is not None:
            checking.go()
            results, output = checking.finish(self.scenario.timeouts.checks, self.cancelled)
            (self.run_dir / "checks" / variant.name / "pytest.log").write_text(output, encoding="utf-8")
            copy.checks += results
            recorded = checks.recorded(self.run_dir / "checks" / variant.name)
        copy.observations = [recorded + first]
        if declarative and variant.name == self.scenario.baseline.name and self.scenario.checks.noise.second_run:
            # Second-resolution timestamps in the answers must vary between the baseline's
            # two observations as they would between baseline and candidate.
            if self.cancelled.wait(max(0.0, first_done + SECOND_PASS_GAP - self.clock())):
                raise Interrupted("stopped while observing the baseline")
            copy.observations.append(probes.run_all(engine, self.scenario, containers, prober))
        described.result()
        copy.seconds["checks"] = round(self.clock() - t_checks, 3)
        self.slowest("checks", copy.seconds["checks"])
        outcomes = copy.outcomes()
        passed = sum(1 for r in outcomes if r.outcome.value == "passed")
        self.log(f"{variant.name}: checks done, {passed}/{len(outcomes)} passed ({copy.seconds['checks']:.1f} s)")
        if variant.name == self.scenario.baseline.name:
            self.baseline_checked.set()
        elif migrating and self.scenario.upgrade.rollback:
            copy.stage = "rollback"
            self.roll_back(variant, copy, containers)
        copy.stage = "done"

    def wait_for(self, event: threading.Event, what: str) -> None:
        while not event.wait(0.1):
            if self.cancelled.is_set():
                raise Interrupted(f"stopped while waiting for {what}")

    def sides(self, containers: dict[str, str]) -> dict[str, dict[str, str]]:
        baseline = self.copies[self.scenario.baseline.name]
        return {"baseline": {s: i.container for s, i in baseline.services.items()}, "candidate": containers}

    def rehearse(self, variant: Variant, copy: CopyResult, containers: dict[str, str]) -> None:
        """Bring the candidate its data the way production would move: the upgrade steps,
        from the restored baseline, timed; their total is the downtime estimate."""
        copy.stage = "upgrade"
        self.wait_for(self.baseline_restored, "the baseline's restore")
        baseline = self.copies[self.scenario.baseline.name]
        if not baseline.ready or compare.restore_failures(baseline) or not baseline.restores:
            copy.upgrade = [
                rehearse.skipped(s, "the baseline holds no restored data to upgrade from")
                for s in self.scenario.upgrade.steps
            ]
        else:
            copy.upgrade = rehearse.run_steps(
                self.engines_of(variant), self.scenario.upgrade.steps, self.sides(containers)
            )
        self.stepped(variant, copy, "upgrade", copy.upgrade, "downtime")

    def stepped(self, variant: Variant, copy: CopyResult, kind: str, records: list[StepRecord], timed: str) -> None:
        """Say and keep what the steps of an upgrade or a rollback did; their total time."""
        for record in records:
            self.log(f"{variant.name}: {kind} step '{record.name}': {record.message} ({record.seconds:.1f} s)")
        copy.seconds[timed] = round(sum(r.seconds for r in records), 3)
        copy.checks += rehearse.as_checks(records, kind)

    def roll_back(self, variant: Variant, copy: CopyResult, containers: dict[str, str]) -> None:
        """The way back, rehearsed after the checks; verified where the data went back to."""
        self.wait_for(self.baseline_checked, "the baseline's checks")  # rollback may write into the baseline
        copy.rollback = rehearse.run_steps(
            self.engines_of(variant), self.scenario.upgrade.rollback, self.sides(containers)
        )
        self.stepped(variant, copy, "rollback", copy.rollback, "rollback")
        last = self.scenario.upgrade.rollback[-1]
        side = last.into.side if last.into else last.side
        if all(r.ok for r in copy.rollback):
            for check in self.verified(self.sides(containers)[side], self.engines_of(variant)[side]):
                copy.checks.append(check.model_copy(update={"id": f"rollback:{side} {check.id}"}))

    def engines_of(self, variant: Variant) -> dict[str, EngineLike]:
        """The engine of each side of an upgrade step: the baseline's and this copy's."""
        return {"baseline": self.placement[self.scenario.baseline.name], "candidate": self.placement[variant.name]}

    def verified(self, containers: dict[str, str], engine: EngineLike) -> list[CheckResult]:
        shells = ShellPool(engine)
        try:
            return restore.verify(shells, containers, list(self.scenario.verify), self.scenario.folder)
        finally:
            shells.close()

    def restore_and_verify(
        self, variant: Variant, copy: CopyResult, containers: dict[str, str], verify: bool, engine: EngineLike
    ) -> None:
        """Record the restores done while staging, then check that the data is complete."""
        copy.stage = "restore"
        t0 = self.clock()
        copy.checks = [restore.as_check(r) for r in copy.restores] + copy.checks
        if verify:
            copy.checks += self.verified(containers, engine)
        copy.seconds["restore"] = round(self.clock() - t0 + sum(r.seconds for r in copy.restores), 3)
        self.slowest("restore", copy.seconds["restore"])
        failed = [c for c in copy.checks if c.id.startswith(compare.RESTORE_CHECKS) and c.outcome.value != "passed"]
        state = "verified" if not failed else f"FAILED: {failed[0].id}: {failed[0].message}"
        self.log(f"{variant.name}: restore {state} ({copy.seconds['restore']:.1f} s)")

    def restored(self, variant: Variant, record: RestoreRecord) -> RestoreRecord:
        state = "restored" if record.ok else "FAILED to restore"
        self.log(f"{variant.name}: {state} {record.file} into {record.service} ({record.seconds:.1f} s)")
        return record

    def start_probe(self, variant: Variant, names: CopyNames, refs: dict[tuple[str, str], str]) -> str:
        """The HTTP probe's container on the copy's network; returns its name."""
        probe = names.container(PROBE)
        self.placement[variant.name].start(
            ContainerSpec(
                name=probe,
                image=refs[(variant.name, PROBE)],
                network=names.network,
                aliases=(PROBE,),
                labels=labels(self.run_id, self.scenario.name, variant.name, PROBE),
            )
        )
        return probe

    def describe(self, engine: EngineLike, copy: CopyResult) -> Future[None]:
        """Image ids, OS and package versions of the copy's services, found in a thread."""

        def work() -> None:
            for info in copy.services.values():
                info.image_id = engine.image_summary(info.image)["id"]
                info.os, info.packages = inventory.describe(engine, info.container)

        return self.background.submit(work)

    def judge(self) -> None:
        if self.result.baseline_reused_from:  # recorded redacted: compare like with like
            self.copies = {
                n: CopyResult.model_validate_json(self.redact(c.model_dump_json())) for n, c in self.copies.items()
            }
        baseline = self.copies[self.scenario.baseline.name]
        if not baseline.ready:
            raise LabError(f"the baseline did not start, so nothing can be compared:\n{baseline.error}")
        useless = compare.baseline_evidence(baseline)
        if useless:
            raise LabError(f"{useless} (see {self.run_dir / 'checks' / baseline.variant / 'pytest.log'})")
        twin = self.copies.get(TWIN)
        rules = {
            check_id: compare.ProbeRule(
                Rules.of(check.ignore, self.scenario.checks.ignore, ordered=getattr(check, "ordered", True)),
                check.compare,
            )
            for check_id, check in probes.all_checks(self.scenario)
        }
        self.result.candidates = [
            compare.judge(baseline, self.copies[c.name], twin, rules, self.scenario.checks.slowdown)
            for c in self.scenario.candidates
        ]
        self.result.verdict, self.result.exit_code, self.result.reason = compare.overall(self.result.candidates)

    def wrap_up(self, interrupted: bool) -> None:
        """Keep the logs, tear down (or keep), write the run folder — each step even if
        the one before failed; a step that fails becomes a warning in the results."""
        keep = self.keep and not interrupted
        steps: list[tuple[str, Callable[[], None]]] = [
            ("logs", self.save_logs),
            ("keep", self.keep_copies) if keep else ("teardown", self.teardown),
        ]
        for name, step in steps:
            try:
                self.timed(name, step)
            except Exception as err:  # noqa: BLE001 — the next step must run regardless
                self.result.warnings.append(f"{name} incomplete: {err}")
                self.log(f"warning: {name} incomplete: {err}")
        try:
            self.hash_backups("after")
        except LabError as err:
            self.result.warnings.append(str(err))
        if not keep and self.result.warnings:
            self.result.warnings.append("run `invoke gc` to remove what this run may have left in the engine")
        self.result.copies = list(self.copies.values())
        self.result.incomplete = self.result.stage != "done"
        self.result.finished_at = _now()
        self.result.stages["total"] = round(self.clock() - self.t0, 3)
        self.write()

    def hash_backups(self, when: str) -> None:
        """SHA-256 of every backup file before and after the pilot: proof they are untouched."""
        paths = {path: spec.file for _, spec, path in self.scenario.backups}
        if when == "before":
            self.result.backups = [
                BackupFile(file=file, size=path.stat().st_size, sha256_before=approval.sha256(path))
                for path, file in paths.items()
            ]
            return
        for record, path in zip(self.result.backups, paths, strict=True):
            record.sha256_after = approval.sha256(path) if path.is_file() else "(missing)"
            if record.sha256_after != record.sha256_before:
                raise LabError(
                    f"the client's backup file {record.file} changed during the pilot:"
                    f" SHA-256 {record.sha256_before} before, {record.sha256_after} after"
                )

    def keep_copies(self) -> None:
        until = time.time() + self.keep_for
        for engine in self.engines:
            engine.mark_kept(self.run_id, until)
        self.hint_kept(until)

    def save_logs(self) -> None:
        """Every container's log, capped: the last LOG_LINES lines and LOG_BYTES bytes, with a
        first line that says so when a log was cut."""
        for copy in self.copies.values():
            folder = self.run_dir / "logs" / copy.variant
            for service, info in copy.services.items():
                try:
                    text = self.placement[copy.variant].logs(info.container, tail=LOG_LINES + 1)
                except LabError:
                    continue  # never created (the copy stopped before this service)
                lines = text.splitlines(keepends=True)
                kept = "".join(lines[-LOG_LINES:])[-LOG_BYTES:]
                if len(lines) > LOG_LINES or len(kept) < len("".join(lines[-LOG_LINES:])):
                    kept = f"[lab: log cut — only its last {len(kept.splitlines())} lines are kept]\n" + kept
                    self.result.warnings.append(f"the log of {service} ({copy.variant}) was cut to its last lines")
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{service}.log").write_text(kept, encoding="utf-8")

    def teardown(self) -> None:
        """Remove the run from every engine, each even if another fails."""
        failures = []
        for engine in self.engines:
            try:
                gone = engine.remove_run(self.run_id)
                where = f" on {fleet.shown(engine.url)}" if len(self.engines) > 1 else ""
                self.log(f"teardown: removed {gone}{where}")
            except LabError as err:
                failures.append(f"{fleet.shown(engine.url)}: {err}")
        if failures:
            raise LabError("; ".join(failures))

    def write(self) -> None:
        """results.json and the reports, from results with every secret value redacted;
        then every other file of the run (logs, pytest's output) redacted in place."""
        self.result = PilotResult.model_validate_json(self.redact(self.result.model_dump_json()))
        self.result.write(self.run_dir)  # first: the evidence exists even if rendering fails
        for path in self.run_dir.rglob("*"):  # logs and pytest's output, before the reports quote them
            if path.is_file():
                self.redact.file(path)
        waived = approval.waivers_for(self.run_dir.parent, exclude=self.run_id)
        try:
            self.result.since_approved = history.since_approved(self.run_dir.parent.parent, self.result)
        except sqlite3.Error as err:
            self.result.warnings.append(f"the history index could not be read: {err}")
        try:
            self.result.warnings += report.render_all(self.result, self.run_dir, self.templates, waived)
        finally:
            self.result.peak_memory_mb = {
                "lab": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "largest child": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
            }
            for signum in self.late_signals:
                name = signal.Signals(signum).name
                self.result.warnings.append(
                    f"interrupted ({name}) while the run folder was written; it was finished first"
                )
            self.result.write(self.run_dir)

    # helpers --------------------------------------------------------------------------
    def fail(self, err: LabError) -> None:
        self.result.verdict = Verdict.ERROR
        self.result.exit_code = err.exit_code
        self.result.error = str(err)
        if isinstance(err, EngineUnavailable):
            self.result.error += (
                f"\nThe results so far are kept in {self.run_dir} (incomplete). Once the engine is back,"
                " `invoke gc` removes what this run left in it."
            )
        self.result.reason = "the pilot could not run: " + str(err).splitlines()[0]
        self.log(f"error: {err}")

    def timed(self, stage: str, fn: Callable[[], T]) -> T:
        start = self.clock()
        try:
            return fn()
        finally:
            self.result.stages[stage] = round(self.clock() - start, 3)

    def slowest(self, stage: str, seconds: float) -> None:
        """Copies overlap, so a stage takes as long as its slowest copy."""
        with self.lock:
            self.result.stages[stage] = max(self.result.stages.get(stage, 0.0), seconds)

    def hint_kept(self, until: float) -> None:
        ends = datetime.fromtimestamp(until, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        lines = [f"kept: the copies of run {self.run_id} are up; `invoke gc` spares them until {ends}. To look inside:"]
        for copy in self.copies.values():
            for service, info in copy.services.items():
                lines.append(f"  docker exec -it {info.container} sh     # {copy.variant} / {service}")
        lines.append(f"remove them with: invoke down {self.run_id}")
        self.say(self.redact("\n".join(lines)))

    def status_line(self) -> str:
        """What the pilot is doing now, in one line (the terminal's progress display)."""
        stage = "tearing down and writing the run folder" if self.wrapping else self.result.stage or "starting"
        busy = " · ".join(f"{c.variant}: {c.stage or 'waiting'}" for c in self.copies.values())
        return f"[{self.clock() - self.t0:6.1f}s] {stage}" + (f" — {busy}" if stage == "copies" else "")

    def log(self, message: str) -> None:
        self.say(self.redact(f"[{self.clock() - self.t0:6.1f}s] {message}"))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
