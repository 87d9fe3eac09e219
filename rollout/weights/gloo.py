"""`rollout.weight_sync=gloo`: the same bucketed broadcast over gloo, for CPU learners and engines (the CPU twin of
nccl, so CI exercises the broadcast path, vLLM's worker extension included)."""
from __future__ import annotations

from rollout.weights.broadcast import BroadcastReceiver, BroadcastSender


class GlooSender(BroadcastSender):
    backend = "gloo"


class GlooReceiver(BroadcastReceiver):
    backend = "gloo"
