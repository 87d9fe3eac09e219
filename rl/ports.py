"""Free TCP ports for the rendezvous of learner ranks and weight-sync groups.

A port is chosen by the driver and bound seconds later by an actor, so it must not be one the OS hands out meanwhile:
an ephemeral port (Ray's gRPC clients open connections all the time, each on an ephemeral port) was seen taken in
that window (EADDRINUSE in a resumed run's learner rendezvous). Ports come from below the ephemeral range and above
Ray's worker ports (10002-19999 by default), drawn at random (several drivers on one node rarely collide) and
checked bindable.
"""
from __future__ import annotations

import os
import random
import socket
from pathlib import Path

RAY_WORKER_PORTS_END = 19999  # ray start --max-worker-port default
_rng = random.Random(os.urandom(16))  # private: the run's seeded `random` stream stays untouched


def ephemeral_range() -> tuple[int, int]:
    """The OS's ephemeral port range (Linux /proc; the Linux default elsewhere)."""
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def free_port(tries: int = 64) -> int:
    """A currently bindable port outside the ephemeral range (an OS-assigned one if none is found)."""
    lo, hi = ephemeral_range()
    spans = [(RAY_WORKER_PORTS_END + 1, lo - 1), (hi + 1, 65535)]
    spans = [(a, b) for a, b in spans if b - a >= 256]
    for _ in range(tries if spans else 0):
        a, b = _rng.choice(spans)
        port = _rng.randint(a, b)
        if _bindable(port):
            return port
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]
