"""The orphan reaper: removes containers of dead owners, keeps live ones, and never fails when other pools create
and remove containers at the same time (the CI failure of session 2: a 404 from a per-container inspect)."""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest

pytestmark = pytest.mark.docker


def test_reaper_removes_dead_owners_only(python_image):
    from sandboxes.docker_client import LABEL, OWNER_LABEL, docker_client, owner_id, reap_orphans

    client = docker_client()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # that process has exited
    host = owner_id().rpartition(":")[0]
    mine = client.containers.run(python_image, ["sleep", "infinity"], detach=True, network_mode="none",
                                 labels={LABEL: "1", OWNER_LABEL: owner_id(), "mispo.test": "reaper"})
    orphan = client.containers.run(python_image, ["sleep", "infinity"], detach=True, network_mode="none",
                                   labels={LABEL: "1", OWNER_LABEL: f"{host}:{dead_pid}", "mispo.test": "reaper"})
    try:
        assert reap_orphans() >= 1
        left = {c["Id"] for c in client.api.containers(all=True, filters={"label": "mispo.test=reaper"})}
        assert mine.id in left and orphan.id not in left
    finally:
        for c in (mine, orphan):
            try:
                c.remove(force=True)
            except Exception:  # noqa: BLE001 - already reaped
                pass


def test_reaper_survives_concurrent_churn(python_image):
    """Pools in other threads create and remove containers while the reaper lists them."""
    from sandboxes.docker_client import reap_orphans
    from sandboxes.limits import SandboxLimits
    from sandboxes.pool import SandboxPool

    stop = threading.Event()
    errors: list[BaseException] = []
    pool = SandboxPool(python_image, SandboxLimits(wall_s=10.0), size=2, max_uses=1)

    def churn() -> None:
        try:
            while not stop.is_set():
                sb = pool.acquire(timeout=60)
                pool.release(sb, reusable=False)  # remove + start a fresh one
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=churn) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        for _ in range(40):
            reap_orphans()
    finally:
        stop.set()
        for w in workers:
            w.join()
        pool.close()
    assert not errors, errors
    assert pool.recycled > 0
