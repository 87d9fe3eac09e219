"""Warm pool of hardened containers: started ahead, one job at a time each, recycled when they misbehave or
after `max_uses`, with backpressure (a caller waits for a free container; nothing queues without bound)."""
from __future__ import annotations

import atexit
import os
import queue
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from sandboxes.container import Sandbox
from sandboxes.docker_client import SandboxUnavailable, docker_client, reap_orphans
from sandboxes.limits import SandboxLimits

SLOTS_PER_CORE = 3


def default_pool_size() -> int:
    """SLOTS_PER_CORE containers per core. A container judges one sample at a time (concurrent samples in one
    container would share a uid, so could see each other), and a sample that loops holds its container for its
    whole case timeout (seconds, against ~10 ms for a normal one). With one container per core, two loops on two
    cores stopped all judging for that long: a messy batch (scripts/bench/sandboxes.py --mix messy) ran at 32
    samples/s against 309 clean. Idle containers cost no CPU, and a waiting loop needs none."""
    return max(1, SLOTS_PER_CORE * (os.cpu_count() or 1))


class SandboxPool:
    """`with pool.sandbox() as sb: sb.exec(...)`; mark `sb.dead` (or let a deadline kill it) to get it replaced.

    prepare: optional hook run on each fresh container before it is handed out (for example seeding files).
    """

    def __init__(self, image: str, limits: SandboxLimits, size: int | None = None, max_uses: int = 200,
                 judge_dir: bool = False, prepare: Callable[[Sandbox], None] | None = None) -> None:
        self.image, self.limits, self.judge_dir, self.prepare = image, limits, judge_dir, prepare
        self.size = size or default_pool_size()
        self.max_uses = max_uses
        self.recycled = 0
        self.started = 0
        self._ready: queue.Queue[Sandbox] = queue.Queue()
        self._all: set[Sandbox] = set()
        self._lock = threading.Lock()
        self._closed = False
        docker_client()
        reap_orphans()
        self._check_image()
        for _ in range(self.size):
            self._ready.put(self._start())
        atexit.register(self.close)

    def _check_image(self) -> None:
        import docker

        try:
            docker_client().images.get(self.image)
        except docker.errors.ImageNotFound as exc:
            raise SandboxUnavailable(f"sandbox image {self.image} is missing. Fix: `bash scripts/build_sandbox_images.sh` "
                                     "(offline build, cached)") from exc

    def _start(self) -> Sandbox:
        sb = Sandbox(self.image, self.limits, judge_dir=self.judge_dir)
        with self._lock:
            self._all.add(sb)
            self.started += 1
        if self.prepare is not None:
            self.prepare(sb)
        return sb

    def _retire(self, sb: Sandbox) -> None:
        sb.kill()
        with self._lock:
            self._all.discard(sb)
            self.recycled += 1

    def acquire(self, timeout: float | None = None) -> Sandbox:
        """Take a warm container; waits (backpressure) while all are busy. Pair with `release`."""
        if self._closed:
            raise RuntimeError("sandbox pool is closed")
        try:
            return self._ready.get(timeout=timeout)
        except queue.Empty as exc:
            raise TimeoutError(f"no free sandbox within {timeout} s (pool size {self.size})") from exc

    def release(self, sb: Sandbox, reusable: bool = True) -> None:
        """Give a container back; it is replaced by a fresh one when dead, not reusable, or worn out."""
        sb.uses += 1
        if not reusable or sb.dead or sb.uses >= self.max_uses:
            self._retire(sb)
            if self._closed:
                return
            sb = self._start()
        self._ready.put(sb)

    @contextmanager
    def sandbox(self, timeout: float | None = None) -> Iterator[Sandbox]:
        """`with pool.sandbox() as sb:`; an exception inside recycles the container."""
        sb = self.acquire(timeout)
        ok = False
        try:
            yield sb
            ok = True
        finally:
            self.release(sb, reusable=ok)

    def close(self) -> None:
        """Remove every container of this pool."""
        self._closed = True
        with self._lock:
            boxes = list(self._all)
            self._all.clear()
        for sb in boxes:
            sb.kill()
