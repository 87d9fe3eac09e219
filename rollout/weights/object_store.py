"""`rollout.weight_sync=object_store`: rank 0's state dict as a zero-copy payload in Ray's object store; every
engine reads it from there (CPU, colocated GPUs, cross-node). The message is the payload itself."""
from __future__ import annotations

from typing import Any, Mapping

from rollout.weights.base import SyncSpec, WeightReceiver, WeightSender
from rollout.weights.payload import WeightPayload, pack, unpack


class ObjectStoreSender(WeightSender):
    def open(self, spec: SyncSpec, state_dict: Mapping[str, Any]) -> None:
        return None

    def send(self, state_dict: Mapping[str, Any]) -> WeightPayload:
        return pack({k: v.detach().to("cpu", copy=True) for k, v in state_dict.items()})


class ObjectStoreReceiver(WeightReceiver):
    def open(self, engine: Any, spec: SyncSpec, rank: int) -> None:
        return None

    def receive(self, engine: Any, message: WeightPayload, handshake: Any, version: int) -> None:
        engine.update_weights(unpack(message), version)
