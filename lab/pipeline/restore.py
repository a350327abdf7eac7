"""The client's backup in the lab: place or load every artefact into every copy, timed,
then verify that the restore is complete. The client's files are only ever read.

- redis-rdb and files are unpacked into the service's container before it starts
  (through the API, from the file as it is: tar, gzip, bzip2, xz).
- postgresql, mysql and sqlite dumps are streamed into the running service's own client
  (psql or pg_restore, mariadb/mysql, sqlite3); gzip is recognised by its content and
  unpacked in the container. Nothing is loaded into the lab's memory.

A restore that fails, and a verification that fails, are findings: their output goes to
the results, never a traceback.
"""

from __future__ import annotations

import io
import shlex
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lab.cancel import Token
from lab.checks.commands import bounded
from lab.compare import verdicts
from lab.engine import session
from lab.engine.types import EngineLike
from lab.errors import LabError, Stopped
from lab.pipeline import verify
from lab.pipeline.context import CopyWork, RunContext
from lab.results import CheckResult, Kind, Outcome, RestoreRecord
from lab.scenario.model import Backup

BEFORE_START = ("redis-rdb", "files")
DEFAULT_PATHS = {"redis-rdb": "/var/lib/redis/dump.rdb", "files": "/"}
OUTPUT_LINES = 30


@dataclass(frozen=True)
class Artefact:
    """A backup file of the scenario, for one service."""

    service: str
    spec: Backup
    path: Path  # absolute

    @property
    def before_start(self) -> bool:
        return self.spec.format in BEFORE_START


def content(path: Path) -> str:
    """ "gzip", "pgdump" (pg_dump's custom format) or "plain", from the first bytes."""
    with path.open("rb") as stream:
        head = stream.read(5)
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head == b"PGDMP":
        return "pgdump"
    return "plain"


def place(engine: EngineLike, container: str, item: Artefact) -> RestoreRecord:
    """Put a file artefact into a created (not yet started) container."""
    start = time.perf_counter()
    target = item.spec.path or DEFAULT_PATHS[item.spec.format]
    try:
        with item.path.open("rb") as source:
            if item.spec.format == "files":
                engine.put_archive(container, target, source)
            else:
                where = PurePosixPath(target)
                engine.put_archive(container, str(where.parent), tar_of(source, where.name, item.path))
    except (LabError, OSError) as err:
        return _record(item, start, False, f"could not place {item.path.name} at {target}: {err}")
    return _record(item, start, True, f"placed at {target}")


def tar_of(source: io.BufferedReader, name: str, path: Path, folders: Sequence[str] = ()) -> Iterator[bytes]:
    """A one-file tar archive, produced while it is sent (the file is not read into memory),
    after the `folders` it creates on its way (`name` is then a path within them)."""
    for folder in folders:
        made = tarfile.TarInfo(folder)
        made.type, made.mode, made.mtime = tarfile.DIRTYPE, 0o755, int(path.stat().st_mtime)
        yield made.tobuf(format=tarfile.GNU_FORMAT)
    info = tarfile.TarInfo(name)
    info.size = path.stat().st_size
    info.mode = 0o644
    info.mtime = int(path.stat().st_mtime)
    yield info.tobuf(format=tarfile.GNU_FORMAT)
    yield from iter(lambda: source.read(1 << 16), b"")
    yield b"\0" * ((512 - info.size % 512) % 512) + b"\0" * 1024


def load_command(item: Artefact) -> list[str]:
    """How the service's own client loads the dump from stdin (gunzip in front when the
    dump is gzipped: a damaged archive fails the restore even if the loader took the part
    it got)."""
    spec = item.spec
    kind = content(item.path)
    db = shlex.quote(spec.database or "")
    if spec.format == "postgresql":
        user = f" --username={shlex.quote(spec.user)}" if spec.user else ""
        create = f"createdb{user} {db} 2>/dev/null; "
        if kind == "pgdump":
            loader = f"pg_restore --no-owner --exit-on-error{user} --dbname={db}"
        else:
            loader = f"psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --output=/dev/null{user} --dbname={db}"
    elif spec.format == "mysql":
        user = f" --user={shlex.quote(spec.user)}" if spec.user else ""
        statement = shlex.quote(f"CREATE DATABASE IF NOT EXISTS `{spec.database}`")
        create = (
            'c=$(command -v mariadb || command -v mysql) || { echo "no mariadb or mysql client" >&2; exit 127; }; '
            f'"$c"{user} --execute={statement} || exit 1; '
        )
        loader = f'"$c"{user} {db}'
    else:  # sqlite
        create, loader = "", f"sqlite3 -bail {db}"
    if kind != "gzip":
        return ["sh", "-c", f"{create}exec {loader}"]
    # POSIX sh has no pipefail: gunzip's status comes back on fd 3.
    return [
        "sh",
        "-c",
        f"{create}exec 4>&1; s=$({{ {{ gunzip -c; echo $? >&3; }} | {loader} >&4; }} 3>&1); l=$?; "
        '[ "$s" = 0 ] || { echo "the dump is damaged: gunzip failed ($s)" >&2; exit 65; }; exit $l',
    ]


