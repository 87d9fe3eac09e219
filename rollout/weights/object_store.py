"""`rollout.weight_sync=object_store`: rank 0's weights as a zero-copy payload in Ray's object store; every engine
reads it from there (CPU, colocated GPUs, cross-node). The message is the payload itself, assembled in host memory
bucket by bucket (a ZeRO-3 learner gathers one bucket at a time on its device)."""
from __future__ import annotations

from typing import Any

from rollout.weights.base import SyncSpec, WeightReceiver, WeightSender
from rollout.weights.payload import WeightPayload, pack, unpack
from rollout.weights.source import WeightSource, weight_plan


class ObjectStoreSender(WeightSender):
    def open(self, spec: SyncSpec, source: WeightSource) -> None:
        self._plan = weight_plan(source, spec.bucket_mb)
        return None

    def send(self, source: WeightSource) -> WeightPayload:
        payload: WeightPayload = {}
        for tensors in source.buckets(self._plan):
            payload.update(pack({k: v.detach().to("cpu", copy=True) for k, v in tensors.items()}))
        return payload


class ObjectStoreReceiver(WeightReceiver):
    def open(self, engine: Any, spec: SyncSpec, rank: int) -> None:
        return None

    def receive(self, engine: Any, message: WeightPayload, handshake: Any, version: int) -> None:
        engine.update_weights(unpack(message), version)
