"""`invoke bench`: the pilot against the floor (bench/floor.sh, the same work by hand with
the docker CLI), and at scale — alternating, round by round, so that drift of the machine
cancels out. Prints medians and ratios; writes every figure to a JSON file.

    python bench/suite.py [--runs N] [--json PATH] [--quick]

Kinds (each a fresh process, timed from start to exit, with warm images):
  floor            bench/floor.sh: both copies, readiness, the checks batched, teardown
  pilot            `invoke pilot demo`
  floor 200        the floor with 200 trivial commands more per container
  pilot 200        the demo with 200 trivial command checks more per copy
  pilot 1/2/4      the demo with 1, 2 and 4 candidates (a matrix; the same images)
  molecule         (--molecule) the same work through Molecule: bench/molecule/run.sh
Also the peak memory (RSS) of the lab's own process in each pilot.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

from lab import scenario
from lab.cancel import Token
from lab.engine import images
from lab.engine.client import Engine

CANDIDATE = "candidates.debian13.services.app.environment.LAB_BENCH_RELEASE"
TRIVIAL = "checks.command=[{}]"


def trivial_checks(n: int) -> str:
    """--set value: the demo's command check plus n trivial ones."""
    items = [
        "{name: schema dump used for the nightly backup, service: db, run: pg_dump --schema-only --no-owner invoices,"
        " ignore: {regex: ['^-- Dumped (from database|by pg_dump) version .*$']}}"
    ]
    items += [f"{{name: trivial {i}, service: {'db' if i % 2 else 'app'}, run: 'echo {i}'}}" for i in range(2 * n)]
    return "checks.command=[" + ", ".join(items) + "]"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument("--quick", action="store_true", help="only the floor and the pilot")
    parser.add_argument("--molecule", action="store_true", help="also the same work through Molecule (bench/molecule)")
    args = parser.parse_args()

    demo = scenario.load("demo", ROOT / "scenarios")
    engine = Engine.connect()
    refs, _ = images.ensure({v.name: engine for v in demo.variants}, demo, images.plan(demo), time.monotonic, Token())
    floor_images = [refs[(copy, service)] for copy in ("baseline", "debian13") for service in ("db", "app")]
    with tempfile.TemporaryDirectory() as out:
        pilot = [sys.executable, "-m", "invoke", "pilot", "demo", "--out", out, "--set"]
        kinds: dict[str, list[str]] = {
            "floor": ["bash", str(ROOT / "bench" / "floor.sh"), *floor_images],
            "pilot": [*pilot, f"{CANDIDATE}=1"],
        }
        if not args.quick:
            kinds |= {
                "floor 200": ["bash", str(ROOT / "bench" / "floor.sh"), *floor_images, "200"],
                "pilot 200": [*pilot, f"{CANDIDATE}=1", "--set", trivial_checks(100)],
                "pilot 2 candidates": [*pilot[:-1], "--matrix", f"{CANDIDATE}=1,2"],
                "pilot 4 candidates": [*pilot[:-1], "--matrix", f"{CANDIDATE}=1,2,3,4"],
            }
        run(kinds["pilot"], out)  # warm: images, the probe, the page cache
        seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
        memory: dict[str, list[float]] = {kind: [] for kind in kinds if kind.startswith("pilot")}
        for n in range(args.runs):
            for kind, argv in kinds.items():
                took, peak = run(argv, out)
                seconds[kind].append(took)
                if kind in memory:
                    memory[kind].append(peak)
                extra = f"   peak memory {peak:5.0f} MB" if kind in memory else ""
                print(f"round {n + 1}: {kind:<20} {took:6.2f} s{extra}", flush=True)
    medians = {kind: statistics.median(values) for kind, values in seconds.items()}
    peaks = {kind: max(values) for kind, values in memory.items()}
    ratios = {
        "pilot / floor": medians["pilot"] / medians["floor"],
    }
    if not args.quick:
        ratios |= {
            "pilot 200 / floor 200": medians["pilot 200"] / medians["floor 200"],
            "2 candidates / 1": medians["pilot 2 candidates"] / medians["pilot"],
            # the baseline runs its 200 extra checks twice (noise); copies run at the same time
            "ms per check (pilot, marginal)": (medians["pilot 200"] - medians["pilot"]) / 400 * 1000,
            "4 candidates / 1": medians["pilot 4 candidates"] / medians["pilot"],
        }
    if args.molecule:
        molecule, floor_there = through_molecule(args.runs)
        medians |= {"molecule": molecule}
        ratios |= {
            "molecule / floor (its own rounds)": molecule / floor_there,
            "molecule / pilot": molecule / medians["pilot"],
        }
    print()
    for kind, value in medians.items():
        print(f"median {kind:<20} {value:6.2f} s" + (f"   peak memory {peaks[kind]:5.0f} MB" if kind in peaks else ""))
    for name, ratio in ratios.items():
        print(f"{'' if name.startswith('ms ') else 'ratio '}{name:<36} {ratio:5.2f}")
    print("targets: pilot / floor <= 1.15; ms per check <= 5; 4 candidates / 1 <= 2.50; peak memory < 200 MB")
    Path(args.json).write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "runs": args.runs,
                "seconds": seconds,
                "medians": medians,
                "ratios": ratios,
                "peak_memory_mb": peaks,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"figures: {args.json}")


def through_molecule(runs: int) -> tuple[float, float]:
    """bench/molecule/run.sh with floor.sh alternating: (Molecule's median, the floor's)."""
    proc = subprocess.run(
        ["bash", str(ROOT / "bench" / "molecule" / "run.sh"), str(runs), "--floor"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    print(proc.stdout.rstrip(), flush=True)
    found = dict(re.findall(r"^(molecule|floor):.*median ([0-9.]+) s$", proc.stdout, re.MULTILINE))
    if proc.returncode != 0 or len(found) != 2:
        raise SystemExit(f"bench/molecule/run.sh failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return float(found["molecule"]), float(found["floor"])


def run(argv: list[str], out: str) -> tuple[float, float]:
    """Wall time of one run, and the peak RSS (MB) of the lab's own process (for a pilot,
    as its results.json says; the largest child — a pytest process, Chromium — apart)."""
    before = {p: p.stat().st_mtime for p in Path(out).glob("*/*/results.json")}
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv[:6])}... failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    written = [p for p in Path(out).glob("*/*/results.json") if before.get(p) != p.stat().st_mtime]
    if not written:
        return took, 0.0
    return took, float(json.loads(written[0].read_text())["peak_memory_mb"]["lab"])


if __name__ == "__main__":
    main()
