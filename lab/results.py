"""The results of a pilot as plain data, and their JSON form (results.json).

Every stage adds to these models; the report, the summary and the exit code are computed
from them alone, so `results.json` is enough to re-render a report without Docker.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

SCHEMA_VERSION = 2  # 2: every check and observation has a kind


class Outcome(str, Enum):
    """How one check ended on one copy."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # the check could not run (fixture, collection, timeout)
    SKIPPED = "skipped"
    NOT_RUN = "not-run"  # the copy never got to run it


class Kind(str, Enum):
    """What a check is: where it came from and how the comparison treats it."""

    TEST = "test"  # a test of the scenario's pytest + testinfra files (or their process)
    SQL = "sql"
    HTTP = "http"
    COMMAND = "command"
    RECORDED = "recorded"  # a value a test kept with the `record` fixture
    RESTORE = "restore"  # the client's backup loaded into a service
    VERIFY = "verify"  # a property of a good restore
    UPGRADE = "upgrade"  # a step of the rehearsed upgrade (candidates only)
    ROLLBACK = "rollback"  # a step of the rehearsed rollback, or a verification after it
    REPLAY = "replay"  # a distinct request, statement or command of the client's recorded traffic
    DISCOVERED = "discovered"  # a probe of the lab's own: an inventory, the app's code, a database object
    CONFIG = "config"  # one of the client's configuration files: taken or refused by its service

    @property
    def of_the_backup(self) -> bool:
        """Restores and their verifications: what says whether the client's backup is usable."""
        return self in (Kind.RESTORE, Kind.VERIFY)

    @property
    def of_the_data(self) -> bool:
        """Restores, verifications and the rehearsal: they judge the data, not the stack."""
        return self in DATA_KINDS

    @property
    def one_sided(self) -> bool:
        """Run for the candidates only (the rehearsal)."""
        return self in (Kind.UPGRADE, Kind.ROLLBACK)


DATA_KINDS = frozenset({Kind.RESTORE, Kind.VERIFY, Kind.UPGRADE, Kind.ROLLBACK})
DECLARATIVE = (Kind.SQL, Kind.HTTP, Kind.COMMAND, Kind.REPLAY, Kind.DISCOVERED)


def _schema_1(data: Any, default: Kind) -> Any:
    """results.json of schema 1 had no kind: it was the prefix of the id ("verify:rows")."""
    if isinstance(data, dict) and "kind" not in data and isinstance(data.get("id"), str):
        prefix = data["id"].split(":", 1)[0]
        data = {**data, "kind": prefix if prefix in {k.value for k in Kind} else default.value}
    return data


class Status(str, Enum):
    """How one check compares between the baseline and a candidate."""

    PASSED = "passed"  # passes on both
    REGRESSION = "regression"  # passes on baseline, fails on candidate
    FIXED = "fixed"  # fails on baseline, passes on candidate
    FAILING = "failing"  # fails on both, the same way: pre-existing, not caused by the upgrade
    CHANGED_FAILURE = "changed-failure"  # fails on both, but differently: the failure changed
    ERROR = "error"  # could not be compared: a check error, or ran on one side only
    SKIPPED = "skipped"


class Triage(str, Enum):
    """How much a changed answer matters (lab.compare.triage says which rule decided)."""

    BREAKING = "breaking"
    UNKNOWN = "unknown"
    HARMLESS = "harmless"


class Verdict(str, Enum):
    PASS = "PASS"
    REVIEW = "REVIEW"  # outputs changed or got slower: a person decides
    FAIL = "FAIL"  # regressions
    ERROR = "ERROR"  # the pilot could not run


class CheckResult(BaseModel):
    id: str
    outcome: Outcome
    kind: Kind = Kind.TEST
    seconds: float = 0.0
    message: str = ""
    detail: str = ""

    @model_validator(mode="before")
    @classmethod
    def _read_schema_1(cls, data: Any) -> Any:
        return _schema_1(data, Kind.TEST)


class Observation(BaseModel):
    """What one declarative check (sql, http, command) answered on one copy."""

    id: str  # "sql:<name>", "http:<name>", "command:<name>", or a recorded value's
    service: str
    outcome: Outcome
    kind: Kind = Kind.RECORDED

    @model_validator(mode="before")
    @classmethod
    def _read_schema_1(cls, data: Any) -> Any:
        return _schema_1(data, Kind.RECORDED)

    message: str = ""
    output: dict[str, Any] = {}  # normalised: what is compared between copies
    seconds: list[float] = []  # one per repeat
    source: str = ""  # where a replayed entry is in the client's log: "traffic/access.log:17"
    # An inventory's items that the client's code or config names, with where: item -> "file:line"
    # (on the baseline; None for what is not an inventory).
    mentions: dict[str, str] | None = None
    detail: str = ""  # evidence of a failure beyond its message (a traceback), shown with it

    def as_check(self) -> CheckResult:
        """The pass/fail side of the observation, compared like a test's outcome."""
        return CheckResult(
            id=self.id,
            kind=self.kind,
            outcome=self.outcome,
            seconds=sum(self.seconds),
            message=self.message,
            detail=self.detail,
        )


