"""lab/engine/images.py: base image discovery, input hashing, build-or-reuse."""

from __future__ import annotations

import time

import pytest

from lab import scenario
from lab.cancel import Token
from lab.engine import images
from lab.errors import BuildFailed
from tests.fake_engine import FakeEngine

SCENARIO = """
description: x
services:
  db:
    build: {context: db, args: {DEBIAN: bookworm}}
  cache:
    build: {context: db, args: {DEBIAN: bookworm}}
  web:
    image: debian:bookworm
candidates:
  next:
    services:
      db: {build: {args: {DEBIAN: trixie}}}
checks:
  testinfra: [t.py]
"""
FILES = {"db/Dockerfile": "ARG DEBIAN=bookworm\nFROM debian:${DEBIAN}\nRUN true\n", "t.py": ""}


def ensure(engine, loaded):
    """Every copy on the one engine."""
    return images.ensure(
        {v.name: engine for v in loaded.variants}, loaded, images.plan(loaded), time.monotonic, Token()
    )


def test_base_images_follow_args_and_skip_stages():
    text = "ARG V=12\nFROM debian:${V} AS build\nFROM build\nFROM --platform=linux/amd64 busybox:$V\nFROM scratch\n"
    assert images.base_images(text, {"V": "13"}) == ["debian:13", "busybox:13"]


def test_context_digest_changes_with_content(tmp_path):
    (tmp_path / "a").write_text("1")
    first = images.context_digest(tmp_path)
    assert images.context_digest(tmp_path) == first
    (tmp_path / "a").write_text("2")
    assert images.context_digest(tmp_path) != first


def test_builds_each_distinct_image_once_then_reuses(write_scenario):
    loaded = scenario.load(str(write_scenario(SCENARIO, FILES)))
    engine = FakeEngine()
    refs, done = ensure(engine, loaded)
    # baseline db and cache share inputs (one build); the candidate's db differs (another)
    assert len(engine.builds) == 2
    assert refs[("baseline", "db")] == refs[("baseline", "cache")]
    assert refs[("baseline", "db")] != refs[("next", "db")]
    assert refs[("next", "cache")] == refs[("baseline", "cache")]
    assert refs[("next", "web")] == "debian:bookworm"
    assert all(r.built for r in done)
    refs_again, again = images.ensure(
        {v.name: engine for v in loaded.variants}, loaded, images.plan(loaded), time.monotonic, Token()
    )
    assert refs_again == refs and len(engine.builds) == 2 and not any(r.built for r in again)


def test_changed_base_image_means_a_new_tag(write_scenario):
    loaded = scenario.load(str(write_scenario(SCENARIO, FILES)))
    engine = FakeEngine()
    refs, _ = ensure(engine, loaded)
    engine.images["debian:bookworm"] = "sha256:rebuilt"
    refs2, _ = ensure(engine, loaded)
    assert refs2[("baseline", "db")] != refs[("baseline", "db")]
    assert refs2[("next", "db")] == refs[("next", "db")]


def test_missing_base_image_says_how_to_get_it(write_scenario):
    loaded = scenario.load(str(write_scenario(SCENARIO, FILES)))
    engine = FakeEngine(images={"debian:bookworm": "sha256:1"})
    with pytest.raises(BuildFailed) as info:
        ensure(engine, loaded)
    assert "base image 'debian:trixie'" in str(info.value) and "invoke engine" in str(info.value)
