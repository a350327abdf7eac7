"""What the benchmarks share: the project on the import path, and their usual arguments."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def arguments(doc: str, runs: int = 3) -> argparse.Namespace:
    """`[scenario] [--runs N]`, with the script's docstring as its description."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="demo")
    parser.add_argument("--runs", type=int, default=runs)
    return parser.parse_args()
