"""Stand-ins for the worker-fault tests (imported by Ray workers and verifier processes: tests/integration must be on
PYTHONPATH): a learner rank 0 that serves the weight-sync methods, and a slow verifier that says when it starts."""
from __future__ import annotations

import os
import time
import zlib
from pathlib import Path

from rewards.base import Verifier, VerifyRequest
from rewards.types import RewardResult


class SlowVerifier(Verifier):
    """Scores a hash of the response in [0, 1] after `delay_s`. With `mark_dir`, first touches mark_dir/<pid of the
    reward worker> (the verifier process's parent), so a test knows which reward worker is scoring."""

    name = "slow"

    def __init__(self, delay_s: float = 0.0, mark_dir: str = "") -> None:
        self.delay_s, self.mark_dir = delay_s, mark_dir

    def verify(self, request: VerifyRequest) -> RewardResult:
        if self.mark_dir:
            (Path(self.mark_dir) / str(os.getppid())).touch()
        time.sleep(self.delay_s)
        return RewardResult((zlib.crc32(request.response.encode()) % 1000) / 999)


class SenderStandIn:
    """Learner rank 0 stand-in: the tiny model's weights, moved by `step(seed)` (an "update"), served through the
    Learner's weight-sync methods (rl/learner.py: endpoint, open_weight_sender, send_weights, weights_sent) with
    the product's backends."""

    def __init__(self, path: str) -> None:
        from transformers import AutoModelForCausalLM

        self.model = AutoModelForCausalLM.from_pretrained(path)

    def step(self, seed: int, scale: float = 0.05) -> None:
        import torch

        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.model.parameters():
                p.add_(scale * torch.randn(p.shape, generator=gen))

    def _source(self):
        from rollout.weights.payload import without_tied
        from rollout.weights.source import StateDictSource

        return StateDictSource(without_tied(self.model.state_dict()))

    def endpoint(self) -> tuple[str, int]:
        import ray

        from rl.ports import free_port

        return ray.util.get_node_ip_address(), free_port()

    def open_weight_sender(self, spec):
        from rollout.weights.base import setup_weight_sender

        self.sender = setup_weight_sender(spec)
        return self.sender.open(spec, self._source())

    def send_weights(self):
        return self.sender.send(self._source())

    def weights_sent(self) -> None:
        self.sender.release()
