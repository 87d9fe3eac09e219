"""One hardened container and `exec` into it with a host-enforced deadline and an output budget.

A deadline overrun kills the whole container (the only way to be sure nothing the candidate started lives on);
the pool then replaces it.
"""
from __future__ import annotations

import select
import socket
import struct
import time
from dataclasses import dataclass
from typing import Callable

from sandboxes.docker_client import LABEL, OWNER_LABEL, docker_client, owner_id
from sandboxes.limits import SandboxLimits, container_kwargs


@dataclass
class ExecResult:
    """exit_code is None when the exec was killed at the deadline (timed_out) or its process vanished."""

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    truncated: bool = False
    seconds: float = 0.0


class Sandbox:
    """A started container. `exec` runs a command in it; `kill` removes it."""

    def __init__(self, image: str, limits: SandboxLimits, judge_dir: bool = False) -> None:
        self.limits = limits
        client = docker_client()
        labels = {LABEL: "1", OWNER_LABEL: owner_id()}
        self.container = client.containers.run(**container_kwargs(image, limits, labels, judge_dir))
        self.id = self.container.id
        self.dead = False
        self.uses = 0
        self.judge_server = None  # a warm code judge (sandboxes.code_runner.JudgeServer), opened on first use

    def exec(self, cmd: list[str], stdin: bytes | None = None, user: str | None = None, workdir: str | None = None,
             timeout: float | None = None, output_bytes: int | None = None,
             environment: dict[str, str] | None = None) -> ExecResult:
        """Run `cmd`; feed `stdin` then close it; keep at most `output_bytes` of stdout and of stderr."""
        api = docker_client().api
        deadline_s = timeout if timeout is not None else self.limits.wall_s
        budget = output_bytes if output_bytes is not None else self.limits.output_bytes
        start = time.monotonic()
        eid = api.exec_create(self.id, cmd, stdin=stdin is not None, stdout=True, stderr=True, user=user or "",
                              workdir=workdir, environment=environment)["Id"]
        sock = api.exec_start(eid, socket=True)
        raw: socket.socket = getattr(sock, "_sock", sock)
        try:
            if stdin is not None:
                raw.sendall(stdin)
                raw.shutdown(socket.SHUT_WR)
            out, err, timed_out, truncated = _read_frames(raw, start + deadline_s, budget)
        finally:
            raw.close()
        if timed_out:
            self.kill()
            return ExecResult(None, out, err, True, truncated, time.monotonic() - start)
        code = None
        for _ in range(50):
            info = api.exec_inspect(eid)
            if not info.get("Running"):
                code = info.get("ExitCode")
                break
            time.sleep(0.01)
        return ExecResult(code, out, err, False, truncated, time.monotonic() - start)

    def open_exec(self, cmd: list[str], user: str | None = None, workdir: str | None = None,
                  environment: dict[str, str] | None = None) -> tuple[str, socket.socket]:
        """Start `cmd` with stdin attached and return (exec id, raw socket) for interactive use (shells)."""
        api = docker_client().api
        eid = api.exec_create(self.id, cmd, stdin=True, stdout=True, stderr=True, user=user or "", workdir=workdir,
                              environment=environment)["Id"]
        sock = api.exec_start(eid, socket=True)
        return eid, getattr(sock, "_sock", sock)

    def put_files(self, files: dict[str, bytes], dest: str, user: str, timeout: float = 30.0) -> ExecResult:
        """Copy files into `dest` (a writable dir) as `user` through a tar stream on stdin (docker's archive API
        cannot write into tmpfs mounts or read-only roots)."""
        import io
        import tarfile

        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            for name, content in sorted(files.items()):
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(content), 0o755 if name.endswith(".sh") else 0o644
                tar.addfile(info, io.BytesIO(content))
        return self.exec(["tar", "-x", "--no-same-owner", "-m", "-C", dest], stdin=data.getvalue(), user=user,
                         timeout=timeout)

    def stopped(self, settle_s: float = 0.5) -> bool:
        """Whether the container stopped or vanished from outside (`docker kill`, the engine restarted, the host
        OOM killer took its init). A candidate cannot stop it (its init ignores signals sent from inside), so a job
        that ended without a verdict in a stopped container is the sandbox's failure, not the policy's. Polls for up
        to `settle_s`: the engine may report the stop a moment after the job's stream ended."""
        import docker

        deadline = time.monotonic() + settle_s
        while True:
            try:
                self.container.reload()
            except docker.errors.NotFound:
                return True
            if self.container.status != "running":
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def kill(self) -> None:
        """Remove the container (SIGKILL); safe to call twice."""
        if self.dead:
            return
        self.dead = True
        try:
            self.container.remove(force=True)
        except Exception:  # noqa: BLE001 - already gone
            pass


class FrameReader:
    """Demultiplexes Docker's attach stream (8-byte header: stream id, 3 pad bytes, big-endian size). Keeps at most
    `budget` bytes per stream (the rest is read and dropped: truncated=True). Reusable across reads on one socket."""

    def __init__(self, raw: socket.socket, budget: int, keep_tail: bool = False) -> None:
        self.raw, self.budget, self.keep_tail = raw, budget, keep_tail
        self.buf = bytearray()
        self.streams = {1: bytearray(), 2: bytearray()}
        self.tails = {1: bytearray(), 2: bytearray()}
        self.truncated = False
        self.eof = False

    def pump(self, deadline: float, until: Callable[[bytearray], bool] | None = None) -> bool:
        """Read until EOF, `until(stdout)` holds, or the deadline; returns False on deadline."""
        while not self.eof and not (until is not None and until(self.streams[1] + self.tails[1])):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([self.raw], [], [], left)
            if not ready:
                continue
            chunk = self.raw.recv(1 << 16)
            if not chunk:
                self.eof = True
                break
            self.buf += chunk
            self._split()
        return True

    def _split(self) -> None:
        while len(self.buf) >= 8:
            kind, size = self.buf[0], struct.unpack(">I", bytes(self.buf[4:8]))[0]
            if len(self.buf) < 8 + size:
                return
            payload = bytes(self.buf[8:8 + size])
            del self.buf[:8 + size]
            kind = kind if kind in self.streams else 1
            target = self.streams[kind]
            room = self.budget - len(target)
            if room < len(payload):
                self.truncated = True
                if self.keep_tail:
                    tail = self.tails[kind]
                    tail += payload[max(room, 0):]
                    del tail[:-self.budget]
            if room > 0:
                target += payload[:room]

    def take(self) -> tuple[bytes, bytes]:
        """Everything kept so far, clearing the buffers (and the truncated flag) for the next read."""
        out, err = bytes(self.streams[1] + self.tails[1]), bytes(self.streams[2] + self.tails[2])
        self.streams = {1: bytearray(), 2: bytearray()}
        self.tails = {1: bytearray(), 2: bytearray()}
        return out, err


def _read_frames(raw: socket.socket, deadline: float, budget: int) -> tuple[bytes, bytes, bool, bool]:
    reader = FrameReader(raw, budget)
    finished = reader.pump(deadline)
    out, err = reader.take()
    return out, err, not finished, reader.truncated