class RestoreRecord(BaseModel):
    """One backup artefact restored into one service of one copy."""

    service: str
    file: str
    format: str
    seconds: float
    ok: bool
    message: str = ""
    output: str = ""  # the restore command's last lines (its error output when it failed)


class StepRecord(BaseModel):
    """One step of the rehearsed upgrade (or rollback)."""

    name: str
    side: str
    service: str
    ok: bool
    skipped: bool = False
    seconds: float = 0.0
    message: str = ""
    output: str = ""
    bytes_moved: int = 0


class BackupFile(BaseModel):
    """A client's backup file, hashed before the pilot and after it: never modified."""

    file: str
    size: int
    sha256_before: str
    sha256_after: str = ""


class TrafficLog(BackupFile):
    """A log of the client's traffic (only read, hashed like a backup) and what became of
    its entries: the coverage section of the report."""

    format: str
    read: int = 0  # entries read
    malformed: int = 0
    malformed_first: list[str] = []  # "file:line: why" of the first few
    distinct: int = 0  # distinct entries, each a check
    skipped: dict[str, int] = {}  # why -> how many entries were not replayed

    def bad(self, line: int, why: str, shown: int = 5) -> None:
        self.malformed += 1
        if len(self.malformed_first) < shown:
            self.malformed_first.append(f"{self.file}:{line}: {why}")


class ServiceInfo(BaseModel):
    container: str
    image: str
    image_id: str = ""
    os: str = ""  # PRETTY_NAME of /etc/os-release
    packages: dict[str, str] = {}  # the image's own packages (not the base system's) and versions


class CopyResult(BaseModel):
    """One staged copy: the baseline or a candidate."""

    variant: str
    role: str
    description: str = ""
    ready: bool = False
    error: str = ""  # why the copy did not start or its checks did not run
    not_checked: str = ""  # why the checks were not run on a copy that started (its data did not restore)
    stage: str = ""  # what the copy was doing last: start, restore, upgrade, checks, rollback, done
    engine: str = ""  # the Docker engine the copy ran on
    began: float = 0.0  # seconds after the pilot's start when this copy's staging began
    ended: float = 0.0  # ... and when its checks (and rollback) ended
    services: dict[str, ServiceInfo] = {}
    seconds: dict[str, float] = {}  # start_ready, checks
    checks: list[CheckResult] = []
    observations: list[list[Observation]] = []  # one list per pass (the baseline runs twice)
    restores: list[RestoreRecord] = []
    discovered: dict[str, list[str]] = {}  # service -> what discovery probed there, or why not (lab.discover)
    configs: dict[str, list[str]] = {}  # service -> where the client's configuration files went
    refused: dict[str, dict[str, str]] = {}  # service -> configuration file it refused -> the server's words

    @property
    def first_pass(self) -> list[Observation]:
        """The declarative checks' answers of the first observation of this copy."""
        return self.observations[0] if self.observations else []

    def outcomes(self) -> list[CheckResult]:
        """Every check of this copy, tests and declarative checks alike, as outcomes."""
        return self.checks + [o.as_check() for o in self.first_pass]

    upgrade: list[StepRecord] = []  # the rehearsed upgrade that brought this candidate its data
    rollback: list[StepRecord] = []


class Comparison(BaseModel):
    id: str
    status: Status
    baseline: Outcome
    candidate: Outcome
    message: str = ""  # the candidate's failure (or the baseline's, when only it fails)
    detail: str = ""
    baseline_message: str = ""  # the baseline's failure, when the candidate fails differently


class OutputComparison(BaseModel):
    """A declarative check's output and timing on a candidate, against the baseline's."""

    id: str
    changed: bool = False
    diff: str = ""  # unified diff, baseline → candidate, noise taken out
    noise: list[str] = []  # what was treated as noise
    unstable: list[str] = []  # places that share nothing between two observations of the baseline
    triage: Triage | None = None  # for a changed answer: breaking, unknown or harmless
    why: str = ""  # the rule that decided the triage, in words
    error_appeared: bool = False  # an error appeared in the answer: a regression, whatever the exit code said
    slower: bool = False
    timing: str = ""  # "median 12.0 ms → 28.0 ms (2.3×)"


class CandidateVerdict(BaseModel):
    candidate: str
    verdict: Verdict
    reason: str
    backup_unusable: bool = False  # the client's backup does not restore on the baseline: nothing to judge
    counts: dict[str, int]
    comparisons: list[Comparison]
    outputs: list[OutputComparison] = []


class ImageRecord(BaseModel):
    ref: str
    image_id: str
    built: bool
    seconds: float


