"""The one module that imports the Docker SDK: images, networks, volumes, containers,
execs and the objects of a run found by label.

`Engine` provides `lab.engine.types.EngineLike` and answers in that module's plain data, so
the rest of the lab is tested against `tests/fake_engine.py` without an engine. Checks reach
containers through the Docker API (exec), never through host ports, so a remote engine
(DOCKER_HOST) works unchanged.
"""

from __future__ import annotations

import functools
import io
import os
import tarfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors
import docker.utils.build
import requests.exceptions
import urllib3.exceptions

from lab.engine.streams import RawStream
from lab.engine.types import KEEP, RUN, ContainerSpec, ContainerState, Labelled, RunObjects, run_objects
from lab.errors import BuildFailed, EngineError, EngineUnavailable

CONNECTION_ERRORS = (requests.exceptions.ConnectionError, docker.errors.DockerException)


def sent_files(context: Path, dockerfile: str = "Dockerfile") -> list[str]:
    """The files a build of `context` sends to the engine, relative, in the order a walk of the
    folder meets them: all but those its .dockerignore leaves out, as the SDK decides."""
    ignore = context / ".dockerignore"
    patterns = []
    if ignore.is_file():
        lines = (line.strip() for line in ignore.read_text(encoding="utf-8", errors="replace").splitlines())
        patterns = [line for line in lines if line and not line.startswith("#")]
    kept = docker.utils.build.exclude_paths(str(context), patterns, dockerfile=dockerfile)
    files = [path for path in kept if (context / path).is_file()]
    return sorted(files, key=lambda path: (path.split("/")[:-1], path.rsplit("/", 1)[-1]))  # a folder's files first


