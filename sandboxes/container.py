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

from sandboxes.engine import LABEL, OWNER_LABEL, docker_client, owner_id
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

    def kill(self) -> None:
        """Remove the container (SIGKILL); safe to call twice."""
        if self.dead:
            return
        self.dead = True
        try:
            self.container.remove(force=True)
        except Exception:  # noqa: BLE001 - already gone
            pass


def _read_frames(raw: socket.socket, deadline: float, budget: int) -> tuple[bytes, bytes, bool, bool]:
    """Demultiplex Docker's stream framing (8-byte header: stream id, 3 pad bytes, big-endian size) until EOF or
    the deadline. Bytes past `budget` per stream are read and dropped (truncated=True)."""
    buf = bytearray()
    streams = {1: bytearray(), 2: bytearray()}
    truncated = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(streams[1]), bytes(streams[2]), True, truncated
        ready, _, _ = select.select([raw], [], [], left)
        if not ready:
            continue
        chunk = raw.recv(1 << 16)
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 8:
            kind, size = buf[0], struct.unpack(">I", bytes(buf[4:8]))[0]
            if len(buf) < 8 + size:
                break
            payload = bytes(buf[8:8 + size])
            del buf[:8 + size]
            target = streams.get(kind, streams[1])
            room = budget - len(target)
            if room < len(payload):
                truncated = True
            if room > 0:
                target += payload[:room]
    return bytes(streams[1]), bytes(streams[2]), False, truncated