class SinceApproved(BaseModel):
    """What changed since the last approved run of the same scenario."""

    run_id: str
    decision: str
    by: str
    at: str
    new: list[str] = []  # check ids with a finding now that the approved run did not have
    gone: list[str] = []  # ... and the other way round
    slower: list[str] = []  # "checks: 4.0 s → 9.1 s"
    faster: list[str] = []


class PlannedActual(BaseModel):
    """A pilot measured against the approved plan it ran under (in results.json)."""

    plan_id: str
    approved_by: str
    approved_at: str
    record: str  # the approval record's SHA-256
    low: float
    high: float
    seconds: float = 0.0  # the pilot's real wall time
    copies_planned: list[str] = []
    copies_run: list[str] = []
    checks_planned: dict[str, int] = {}
    checks_run: dict[str, int] = {}

    @property
    def well_past(self) -> bool:
        return self.seconds > self.high * WELL_PAST

    def said(self) -> str:
        """The lab time against the estimate, in words."""
        took = f"{self.seconds:.1f} s" if self.seconds < 60 else span(self.seconds, self.seconds)
        within = f"{took} against the estimated {span(self.low, self.high)}"
        if self.seconds > self.high * WELL_PAST:
            return f"{within}: the pilot ran well past the estimate"
        if self.seconds > self.high:
            return f"{within}: a little over the estimate"
        if self.seconds < self.low:
            return f"{within}: faster than estimated"
        return f"{within}: within the estimate"


def span(low: float, high: float) -> str:
    """A range of seconds in the unit a person reads.

    >>> span(40, 95), span(300, 1500), span(4000, 9000), span(0.1, 0.1)
    ('40 s to 1.6 min', '5 to 25 min', '1.1 to 2.5 h', '0 s')
    """

    def one(seconds: float, unit: str) -> str:
        if unit == "s":
            return f"{seconds:.0f}"
        value = seconds / (60 if unit == "min" else 3600)
        return f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:.0f}"

    def unit_of(seconds: float) -> str:
        return "s" if seconds < 60 else "min" if seconds < 3600 else "h"

    a, b = unit_of(low), unit_of(high)
    if a == b and one(low, a) == one(high, b):
        return f"{one(high, b)} {b}"
    return f"{one(low, a)} to {one(high, b)} {b}" if a == b else f"{one(low, a)} {a} to {one(high, b)} {b}"


WELL_PAST = 1.25  # a pilot this many times the estimate's upper end ran well past it


class Heading(BaseModel):
    """Who and what a pilot (or its plan) is for: the scenario file's words, and the values given for it."""

    scenario: str
    description: str = ""
    client: str = ""
    consultant: str = ""
    change: str = ""
    overrides: list[str] = []  # values given from outside the scenario file (--set, LAB_SET_*, --matrix, --candidate)


class PilotResult(Heading):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    started_at: str
    finished_at: str = ""
    verdict: Verdict = Verdict.ERROR
    exit_code: int = 2
    reason: str = ""
    error: str = ""  # set when the pilot could not run
    kept: bool = False
    stage: str = ""  # the stage the pilot reached last (where it stopped, if it stopped early)
    incomplete: bool = False  # the pilot stopped before it compared every copy: the results are partial
    warnings: list[str] = []
    stages: dict[str, float] = Field(default_factory=dict)  # seconds per stage, plus total
    images: list[ImageRecord] = []
    backups: list[BackupFile] = []
    traffic: list[TrafficLog] = []  # the client's logs that were replayed
    copies: list[CopyResult] = []
    candidates: list[CandidateVerdict] = []
    since_approved: SinceApproved | None = None  # None: no earlier run of the scenario was approved
    baseline_reused_from: str = ""  # the run whose baseline observations this run reused (--reuse-baseline)
    peak_memory_mb: dict[str, float] = {}  # "lab": the pilot's own process; "largest child": pytest or Chromium
    baseline_key: str = ""  # the digest of what the baseline's observations depend on (images, backup, checks)
    planned: PlannedActual | None = None  # the approved plan the pilot ran under, and how it compared

    def where_stopped(self) -> str:
        """The stage the pilot was in, with each unfinished copy's own stage.

        >>> r = PilotResult(run_id="r", scenario="s", started_at="", stage="copies")
        >>> r.copies = [CopyResult(variant="baseline", role="baseline", stage="restore")]
        >>> r.where_stopped()
        'copies (baseline: restore)'
        """
        busy = [f"{c.variant}: {c.stage}" for c in self.copies if c.stage and c.stage != "done"]
        return f"{self.stage} ({', '.join(busy)})" if busy and self.stage == "copies" else self.stage

    def write(self, run_dir: Path) -> Path:
        path = run_dir / "results.json"
        path.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        return path

    @classmethod
    def read(cls, run_dir: Path) -> PilotResult:
        return cls.model_validate_json((run_dir / "results.json").read_text(encoding="utf-8"))
