"""What the lab adds on top of the work itself: run a scenario's pilot a few times with warm
images and compare its wall time with what its copies need to become ready plus what their
checks take (copies run in parallel, so the floor is the slowest copy's ready + checks).

    python bench/overhead.py [scenario] [--runs N]

Prints one line per run and the medians; the target for the demo is a ratio of 1.3 or less.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from common import ROOT, arguments

from lab import scenario
from lab.engine.client import Engine
from lab.pipeline import pilot


def main() -> None:
    args = arguments(__doc__)
    loaded = scenario.load(args.scenario, ROOT / "scenarios")
    engine = Engine.connect()
    rows = []
    with tempfile.TemporaryDirectory() as out:
        pilot.run(pilot.prepare(engine, loaded, Path(out), say=lambda m: None))  # warm the images
        for _ in range(args.runs):
            result = pilot.run(pilot.prepare(engine, loaded, Path(out), say=lambda m: None))
            floor = max(c.seconds.get("start_ready", 0) + c.seconds.get("checks", 0) for c in result.copies)
            total = result.stages["total"]
            rows.append((total, floor, total / floor))
            print(
                f"run {result.run_id}: total {total:6.2f} s   ready+checks {floor:6.2f} s   ratio {total / floor:.2f}"
                f"   (build {result.stages['build']:.2f}, teardown {result.stages['teardown']:.2f},"
                f" logs {result.stages['logs']:.2f})"
            )
    total, floor, ratio = (statistics.median(col) for col in zip(*rows, strict=True))
    print(f"median: total {total:.2f} s, ready+checks {floor:.2f} s, ratio {ratio:.2f} (target <= 1.30)")


if __name__ == "__main__":
    main()