class Engine:
    """The Docker engine, reached through the Docker SDK."""

    def __init__(self, client: docker.DockerClient, url: str = ""):
        self.client = client
        self.url = url  # as given (DOCKER_HOST's form); "" for the default local socket

    @classmethod
    def connect(cls, base_url: str | None = None) -> Engine:
        """Connect to DOCKER_HOST (or the local socket) and check that it answers."""
        url = base_url or os.environ.get("DOCKER_HOST", "")
        try:
            ssh = url.startswith("ssh://")  # through the ssh command: keys and config as for any ssh
            client = (
                docker.DockerClient(base_url=base_url, use_ssh_client=ssh)
                if base_url
                else docker.from_env(use_ssh_client=ssh)
            )
            client.ping()
        except CONNECTION_ERRORS as err:
            where = base_url or (
                f"{os.environ['DOCKER_HOST']} (DOCKER_HOST)" if os.environ.get("DOCKER_HOST") else "the local socket"
            )
            raise EngineUnavailable(
                f"no Docker engine answers at {where} ({_short(err)}).\n"
                "Hint: run `invoke engine` to install and start one, or set DOCKER_HOST."
            ) from err
        return cls(client, url)

    def ping(self) -> None:
        """Raises EngineUnavailable when the engine does not answer (any more)."""
        self._call(self.client.ping)

    def identity(self) -> str:
        """The engine's own id: the same engine, whatever URL reaches it."""
        return str(self._call(self.client.info).get("ID", ""))

    # images ---------------------------------------------------------------------------
    def image_id(self, tag: str) -> str | None:
        attrs = self._inspect_image(tag)
        return str(attrs["Id"]) if attrs else None

    def _inspect_image(self, ref: str) -> dict[str, Any] | None:
        try:
            return dict(self._call(self.client.api.inspect_image, ref))
        except EngineError as err:
            if isinstance(err.__cause__, docker.errors.NotFound):
                return None
            raise EngineError(f"image '{ref}': {err}") from err

    def build(
        self,
        context: Path,
        dockerfile: str,
        args: dict[str, str],
        tag: str,
        labels: dict[str, str],
        deadline: float = 1800.0,
    ) -> str:
        """Build `tag` from `context` within `deadline` seconds; on failure, BuildFailed holds
        the failing step's output. A build past its deadline is abandoned: its connection
        closes and the engine stops it."""
        log: list[str] = []
        end = time.monotonic() + deadline
        stream = self.client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            buildargs=args,
            tag=tag,
            labels=labels,
            rm=True,
            forcerm=True,
            decode=True,
            timeout=max(int(deadline), 1),  # also bounds a silent step
        )
        try:
            for chunk in stream:
                if "stream" in chunk:
                    log.extend(chunk["stream"].splitlines())
                if "error" in chunk:
                    log.append(chunk["error"].strip())
                    raise BuildFailed(_build_failure(tag, log))
                if time.monotonic() > end:
                    raise requests.exceptions.ReadTimeout()
        except (
            requests.exceptions.ReadTimeout,
            requests.exceptions.ConnectionError,
            urllib3.exceptions.ReadTimeoutError,
            urllib3.exceptions.ProtocolError,
        ) as err:
            timed_out = isinstance(err, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError))
            if time.monotonic() < end - 1 and not timed_out:
                raise EngineUnavailable(f"the Docker engine stopped answering during a build ({_short(err)})") from err
            raise BuildFailed(
                _build_failure(tag, log + [f"(the build did not finish within {deadline:g} s: timeouts.build)"])
            ) from None
        except docker.errors.APIError as err:
            raise BuildFailed(f"building {tag} failed: {_short(err)}") from err
        finally:
            stream.close()
        image = self.image_id(tag)
        if image is None:
            raise BuildFailed(_build_failure(tag, log))
        return image

    def pull(self, tag: str) -> bool:
        """Pull from a registry; False when none answers (the air-gapped case)."""
        try:
            repo, _, version = tag.partition(":")
            self.client.images.pull(repo, tag=version or "latest")
            return True
        except docker.errors.DockerException:
            return False

    def import_image(self, tar_stream: IO[bytes], tag: str) -> None:
        """Create an image from a root file system tarball, streamed (like `docker import`)."""
        repo, _, version = tag.partition(":")
        self._call(self.client.api.import_image, src=tar_stream, repository=repo, tag=version or "latest")

    def image_summary(self, image: str) -> dict[str, str]:
        """Id and creation time of an image (for the report)."""
        attrs = self._inspect_image(image) or {}
        return {"id": attrs.get("Id", ""), "created": attrs.get("Created", "")}

    # objects of a run -----------------------------------------------------------------
    def create_network(self, name: str, labels: dict[str, str]) -> None:
        # internal: no route out of the lab, and copies cannot reach each other. The bridge
        # gets no address on the host either, so a copy cannot reach the host's own services
        # (an internal network alone still lets it connect to the host's addresses).
        self._call(
            self.client.networks.create,
            name,
            driver="bridge",
            internal=True,
            labels=labels,
            options={"com.docker.network.bridge.inhibit_ipv4": "true"},
        )

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self._call(self.client.volumes.create, name=name, labels=labels)

    def create(self, spec: ContainerSpec) -> None:
        """Create the container without starting it (files can be put in first)."""
        endpoint = self.client.api.create_endpoint_config(aliases=list(spec.aliases))
        self._call(
            self.client.containers.create,
            spec.image,
            command=spec.command,
            entrypoint=spec.entrypoint,
            name=spec.name,
            hostname=spec.aliases[0] if spec.aliases else None,
            environment=spec.environment,
            user=spec.user,
            working_dir=spec.working_dir,
            labels=spec.labels,
            network=spec.network,
            networking_config={spec.network: endpoint},
            volumes={vol: {"bind": path, "mode": "rw"} for vol, path in spec.volumes.items()},
            healthcheck=spec.healthcheck,
            mem_limit=spec.memory,
            nano_cpus=int(spec.cpus * 1e9) if spec.cpus else None,
            pids_limit=spec.pids,
        )

    def begin(self, container: str) -> None:
        """Start a created container."""
        self._call(self.client.api.start, container)

    def start(self, spec: ContainerSpec) -> None:
        self.create(spec)
        self.begin(spec.name)

    def remove(self, container: str) -> None:
        """Remove one container, running or not (its anonymous volumes with it)."""
        self._ignore_missing(functools.partial(self.client.api.remove_container, force=True, v=True), container)

    def put_archive(self, container: str, path: str, data: IO[bytes] | Iterable[bytes]) -> None:
        """Unpack a tar stream (plain, gzip, bzip2 or xz) at `path` in the container,
        streamed through the API: no host folder is shared."""
        if not self._call(self.client.api.put_archive, container, path, data):
            raise EngineError(f"the engine refused to unpack files into {container}:{path}")

    def _archive(self, container: str, path: str) -> Iterable[bytes] | None:
        """The tar archive of a path in a container (created or running), as the engine
        streams it; None when there is no such path."""
        try:
            stream: Iterable[bytes] = self._call(self.client.api.get_archive, container, path)[0]
        except EngineError as err:
            if isinstance(err.__cause__, docker.errors.NotFound):
                return None
            raise
        return stream

    def exists(self, container: str, path: str) -> bool:
        """Whether a path is in a container: its archive is asked for, and left unread."""
        stream = self._archive(container, path)
        close = getattr(stream, "close", None)
        if close is not None:
            close()
        return stream is not None

    def listing(self, container: str, folder: str) -> list[str]:
        """The paths under `folder` in a container, from the headers of its archive; [] when
        there is no such folder."""
        stream = self._archive(container, folder)
        if stream is None:
            return []
        parent = folder.rstrip("/").rsplit("/", 1)[0]
        try:
            with tarfile.open(fileobj=_Chunks(stream), mode="r|") as tar:
                return [f"{parent}/{entry.name}".replace("//", "/") for entry in tar]
        except (tarfile.TarError, OSError) as err:
            raise EngineError(f"the engine's listing of {container}:{folder} could not be read: {err}") from None

    def attach(self, container: str, argv: list[str], user: str | None = None) -> tuple[RawStream, str]:
        """Start `argv` with its stdin, stdout and stderr on a stream; returns the stream and
        the exec id (for its exit code)."""
        api = self.client.api
        exec_id = self._call(
            api.exec_create, container, argv, stdin=True, stdout=True, stderr=True, tty=False, user=user or ""
        )["Id"]
        return RawStream(self._call(api.exec_start, exec_id, socket=True)), exec_id

    def exit_code(self, exec_id: str) -> int | None:
        """The exit code of an exec, or None while the engine has not recorded its end."""
        found = self._call(self.client.api.exec_inspect, exec_id)
        code = found.get("ExitCode")
        return int(code) if code is not None and not found.get("Running") else None

    def state(self, container: str) -> ContainerState:
        attrs = self._call(self.client.api.inspect_container, container)
        state = attrs["State"]
        health = state.get("Health")
        probes = (health or {}).get("Log") or []
        return ContainerState(
            status=state["Status"],
            exit_code=int(state.get("ExitCode") or 0),
            health=health["Status"] if health else None,
            health_output=(probes[-1].get("Output") or "").strip() if probes else "",
        )

    def logs(self, container: str, tail: int | None = None) -> str:
        raw = self._call(self.client.api.logs, container, tail=tail if tail is not None else "all")
        return str(raw.decode("utf-8", "replace"))

    # by label -------------------------------------------------------------------------
    def mark_kept(self, run_id: str, until: float) -> None:
        """Kept runs are spared by `gc` until `until` (but never by `down`). Labels are fixed
        at creation, so the mark is a label on a tiny volume."""
        self._call(self.client.volumes.create, name=f"lab-{run_id}-kept", labels={RUN: run_id, KEEP: str(int(until))})

    def runs(self) -> list[RunObjects]:
        """Every run the engine holds objects of, found by the run label."""
        groups: dict[str, list[Labelled]] = {}
        for item in self._labelled(RUN):
            groups.setdefault(item[2][RUN], []).append(item)
        return [run_objects(run_id, items) for run_id, items in sorted(groups.items())]

    def remove_run(self, run_id: str) -> RunObjects:
        """Remove every container, network and volume labelled with `run_id`."""
        api = self.client.api
        remove: dict[str, Callable[[str], Any]] = {
            "container": lambda name: api.remove_container(name, force=True, v=True),
            "network": api.remove_network,
            "volume": lambda name: api.remove_volume(name, force=True),
        }
        items = self._labelled(f"{RUN}={run_id}")
        failures: list[str] = []

        def attempt(kind: str, name: str) -> None:
            try:
                self._ignore_missing(remove[kind], name)
            except EngineError as err:
                failures.append(f"{kind} {name}: {err}")

        # Containers first (they hold the networks and volumes), all at once; every
        # object is attempted even when another could not be removed.
        for kind in ("container", "network", "volume"):
            names = [name for k, name, _ in items if k == kind]
            with ThreadPoolExecutor(max_workers=8, thread_name_prefix="remove") as pool:
                list(pool.map(functools.partial(attempt, kind), names))
        if failures:
            raise EngineError("could not remove " + "; ".join(failures))
        return run_objects(run_id, items)

    def _labelled(self, label: str) -> list[Labelled]:
        """(kind, name, labels) of every object with `label`, containers first.

        The low-level listing is used because it does not inspect each object, which
        would fail for objects that another process removes meanwhile."""
        flt = {"label": label}
        api = self.client.api
        found: list[Labelled] = []
        for c in self._call(api.containers, all=True, filters=flt):
            found.append(("container", c["Names"][0].lstrip("/"), c.get("Labels") or {}))
        for n in self._call(api.networks, filters=flt):
            found.append(("network", n["Name"], n.get("Labels") or {}))
        for v in (self._call(api.volumes, filters=flt) or {}).get("Volumes") or []:
            found.append(("volume", v["Name"], v.get("Labels") or {}))
        return found

    # helpers --------------------------------------------------------------------------
    @staticmethod
    def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except requests.exceptions.ConnectionError as err:
            raise EngineUnavailable(f"the Docker engine stopped answering ({_short(err)})") from err
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise EngineError(_short(err)) from err

    @classmethod
    def _ignore_missing(cls, fn: Any, *args: Any) -> None:
        try:
            cls._call(fn, *args)
        except EngineError as err:
            if not isinstance(err.__cause__, docker.errors.NotFound):
                raise


def _short(err: BaseException) -> str:
    explanation = getattr(err, "explanation", None)
    return str(explanation or err).strip().splitlines()[0] if str(explanation or err).strip() else type(err).__name__


def _build_failure(tag: str, log: list[str], keep: int = 25) -> str:
    """The failing step and its last output lines, as a person wants to read them."""
    steps = [i for i, line in enumerate(log) if line.startswith("Step ")]
    start = steps[-1] if steps else 0
    tail = [line for line in log[start:] if line.strip()][-keep:]
    return f"building image {tag} failed:\n    " + "\n    ".join(tail)


class _Chunks(io.RawIOBase):
    """The chunks the SDK yields (an archive it streams), read as a file."""

    def __init__(self, chunks: Iterable[bytes]):
        self.chunks = iter(chunks)
        self.left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.left:
            self.left = next(self.chunks, b"")
            if not self.left:
                return 0
        size = min(len(buffer), len(self.left))
        buffer[:size], self.left = self.left[:size], self.left[size:]
        return size
