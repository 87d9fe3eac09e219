"""Learner -> engine weight sync as a backend family (`rollout.weight_sync`).

Each backend is one module with both halves:
- a `WeightSender`, living in the learner's rank-0 process: `open` once (returns a handshake every receiver
  needs, e.g. the bucket plan), then per sync `send` (returns the message receivers load from, or None when the
  bytes travel through a collective) and `release` (after every receiver has loaded). It reads the weights from a
  `WeightSource` (source.py) bucket by bucket: a ZeRO-3 learner gathers one bucket's shards at a time, with every
  rank taking part, so no rank holds the whole model on its device;
- a `WeightReceiver`, living in each rollout worker: `open` once against the worker's engine (returns what the
  driver checks, e.g. the GPU id), then per sync `receive(engine, message, handshake, version)`.

The driver (rl/weight_sync.py) only moves handshakes and messages between the two and never knows what is in them.
`setup_weight_sender(spec)` / `setup_weight_receiver(spec)` pick the implementation by `spec.method`; the
modules never import each other (shared pieces live in buckets.py, payload.py and broadcast.py).
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from rollout.weights.source import WeightSource

# method -> (module, sender class, receiver class)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "object_store": ("rollout.weights.object_store", "ObjectStoreSender", "ObjectStoreReceiver"),
    "nccl": ("rollout.weights.nccl", "NcclSender", "NcclReceiver"),
    "gloo": ("rollout.weights.gloo", "GlooSender", "GlooReceiver"),
    "cuda_ipc": ("rollout.weights.cuda_ipc", "IpcSender", "IpcReceiver"),
}


@dataclass(frozen=True)
class SyncSpec:
    """What both halves agree on before the first sync. host/port: the sender's rendezvous address (collective
    backends only); world_size: 1 sender + the receivers; bucket_mb: bucket size of bucketed backends."""

    method: str
    world_size: int
    bucket_mb: int = 256
    host: str = ""
    port: int = 0


class WeightSender(ABC):
    """The learner's half. `streams`: True when send() and the receivers' receive() must run at the same time
    (a collective); False when receivers read the message send() returned (object store, IPC handles)."""

    streams: bool = False

    @abstractmethod
    def open(self, spec: SyncSpec, source: WeightSource) -> Any:
        """Set up once, from the weights' names/shapes/dtypes; returns the handshake receivers get with each sync."""

    @abstractmethod
    def send(self, source: WeightSource) -> Any:
        """Push the current weights, read bucket by bucket (`weight_plan(source, spec.bucket_mb)`); returns the
        message receivers load from (None for collectives)."""

    def release(self) -> None:
        """Every receiver has loaded this sync's weights: free what send() kept alive."""

    def close(self) -> None:
        """Tear down communicators."""

    @classmethod
    def check_peers(cls, handshake: Any, receiver_infos: list[Any]) -> str | None:
        """A message when the receivers cannot use this backend (e.g. on another GPU), else None."""
        return None


class WeightReceiver(ABC):
    """The rollout worker's half; it loads into the worker's engine (which may itself live in other processes)."""

    @abstractmethod
    def open(self, engine: Any, spec: SyncSpec, rank: int) -> Any:
        """Set up once as receiver `rank` (1..world_size-1); returns what the sender's check_peers inspects."""

    @abstractmethod
    def receive(self, engine: Any, message: Any, handshake: Any, version: int) -> None:
        """Load one sync's weights into `engine` and tag them `version`."""

    def close(self) -> None:
        """Tear down communicators."""


def _backend(method: str) -> tuple[Any, str, str]:
    if method not in BACKENDS:
        raise ValueError(f"rollout.weight_sync: {method!r} is not one of {sorted(BACKENDS)}")
    module, sender, receiver = BACKENDS[method]
    return importlib.import_module(module), sender, receiver


def sender_class(method: str) -> type[WeightSender]:
    module, sender, _ = _backend(method)
    return getattr(module, sender)


def setup_weight_sender(spec: SyncSpec) -> WeightSender:
    """The learner-side half of `spec.method`."""
    return sender_class(spec.method)()


def setup_weight_receiver(spec: SyncSpec) -> WeightReceiver:
    """The rollout-side half of `spec.method`."""
    module, _, receiver = _backend(spec.method)
    return getattr(module, receiver)()
