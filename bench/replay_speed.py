"""Replay speed: reading client logs (100,000 lines: time and peak memory, which must not
grow with the file), and 1,000 distinct entries of each kind replayed into a staged copy of
the webshop against the same requests sent by a hand-written batch in its containers.

    python bench/replay_speed.py [--runs 3] [--entries 1000] [--lines 100000]

Targets: reading 100,000 lines < 2 s with flat memory; ≤ 5 ms of the lab's own time per
replayed entry; a replay within 1.5× of the hand-written batch (one curl with every URL on a
kept-alive connection, one psql with every statement, one redis-cli reading every command).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import replay, scenario
from lab.cancel import Token
from lab.engine.client import Engine
from lab.pipeline import pilot
from lab.pipeline.context import PROBE, Options
from lab.pipeline.stage import CopyNames
from lab.scenario.model import ReplayLog

PREFIX = "2026-12-03 14:05:01.123 UTC [{pid}] shop@shop LOG:  statement: "
ACCESS = '10.0.0.{n} - - [03/Dec/2026:14:05:01 +0000] "GET {path} HTTP/1.1" 200 34 "-" "bench"'
MONITOR = '1796351272.{n:06d} [0 10.0.0.9:4000] "GET" "{key}"'


def word(n: int) -> str:
    """A name without digits, so that each is its own distinct entry: 0 → 'a', 27 → 'bb'."""
    out = ""
    while True:
        out = chr(97 + n % 26) + out
        n = n // 26 - 1
        if n < 0:
            return out


def logs(folder: Path, lines: int, distinct: int) -> dict[str, Path]:
    """A PostgreSQL log, an access log and a MONITOR capture: `lines` entries each, of
    `distinct` shapes, every one with its own literals."""
    paths = {"sql": folder / "postgresql.log", "http": folder / "access.log", "redis": folder / "monitor.txt"}
    with paths["sql"].open("w") as sql, paths["http"].open("w") as http, paths["redis"].open("w") as redis:
        for n in range(lines):
            name = word(n % distinct)
            sql.write(PREFIX.format(pid=100 + n) + f"SELECT {n} AS c_{name} -- {n}\n")  # a session each
            http.write(ACCESS.format(n=n % 250, path=f"/static/shop.css?q_{name}={n}") + "\n")
            redis.write(MONITOR.format(n=n % 999999, key=f"k:{name}") + "\n")
    return paths


def specs(paths: dict[str, Path]) -> dict[str, ReplayLog]:
    return {
        "sql": ReplayLog(file=paths["sql"].name, service="db", repeat=1),
        "http": ReplayLog(file=paths["http"].name, to="proxy:80", repeat=1),
        "redis": ReplayLog(file=paths["redis"].name, service="cache", repeat=1),
    }


def reading(lines: int) -> None:
    """Time to read each log (untraced), and the peak memory while reading it (traced:
    tracemalloc slows the reading), for a tenth of the lines and for all of them."""
    with tempfile.TemporaryDirectory() as tmp:
        peaks: dict[str, float] = {}
        for count in (lines // 10, lines):
            paths = logs(Path(tmp), count, 500)
            for kind, spec in specs(paths).items():
                start = time.perf_counter()
                found = replay.read(spec, paths[kind], paths[kind].name)
                seconds = time.perf_counter() - start
                tracemalloc.start()
                replay.read(spec, paths[kind], paths[kind].name)
                peak = tracemalloc.get_traced_memory()[1] / 1e6
                tracemalloc.stop()
                before = f" ({peaks[kind]:.1f} MB for {lines // 10:,})" if kind in peaks else ""
                peaks[kind] = peak
                print(
                    f"read {count:>7,} {kind:5} lines: {seconds:5.2f} s ({count / seconds:>9,.0f} lines/s),"
                    f" peak memory {peak:4.1f} MB{before}, {found.coverage.distinct} distinct"
                )


def batch(kind: str, containers: dict[str, str], traffic: replay.Traffic) -> list[str]:
    """The hand-written batch of the same requests: argv of one `docker exec` with its input."""
    if kind == "sql":
        return ["docker", "exec", "-i", containers["db"], "psql", "-q", "-U", "shop", "-d", "shop", "-o", "/dev/null"]
    if kind == "http":
        return ["docker", "exec", "-i", containers["proxy"], "curl", "-s", "-K", "-"]
    return ["docker", "exec", "-i", containers["cache"], "redis-cli"]


def batch_input(kind: str, traffic: replay.Traffic, sessions: bool = False) -> bytes:
    """The batch's input; with `sessions`, a new connection wherever the log's session changes."""
    steps = traffic.checks
    if kind == "sql":
        out, session = [], None
        for s in steps:
            if sessions and s.entry.session != session:
                out.append('\\connect "dbname=shop user=shop"\n')
                session = s.entry.session
            out.append(s.entry.request["statement"] + ";\n")
        return "".join(out).encode()
    if kind == "http":
        return "".join(
            f'url = "http://127.0.0.1{s.entry.request["url"]}"\noutput = /dev/null\n' for s in steps
        ).encode()
    return "".join(" ".join(s.entry.request["args"]) + "\n" for s in steps).encode()


def replaying(runs: int, distinct: int) -> None:
    engine = Engine.connect()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "replay-speed")
        folder.mkdir()
        text = (ROOT / "scenarios/webshop-replay/scenario.yml").read_text()
        text = text.replace("../webshop/", str(ROOT / "scenarios/webshop") + "/")
        text = (
            text[: text.index("replay:\n")]
            + "replay:\n  - {file: "
            + str(ROOT / "scenarios/webshop/traffic/redis-monitor.txt")
            + ", service: cache}\n"
        )
        (folder / "scenario.yml").write_text(text)
        loaded = scenario.load(str(folder))
        ctx = pilot.prepare(engine, loaded, Path(tmp, "out"), Options(keep=True), say=lambda m: None)
        pilot.run(ctx)
        try:
            names = CopyNames(ctx.run_id, "baseline")
            containers = {s: names.container(s) for s in loaded.baseline.services}
            probe = names.container(PROBE)
            paths = logs(Path(tmp), distinct, distinct)
            subprocess.run(
                [
                    "docker",
                    "exec",
                    containers["db"],
                    "psql",
                    "-q",
                    "-U",
                    "postgres",
                    "-d",
                    "shop",
                    "-c",
                    "CREATE ROLE shop LOGIN",
                ],
                check=True,
                capture_output=True,
            )
            timings: dict[str, dict[str, list[float]]] = {}
            for _ in range(runs):
                for kind, spec in specs(paths).items():
                    traffic = replay.read(spec, paths[kind], paths[kind].name)
                    start = time.perf_counter()
                    answers = replay.replay(engine, [traffic], containers, probe, Token())
                    lab = time.perf_counter() - start
                    failed = [a for a in answers if a.outcome.value != "passed"]
                    assert not failed, failed[:3]
                    timings.setdefault(kind, {"lab": []})["lab"].append(lab)
                    hands = {"by hand": batch_input(kind, traffic)}
                    if kind == "sql":
                        hands["by hand, a session each"] = batch_input(kind, traffic, sessions=True)
                    for name, given in hands.items():
                        start = time.perf_counter()
                        subprocess.run(batch(kind, containers, traffic), input=given, check=True, capture_output=True)
                        timings[kind].setdefault(name, []).append(time.perf_counter() - start)
            for kind, t in timings.items():
                labs = t.pop("lab")
                lab = statistics.median(labs)
                for name, seconds in t.items():
                    hand = statistics.median(seconds)
                    ratios = [a / b for a, b in zip(labs, seconds, strict=True)]
                    print(
                        f"replay {distinct} distinct {kind:5}: lab {lab:5.2f} s, {name} {hand:5.2f} s —"
                        f" {lab / hand:4.2f}× ({min(ratios):.2f}–{max(ratios):.2f}× over the rounds),"
                        f" {(lab - hand) / distinct * 1000:+5.2f} ms per entry beyond it"
                    )
        finally:
            engine.remove_run(ctx.run_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    reading(args.lines)
    replaying(args.runs, args.entries)


if __name__ == "__main__":
    main()
