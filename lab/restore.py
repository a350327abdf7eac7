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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lab import session
from lab.engine import EngineLike
from lab.errors import LabError
from lab.model import Backup, Verify
from lab.probes import Runner, bounded
from lab.results import CheckResult, Outcome, RestoreRecord

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
                engine.put_archive(container, str(where.parent), _tar_of(source, where.name, item.path))
    except (LabError, OSError) as err:
        return _record(item, start, False, f"could not place {item.path.name} at {target}: {err}")
    return _record(item, start, True, f"placed at {target}")


def _tar_of(source: io.BufferedReader, name: str, path: Path) -> Iterator[bytes]:
    """A one-file tar archive, produced while it is sent (the file is not read into memory)."""
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


def load(engine: EngineLike, container: str, item: Artefact, user: str | None = None) -> RestoreRecord:
    """Stream a dump into the running service; the exit code and stderr decide."""
    start = time.perf_counter()
    argv = bounded(load_command(item), item.spec.timeout)
    try:
        stream, exec_id = engine.attach(container, argv, user)
        with item.path.open("rb") as source:
            out, err = session.pipe(stream, source, item.spec.timeout + 5)
        stream.close()
        code = engine.exit_code(exec_id)
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
        seconds=record.seconds,
        outcome=Outcome.PASSED if record.ok else Outcome.FAILED,
        message="" if record.ok else record.message,
        detail=record.output,
    )


def verify(run: Runner, containers: dict[str, str], checks: list[Verify], folder: Path) -> list[CheckResult]:
    """Check every declared property of a good restore in one copy."""
    return [_verify_one(run, containers[check.service], check, folder) for check in checks]


def _verify_one(run: Runner, container: str, check: Verify, folder: Path) -> CheckResult:
    check_id = f"verify:{check.name}"
    start = time.perf_counter()
    try:
        if check.manifest is not None:
            manifest = (folder / check.manifest).read_text(encoding="utf-8")
            result = run(
                container,
                bounded(["sh", "-c", 'printf "%s" "$LAB_MANIFEST" | sha256sum -c --quiet -'], check.timeout),
                {"LAB_MANIFEST": manifest},
                check.user,
                check.timeout,
            )
            ok, found = result.exit_code == 0, (result.stdout + result.stderr).strip()
            message = "" if ok else f"files differ from the manifest: {found.splitlines()[0] if found else ''}"
            return _verified(check_id, ok, message, found, start)
        query, expected = _verify_query(check)
        result = run(container, bounded(_query_argv(check, query), check.timeout), None, check.user, check.timeout)
        if result.exit_code != 0:
            said = result.stderr.strip() or result.stdout.strip()
            return _verified(
                check_id, False, f"the verification query failed: {said.splitlines()[-1] if said else ''}", said, start
            )
        answer = result.stdout.strip()
        ok = answer == expected
        message = "" if ok else f"expected {expected!r}, the restored copy answers {answer!r}"
        return _verified(check_id, ok, message, answer, start)
    except (LabError, OSError) as err:
        return CheckResult(id=check_id, outcome=Outcome.ERROR, message=f"could not verify: {err}")


def _verify_query(check: Verify) -> tuple[str, str]:
    if check.row_counts:
        parts = [f"SELECT '{table}', count(*) FROM {table}" for table in check.row_counts]
        expected = "\n".join(
            f"{t}|{n}" if check.dialect != "mysql" else f"{t}\t{n}" for t, n in check.row_counts.items()
        )
        return " UNION ALL ".join(parts), expected
    return str(check.query), str(check.expect).strip()


def _query_argv(check: Verify, query: str) -> list[str]:
    db = check.database or ""
    if check.dialect == "postgresql":
        user = [f"--username={check.user}"] if check.user else []
        return ["psql", "--no-psqlrc", "--no-align", "--tuples-only", *user, f"--dbname={db}", f"--command={query}"]
    if check.dialect == "sqlite":
        return ["sqlite3", db, query]
    return [
        "sh",
        "-c",
        'c=$(command -v mariadb || command -v mysql); exec "$c" --batch --skip-column-names "$@"',
        "sh",
        f"--execute={query}",
        *([db] if db else []),
    ]


def _verified(check_id: str, ok: bool, message: str, detail: str, start: float) -> CheckResult:
    return CheckResult(
        id=check_id,
        outcome=Outcome.PASSED if ok else Outcome.FAILED,
        message=message,
        detail=detail if not ok else "",
        seconds=round(time.perf_counter() - start, 3),
    )
