"""TrainBatch: trajectories padded into tensors for the learner. Crosses the driver -> learner boundary.

Token-aligned tensors have shape [B, L-1]: position t describes token input_ids[:, t+1] (the token predicted
from prefix [:t+1]), which is what logits[:, :-1] score.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Sequence

import torch

from rollout.types import Trajectory


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`t` on `device`; to a GPU through pinned memory without blocking, so the copy does not wait for the kernels
    already queued (a copy from pageable memory drains the GPU's queue first)."""
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


@dataclass
class TrainBatch:
    """input_ids, attention_mask: [B, L] long (right-padded prompt+response).
    response_mask: [B, L-1] float, 1 on response tokens that carry loss (loss_mask 1 and a valid reward).
    rollout_logprobs, old_logprobs, ref_logprobs, advantages, values, returns: [B, L-1] float (0 off the response);
    values are the critic's V(s_t) before its update, returns its regression targets.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_mask: torch.Tensor
    rollout_logprobs: torch.Tensor
    advantages: torch.Tensor
    old_logprobs: torch.Tensor
    ref_logprobs: torch.Tensor
    values: torch.Tensor
    returns: torch.Tensor

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def select(self, index: torch.Tensor | Sequence[int]) -> "TrainBatch":
        """Rows `index`, trimmed to the longest remaining sequence."""
        idx = torch.as_tensor(index, dtype=torch.long)
        width = int(self.attention_mask[idx].sum(-1).max().item()) if len(idx) else 1
        out = {}
        for f in fields(self):
            t = getattr(self, f.name)[idx]
            out[f.name] = t[:, :width] if f.name in ("input_ids", "attention_mask") else t[:, : max(width - 1, 0)]
        return TrainBatch(**out)

    def chunks(self, size: int) -> list["TrainBatch"]:
        return [self.select(range(s, min(s + size, len(self)))) for s in range(0, len(self), size)]

    def lengths(self) -> list[int]:
        """Real tokens per row. Read it from the CPU copy: on a GPU, reading it waits for every queued kernel."""
        return self.attention_mask.sum(-1).tolist()

    def to(self, device: torch.device) -> "TrainBatch":
        """This batch on `device` (`to_device`: copying the next micro-batch does not wait for the GPU)."""
        return TrainBatch(**{f.name: to_device(getattr(self, f.name), device) for f in fields(self)})

    def with_(self, **tensors: torch.Tensor) -> "TrainBatch":
        """A copy with some [B, L-1] fields replaced."""
        return replace(self, **tensors)


def build_batch(trajs: Sequence[Trajectory], valid: torch.Tensor, pad_id: int,
                advantages: torch.Tensor | None = None) -> TrainBatch:
    """Pad trajectories. valid: [N] 0/1 (0 masks the whole trajectory); advantages: optional [N] per trajectory,
    broadcast to its response tokens (token-level advantages, e.g. GAE, are set later with `with_`)."""
    lengths = [len(t.prompt_ids) + len(t.response_ids) for t in trajs]
    B, L = len(trajs), max(lengths)
    input_ids = torch.full((B, L), pad_id, dtype=torch.long)
    attention = torch.zeros((B, L), dtype=torch.long)
    resp_mask = torch.zeros((B, L - 1))
    rollout_lp = torch.zeros((B, L - 1))
    adv = torch.zeros((B, L - 1))
    for i, t in enumerate(trajs):
        P, T = len(t.prompt_ids), len(t.response_ids)
        input_ids[i, : P + T] = torch.tensor(t.prompt_ids + t.response_ids, dtype=torch.long)
        attention[i, : P + T] = 1
        if T == 0:
            continue
        span = slice(P - 1, P - 1 + T)  # logits position predicting response token k is P-1+k
        resp_mask[i, span] = torch.tensor(t.loss_mask, dtype=torch.float) * float(valid[i])
        rollout_lp[i, span] = torch.tensor(t.rollout_logprobs, dtype=torch.float)
        if advantages is not None:
            adv[i, span] = float(advantages[i])
    zeros = torch.zeros_like(rollout_lp)
    return TrainBatch(input_ids, attention, resp_mask, rollout_lp, adv, zeros, zeros, zeros, zeros)


def broadcast_per_trajectory(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[N] per-trajectory values -> [N, S] on the response mask."""
    return values.float().unsqueeze(-1) * mask
