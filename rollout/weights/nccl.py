"""`rollout.weight_sync=nccl`: bucketed NCCL broadcast from the learner's GPU to one GPU per engine."""
from __future__ import annotations

from rollout.weights.broadcast import BroadcastReceiver, BroadcastSender


class NcclSender(BroadcastSender):
    backend = "nccl"


class NcclReceiver(BroadcastReceiver):
    backend = "nccl"
