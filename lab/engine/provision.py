"""Make a Docker engine reachable and provide the base images the scenarios build FROM.

`ensure_engine` is idempotent: an engine that answers (DOCKER_HOST or the local socket) is
used as it is. Otherwise, on Debian/Ubuntu as root, the OS's own `docker.io` package is
installed and `dockerd` is started in the background with its log in `DOCKERD_LOG`.
`ensure_base_image` reuses an image that is present, pulls it when a registry answers,
and otherwise builds it from the Debian archive with mmdebstrap (the air-gapped case).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from lab.engine.client import Engine
from lab.errors import EngineUnavailable, LabError

DOCKERD_LOG = Path("/var/log/upgrade-pilot-lab/dockerd.log")
DEBIAN_SUITES = {"debian:bookworm": "bookworm", "debian:trixie": "trixie"}
Say = Callable[[str], None]


def ensure_engine(say: Say, timeout: float = 60.0) -> Engine:
    """An Engine that answers, starting one if needed and possible."""
    try:
        return Engine.connect()
    except EngineUnavailable as err:
        if os.environ.get("DOCKER_HOST"):
            raise EngineUnavailable(
                f"{err}\nDOCKER_HOST is set, so no local engine is started: start that engine, or unset DOCKER_HOST."
            ) from None
    if os.geteuid() != 0 or not Path("/etc/debian_version").exists():
        raise EngineUnavailable(
            "no Docker engine answers, and one can be installed here only on Debian/Ubuntu as root.\n"
            "Hint: install and start Docker (https://docs.docker.com/engine/install/), or point DOCKER_HOST at one."
        )
    if not shutil.which("dockerd"):
        say("installing the Docker engine from the OS packages (docker.io)...")
        _run(["apt-get", "update", "-q"])
        _run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "docker.io"],
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
        )
    DOCKERD_LOG.parent.mkdir(parents=True, exist_ok=True)
    say(f"starting dockerd in the background (log: {DOCKERD_LOG})...")
    with DOCKERD_LOG.open("ab") as log:
        subprocess.Popen(
            ["dockerd"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return Engine.connect()
        except EngineUnavailable:
            if time.monotonic() > deadline:
                tail = DOCKERD_LOG.read_text(errors="replace").splitlines()[-15:]
                raise EngineUnavailable(
                    f"dockerd did not answer within {timeout:g} s; last lines of {DOCKERD_LOG}:\n    "
                    + "\n    ".join(tail)
                ) from None
            time.sleep(delay)  # polling the socket with a deadline, backing off
            delay = min(delay * 2, 1.0)


def ensure_base_image(engine: Engine, tag: str, say: Say) -> str:
    """Reuse, pull, or build from the Debian archive; returns how it was provided."""
    if engine.image_id(tag):
        return "present"
    if engine.pull(tag):
        return "pulled"
    suite = DEBIAN_SUITES.get(tag)
    if suite is None:
        raise LabError(f"base image {tag} is not in the engine and no registry answers; load it with `docker load`")
    if not shutil.which("mmdebstrap"):
        if os.geteuid() != 0:
            raise LabError("mmdebstrap is needed to build Debian base images: apt-get install mmdebstrap")
        say("installing mmdebstrap...")
        _run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "mmdebstrap"],
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
        )
    say(f"building {tag} from the Debian archive (mmdebstrap {suite})...")
    strap = subprocess.Popen(
        ["mmdebstrap", "--variant=minbase", "--quiet", suite, "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert strap.stdout is not None
    try:
        engine.import_image(strap.stdout, tag)
    finally:
        strap.stdout.close()
        strap_err = strap.stderr.read().decode(errors="replace") if strap.stderr else ""
        code = strap.wait()
    if code != 0 or not engine.image_id(tag):
        raise LabError(f"building {tag} failed (mmdebstrap exit {code}):\n{strap_err[-2000:]}")
    return "built from the Debian archive"


def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
