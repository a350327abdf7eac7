"""What CI pays per vendor release: a pilot with one candidate, a matrix of three candidates,
and a pilot that reuses an unchanged baseline — alternating, with warm images, medians.

    python bench/ci_speed.py [scenario] [--runs N]

The matrix varies an environment variable of the candidate's first service (the same images,
so the figures are about staging and checking, not building). Targets: the three-candidate
matrix well under three times one candidate; the reused baseline skips its start, restore
and checks (the copies stage shows only the candidate's).
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from common import ROOT, arguments

from lab import scenario
from lab.engine.client import Engine
from lab.pipeline import pilot
from lab.pipeline.context import Options
from lab.scenario.overrides import Given


def main() -> None:
    args = arguments(__doc__)
    base = scenario.load(args.scenario, ROOT / "scenarios")
    candidate = base.candidates[0]
    service = next(iter(candidate.services))
    key = f"candidates.{candidate.name}.services.{service}.environment.LAB_BENCH_RELEASE"
    kinds = {
        "1 candidate": (Given.of(sets=[f"{key}=1"]), False),
        "3 candidates": (Given.of(matrices=[f"{key}=1,2,3"]), False),
        "1 candidate, reused baseline": (Given.of(sets=[f"{key}=4"]), True),
    }
    engine = Engine.connect()
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as out:
        warm = scenario.load(args.scenario, ROOT / "scenarios", kinds["1 candidate"][0])
        pilot.run(pilot.prepare(engine, warm, Path(out), say=lambda m: None))  # warm images, and a baseline to reuse
        for n in range(args.runs):
            for kind, (given, reuse) in kinds.items():
                loaded = scenario.load(args.scenario, ROOT / "scenarios", given)
                result = pilot.run(
                    pilot.prepare(engine, loaded, Path(out), Options(reuse_baseline=reuse), say=lambda m: None)
                )
                assert not reuse or result.baseline_reused_from, "the baseline was not reused"
                total = result.stages["total"]
                times[kind].append(total)
                staged = [c.variant for c in result.copies if not (reuse and c.role == "baseline")]
                print(f"round {n + 1}: {kind:<30} {total:6.2f} s   copies staged: {', '.join(staged)}")
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    one = medians["1 candidate"]
    print()
    for kind, value in medians.items():
        print(f"median {kind:<30} {value:6.2f} s   {value / one:4.2f}x one candidate")
    print("targets: 3 candidates well under 3.00x; reused baseline below 1.00x")


if __name__ == "__main__":
    main()
