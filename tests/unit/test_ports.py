"""Rendezvous ports (rl/ports.py) stay out of the OS's ephemeral range and Ray's worker ports, and are bindable."""
from __future__ import annotations

import random
import socket

from rl.ports import RAY_WORKER_PORTS_END, ephemeral_range, free_port


def test_free_ports_avoid_the_ephemeral_and_ray_worker_ranges():
    lo, hi = ephemeral_range()
    state = random.getstate()
    ports = {free_port() for _ in range(50)}
    assert random.getstate() == state  # the run's seeded stream is untouched
    assert all(not lo <= p <= hi and p > RAY_WORKER_PORTS_END for p in ports)
    assert len(ports) > 40  # drawn at random, not one fixed port
    port = ports.pop()
    with socket.socket() as s:
        s.bind(("", port))
        s.listen()
