"""A second Docker engine on this machine, for the tests that need one: its own dockerd
with its own socket, data root and exec root, in a network namespace of its own, so that
nothing it does to bridges and firewall rules (a restart after a crash removes and
recreates its bridges) can touch the first engine's.

Its namespace has no route out: images it needs are copied into it from the first engine
through the API (`docker save` into `docker load`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import docker

NAME = "upl-test-e2"  # also the name of its network namespace


class SecondEngine:
    def __init__(self, root: Path = Path("/run") / NAME, data: Path = Path("/var/lib") / NAME):
        self.root = root
        self.data = data
        self.socket = root / "docker.sock"
        self.url = f"unix://{self.socket}"
        self.log = root.parent / f"{NAME}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> docker.DockerClient:
        """Start (or restart) the daemon; returns a client once it answers."""
        if self.proc is None:  # a daemon of an interrupted test run would answer in its place
            stale = _kill(self.root, lambda cmdline: "dockerd" in cmdline and "containerd" not in cmdline)
            deadline = time.monotonic() + 10
            while any(Path(f"/proc/{pid}").exists() for pid in stale) and time.monotonic() < deadline:
                time.sleep(0.05)
        self.root.mkdir(parents=True, exist_ok=True)
        if not Path(f"/run/netns/{NAME}").exists():
            subprocess.run(["ip", "netns", "add", NAME], check=True)
            subprocess.run(["ip", "-n", NAME, "link", "set", "lo", "up"], check=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    "nsenter",  # only the network namespace (`ip netns exec` would remount /sys, cgroups gone)
                    f"--net=/run/netns/{NAME}",
                    shutil.which("dockerd") or "dockerd",
                    f"--host={self.url}",
                    f"--data-root={self.data}",
                    f"--exec-root={self.root / 'exec'}",
                    f"--pidfile={self.root / 'dockerd.pid'}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace").splitlines()[-10:]
                raise RuntimeError("the second dockerd did not start:\n" + "\n".join(tail))
            time.sleep(0.1)
        return docker.DockerClient(base_url=self.url)

    def _answers(self) -> bool:
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(str(self.socket))
                sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
                return b" 200 " in sock.recv(64)
            except OSError:
                return False

    def crash(self) -> None:
        """kill -9 of dockerd and its containerd: the engine goes away without stopping
        anything (the containers' shims live on, as after a real crash)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        _kill(self.root, lambda cmdline: "containerd" in cmdline and "shim" not in cmdline)
        # Its pid file would make the next dockerd wait for a containerd that is gone (a zombie
        # that nobody reaps still "exists"); removed, the next dockerd starts a new one.
        (self.root / "exec" / "containerd" / "containerd.pid").unlink(missing_ok=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def remove(self) -> None:
        """Stop it and remove every trace: its containers' processes, its bridge, its data."""
        self.stop()
        _kill(self.root, lambda cmdline: "containerd" in cmdline)  # with the shims, and so the containers
        subprocess.run(["ip", "netns", "delete", NAME], capture_output=True)
        for folder in (self.data, self.root):
            _unmount_below(folder)  # the containers' network namespaces and layers, mounted there
            shutil.rmtree(folder, ignore_errors=True)


def copy_images(source: docker.DockerClient, target: docker.DockerClient, *tags: str) -> None:
    """Copy images between engines through their APIs (streamed, never on disk)."""
    for tag in tags:
        try:
            target.images.get(tag)
        except docker.errors.ImageNotFound:
            target.images.load(source.images.get(tag).save(named=True))


def _kill(root: Path, which: Callable[[str], bool]) -> list[int]:
    """kill -9 the processes of this engine (their command line names its root) that `which`
    picks; returns their pids."""
    marker = str(root)
    killed = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and which(cmdline):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(int(proc.name))
    return killed


def _unmount_below(folder: Path) -> None:
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted((p for p in points if p.startswith(f"{folder}/") or p == str(folder)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
