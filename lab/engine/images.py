"""Images for a pilot: one per distinct (service, build inputs), built once, reused by hash.

An image's tag is `lab/<scenario>-<context folder>:<hash>` where the hash covers the build
context's files, the Dockerfile, the build args and the ids of the images it builds FROM.
When the tag exists the build is skipped; independent builds run in parallel.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from lab.cancel import POLL, Token
from lab.engine.client import sent_files
from lab.engine.types import INPUTS, SCENARIO, EngineLike, shown_url
from lab.errors import BuildFailed
from lab.scenario import Scenario
from lab.scenario.model import Service

FROM_RE = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", re.IGNORECASE | re.MULTILINE)
ARG_RE = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?", re.IGNORECASE | re.MULTILINE)
Clock = Callable[[], float]
U = TypeVar("U", bound=Hashable)
BUILDS_AT_ONCE = 4
VAR_RE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


@dataclass(frozen=True)
class ImagePlan:
    """One image the pilot needs: either named (`image:`) or built from a folder."""

    ref: str  # the tag containers run
    context: Path | None = None
    dockerfile: str = "Dockerfile"
    args: tuple[tuple[str, str], ...] = ()
    bases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageResult:
    ref: str
    image_id: str
    built: bool  # False when reused
    seconds: float


def base_images(dockerfile_text: str, args: dict[str, str]) -> list[str]:
    """The images a Dockerfile builds FROM, with ARG defaults and build args substituted.

    >>> base_images("ARG DEBIAN=bookworm\\nFROM debian:${DEBIAN} AS b\\nFROM b", {"DEBIAN": "trixie"})
    ['debian:trixie']
    """
    values = {name: default or "" for name, default in ARG_RE.findall(dockerfile_text)}
    values.update(args)
    stages: set[str] = set()
    found = []
    for line in dockerfile_text.splitlines():
        match = FROM_RE.match(line)
        if not match:
            continue
        ref = VAR_RE.sub(lambda m: values.get(m.group(1), ""), match.group(1))
        parts = line.split()
        if len(parts) >= 4 and parts[-2].upper() == "AS":
            stages.add(parts[-1])
        if ref not in stages and ref.lower() != "scratch" and ref not in found:
            found.append(ref)
    return found


def context_digest(context: Path, dockerfile: str = "Dockerfile") -> str:
    """SHA-256 over the relative path, mode and content of every file a build of the context
    sends (its .dockerignore honoured: what it leaves out cannot change the image)."""
    digest = hashlib.sha256()
    for rel in sent_files(context, dockerfile):
        path = context / rel
        digest.update(f"{rel}\0{path.stat().st_mode & 0o777:o}\0".encode())
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def plan(scenario: Scenario) -> dict[tuple[str, str], ImagePlan]:
    """The image of every (variant, service); identical builds share one plan."""
    plans: dict[tuple[str, str], ImagePlan] = {}
    for variant in scenario.variants:
        for name, service in variant.services.items():
            plans[(variant.name, name)] = _plan_one(service, scenario.folder)
    return plans


def slug(name: str) -> str:
    """A name as Docker accepts it in an image reference.

    >>> slug("Web Shop_2")
    'web-shop_2'
    """
    return re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-._") or "x"


def probe_plan() -> ImagePlan:
    """The lab's own HTTP probe image (lab/checks/probe)."""
    context = Path(__file__).resolve().parents[1] / "checks" / "probe"
    text = (context / "Dockerfile").read_text(encoding="utf-8")
    return ImagePlan(ref="lab/probe", context=context, dockerfile="Dockerfile", bases=tuple(base_images(text, {})))


def _plan_one(service: Service, folder: Path) -> ImagePlan:
    if service.build is None:
        assert service.image is not None  # validated at load
        return ImagePlan(ref=service.image)
    context = (folder / service.build.context).resolve()
    args = dict(sorted(service.build.args.items()))
    text = (context / service.build.dockerfile).read_text(encoding="utf-8")
    bases = tuple(base_images(text, args))
    return ImagePlan(
        # named by its folder (and the folder's), not by the scenario: scenarios that build the
        # same folder share the image; the hash of the inputs is appended once base ids are known
        ref=f"lab/{slug(context.parent.name)}-{slug(context.name)}",
        context=context,
        dockerfile=service.build.dockerfile,
        args=tuple(args.items()),
        bases=bases,
    )


