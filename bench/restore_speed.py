"""Restore speed: a ~50 MB PostgreSQL dump streamed into one copy, then into two copies in
parallel. The dump is streamed, not held in memory, so two restores in parallel should
take well under twice the time of one (the machine's cores permitting).

    python bench/restore_speed.py [--mb 50]

Prints both times, their ratio and the lab's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import scenario
from lab.cancel import Token
from lab.engine import images
from lab.engine.client import Engine
from lab.engine.types import labels
from lab.pipeline import restore
from lab.pipeline.pilot import new_run_id
from lab.pipeline.stage import CopyNames, container_spec, wait_ready
from lab.scenario.model import Backup


def make_dump(path: Path, megabytes: int) -> None:
    """A plain pg_dump-style file: one table loaded with COPY."""
    with path.open("w", encoding="utf-8") as out:
        out.write(
            "CREATE TABLE events (id bigint, at text, payload text);\nCOPY events (id, at, payload) FROM stdin;\n"
        )
        row, size = 0, 0
        while size < megabytes * 1_000_000:
            line = f"{row}\t2026-11-23 12:{row % 60:02d}:00\t{'x' * 80} {row * 7919 % 100000}\n"
            out.write(line)
            size += len(line)
            row += 1
        out.write("\\.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50)
    args = parser.parse_args()
    engine = Engine.connect()
    loaded = scenario.load(str(ROOT / "tests/scenarios/restore"))
    refs, _ = images.ensure(
        {v.name: engine for v in loaded.variants}, loaded, images.plan(loaded), time.monotonic, Token()
    )
    image = refs[("baseline", "db")]
    run_id = new_run_id()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            dump = Path(tmp, "events.sql")
            make_dump(dump, args.mb)
            containers = []
            for n in range(3):
                names = CopyNames(run_id, f"copy{n}")
                engine.create_network(names.network, labels(run_id, "bench", names.variant))
                spec = container_spec(names, "bench", names.variant, "db", loaded.baseline.services["db"], image)
                engine.start(spec)
                containers.append(spec.name)
            wait_ready(engine, {c: c for c in containers}, "bench", time.monotonic() + 120, 120, threading.Event())

            def one(container: str, database: str) -> float:
                item = restore.Artefact("db", Backup(file="events.sql", format="postgresql", database=database), dump)
                record = restore.load(engine, container, item)
                assert record.ok, record.output
                return record.seconds

            cpu = time.process_time()
            single = one(containers[0], "single")
            lab_cpu = time.process_time() - cpu
            with ThreadPoolExecutor(2) as pool:
                start = time.perf_counter()
                list(pool.map(one, containers[1:], ["a", "b"]))
                both = time.perf_counter() - start
    finally:
        engine.remove_run(run_id)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.mb} MB dump: one restore {single:.2f} s; two in parallel {both:.2f} s"
        f" ({both / single:.2f}× one); the lab's own CPU time for one restore {lab_cpu:.2f} s;"
        f" the lab's peak memory {peak:.0f} MB"
    )


if __name__ == "__main__":
    main()
