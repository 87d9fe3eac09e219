"""Connection to the Docker engine, with one clear error when none is reachable, and the reaper that removes
sandbox containers left behind by processes that died (a verifier process killed at its deadline, a crashed run)."""
from __future__ import annotations

import os
import socket
from functools import lru_cache

LABEL = "mispo.sandbox"
OWNER_LABEL = "mispo.owner"


class SandboxUnavailable(RuntimeError):
    """The Docker engine (or an image) is missing; the message says how to fix it."""


@lru_cache(maxsize=1)
def docker_client():
    """A docker SDK client for DOCKER_HOST (default: the local socket), checked with a ping."""
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure here means "no engine"
        raise SandboxUnavailable(
            f"no Docker engine reachable ({type(exc).__name__}: {str(exc)[:200]}). Fix: run "
            "`bash scripts/setup_docker.sh` (installs docker.io and starts dockerd; `make test` and `make train` do "
            "it), or point DOCKER_HOST at a running engine") from exc
    return client


def owner_id() -> str:
    """Label value tying containers to this process: host name and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans() -> int:
    """Remove sandbox containers whose owner process on this host is gone. Returns how many were removed.

    Best effort and race-free: it reads labels from one list call (no per-container inspect, which fails with
    404 when another pool removes a container in between) and ignores containers that vanish meanwhile."""
    api = docker_client().api
    host = socket.gethostname()
    removed = 0
    for c in api.containers(all=True, filters={"label": LABEL}):
        owner = (c.get("Labels") or {}).get(OWNER_LABEL, "")
        h, _, pid = owner.rpartition(":")
        if h == host and pid.isdigit() and not _pid_alive(int(pid)):
            try:
                api.remove_container(c["Id"], force=True)
                removed += 1
            except Exception:  # noqa: BLE001 - another reaper got it first
                pass
    return removed