def tag_of(p: ImagePlan, engine: EngineLike) -> str:
    """The tag of a planned image on `engine`: a named image's own; for a build, its folder's
    name with the hash of its inputs (the ids of its base images as this engine has them)."""
    if p.context is None:
        return p.ref
    base_ids = [engine.image_id(base) or "" for base in p.bases]
    digest = hashlib.sha256(
        "\0".join([context_digest(p.context, p.dockerfile), p.dockerfile, repr(p.args), *base_ids]).encode()
    ).hexdigest()[:16]
    return f"{p.ref}:{digest}"


def ensure(
    placement: Mapping[str, EngineLike],
    scenario: Scenario,
    plans: dict[tuple[str, str], ImagePlan],
    clock: Clock,
    token: Token,
) -> tuple[dict[tuple[str, str], str], list[ImageResult]]:
    """Build or reuse every planned image on the engine of its copy (`placement`: variant →
    engine); returns (variant, service) -> image ref. An image that several copies on one
    engine need is provided once; builds on different engines run at the same time."""
    engines = list({id(e): e for e in placement.values()}.values())
    number = {id(e): n for n, e in enumerate(engines)}  # by identity: two engines may compare equal
    refs: dict[tuple[str, str], str] = {}
    unique: dict[tuple[int, str], ImagePlan] = {}
    missing: list[str] = []
    for key, p in plans.items():
        engine = placement[key[0]]
        where = f" on {shown_url(engine.url)}" if len(engines) > 1 else ""
        if p.context is None:
            if engine.image_id(p.ref) is None:
                missing.append(f"image '{p.ref}' (service {key[1]}, {key[0]}) is not in the engine{where}")
            refs[key] = p.ref
            continue
        for base in p.bases:
            if engine.image_id(base) is None:
                missing.append(
                    f"base image '{base}' (FROM in {p.context.name}/{p.dockerfile}) is not in the engine{where}"
                )
        tag = tag_of(p, engine)
        refs[key] = tag
        unique.setdefault((number[id(engine)], tag), p)
    if missing:
        raise BuildFailed(
            "\n".join(dict.fromkeys(missing)) + "\nHint: `invoke engine` provides the Debian base images;"
            " other images must be loaded (`docker load`) or pulled first."
        )

    def one(unit: tuple[int, str]) -> ImageResult:
        p = unique[unit]
        engine, tag = engines[unit[0]], unit[1]
        start = clock()
        existing = engine.image_id(tag)
        if existing:
            return ImageResult(tag, existing, False, clock() - start)
        assert p.context is not None
        image_id = engine.build(
            p.context,
            p.dockerfile,
            dict(p.args),
            tag,
            {SCENARIO: scenario.name, INPUTS: tag.rsplit(":", 1)[1]},
            deadline=scenario.timeouts.build,
        )
        return ImageResult(tag, image_id, True, clock() - start)

    return refs, in_parallel(one, list(unique), token)


def in_parallel(fn: Callable[[U], ImageResult], tags: list[U], token: Token) -> list[ImageResult]:
    """Build concurrently in daemon threads, so that a cancelled run does not wait for a
    running build: the token's error is raised at once, the process ends, its connection
    closes, and the engine stops the build (it labels nothing of the run, so nothing is
    left to clean)."""
    results: dict[U, ImageResult] = {}
    failures: list[BaseException] = []
    lock = threading.Lock()

    def work(tag: U) -> None:
        try:
            result = fn(tag)
            with lock:
                results[tag] = result
        except BaseException as err:  # noqa: BLE001 — handed to the main thread below
            with lock:
                failures.append(err)

    pending = list(tags)
    running: list[threading.Thread] = []
    while pending or running:
        while pending and len(running) < BUILDS_AT_ONCE:
            thread = threading.Thread(target=work, args=(pending.pop(0),), name="build", daemon=True)
            thread.start()
            running.append(thread)
        running[0].join(POLL)
        token.check()
        running = [t for t in running if t.is_alive()]
    if failures:
        raise failures[0]
    return [results[tag] for tag in tags]
