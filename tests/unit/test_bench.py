"""The benchmark's own inputs are valid: what it gives the demo through --set loads."""

from __future__ import annotations

import importlib
import sys

from lab import scenario
from lab.scenario.overrides import Given
from tests.conftest import ROOT


def test_the_200_check_variant_of_the_demo_is_a_valid_scenario(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    suite = importlib.import_module("suite")
    try:
        given = Given.of(sets=[f"{suite.CANDIDATE}=1", suite.trivial_checks(100)])
        loaded = scenario.load("demo", ROOT / "scenarios", given)
    finally:
        sys.modules.pop("suite", None)
        sys.modules.pop("common", None)
    assert len(loaded.checks.command) == 201
    services = [c.service for c in loaded.checks.command[1:]]
    assert services.count("db") == services.count("app") == 100
    assert loaded.candidates[0].services["app"].environment["LAB_BENCH_RELEASE"] == "1"