def load(engine: EngineLike, container: str, item: Artefact, token: Token, user: str | None = None) -> RestoreRecord:
    """Stream a dump into the running service; the exit code and stderr decide. Returns
    within a second of the token being set (the token's error is raised)."""
    start = time.perf_counter()
    argv = bounded(load_command(item), item.spec.timeout)
    try:
        with item.path.open("rb") as source:
            code, out, err = session.feed(engine, container, argv, source, item.spec.timeout + 5, token, user)
    except Stopped:
        raise
    except TimeoutError:
        return _record(item, start, False, f"the restore did not finish within {item.spec.timeout:g} s")
    except (LabError, OSError) as failure:
        return _record(item, start, False, f"the restore could not run: {failure}")
    said = "\n".join((err.strip() or out.strip()).splitlines()[-OUTPUT_LINES:])
    if code in (124, 137):
        return _record(item, start, False, f"the restore did not finish within {item.spec.timeout:g} s", said)
    if code != 0:
        return _record(item, start, False, f"the restore failed (exit code {code})", said)
    return _record(item, start, True, "loaded", said)


def _record(item: Artefact, start: float, ok: bool, message: str, output: str = "") -> RestoreRecord:
    return RestoreRecord(
        service=item.service,
        file=item.spec.file,
        format=item.spec.format,
        seconds=round(time.perf_counter() - start, 3),
        ok=ok,
        message=message,
        output=output,
    )


def as_check(record: RestoreRecord) -> CheckResult:
    """A restore as a check, so that it is compared and reported like one."""
    return CheckResult(
        id=f"restore:{record.service}:{record.file}",
        kind=Kind.RESTORE,
        seconds=record.seconds,
        outcome=Outcome.PASSED if record.ok else Outcome.FAILED,
        message="" if record.ok else record.message,
        detail=record.output,
    )


# the restore stage of one copy -----------------------------------------------------------
def place_files(ctx: RunContext, work: CopyWork, service: str) -> None:
    """The files of a created, not yet started service's container."""
    for item in _artefacts(work):
        if item.service == service and item.before_start:
            ctx.log(f"{work.variant.name}: placing {item.spec.file} into {service}...")
            work.copy.restores.append(_said(ctx, work, place(work.engine, work.containers[service], item)))


def forget_files(work: CopyWork, service: str) -> None:
    """Forget what was placed into a service's container: it is created again."""
    work.copy.restores = [r for r in work.copy.restores if r.service != service or r.format not in BEFORE_START]


def load_dumps(ctx: RunContext, work: CopyWork, wave: list[str]) -> None:
    """The dumps of a wave of services that are ready, before the services that need them start."""
    for item in _artefacts(work):
        if item.service in wave and not item.before_start:
            ctx.token.check()
            work.copy.stage = "restore"
            ctx.log(f"{work.variant.name}: restoring {item.spec.file} into {item.service}...")
            os_user = work.users.database(item.service, item.spec.format)
            record = load(work.engine, work.containers[item.service], item, ctx.token, os_user)
            work.copy.restores.append(_said(ctx, work, record))


def record(ctx: RunContext, work: CopyWork) -> None:
    """The restores done while staging, as checks; then check that the data is complete
    (not after a failed upgrade: there is nothing to verify)."""
    copy = work.copy
    if not (work.backups or ctx.scenario.verify):
        return
    copy.stage = "restore"
    t0 = ctx.clock()
    copy.checks = [as_check(r) for r in copy.restores] + copy.checks
    if not work.upgrading or all(r.ok for r in copy.upgrade):
        copy.checks += verify.verified(ctx, work.containers, work.engine, work.users)
    copy.seconds["restore"] = round(ctx.clock() - t0 + sum(r.seconds for r in copy.restores), 3)
    ctx.slowest("restore", copy.seconds["restore"])
    failed = verdicts.data_failures(copy)
    state = "verified" if not failed else f"FAILED: {failed[0].id}: {failed[0].message}"
    ctx.log(f"{work.variant.name}: restore {state} ({copy.seconds['restore']:.1f} s)")


def _artefacts(work: CopyWork) -> list[Artefact]:
    return [Artefact(*backup) for backup in work.backups]


def _said(ctx: RunContext, work: CopyWork, record: RestoreRecord) -> RestoreRecord:
    state = "restored" if record.ok else "FAILED to restore"
    ctx.log(f"{work.variant.name}: {state} {record.file} into {record.service} ({record.seconds:.1f} s)")
    return record
