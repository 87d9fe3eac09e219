"""Padding-free micro-batches for the learners: sequences of a micro-batch are concatenated into one row with
position ids restarting at 0 per sequence, so no FLOP is spent on padding; attention never crosses sequences
(transformers builds a block-diagonal causal mask from the restarting position ids: varlen/flex kernels where
the attention implementation has them). Per-token outputs are scattered back into the [B, L-1] layout of
rl/batch.py, so losses and normalisations are computed exactly as on the padded batch.

Token-budget micro-batching: a mini-batch shard is cut into micro-batches of at most `max_tokens` real tokens
(a sequence longer than the budget is a micro-batch of its own), instead of a fixed number of sequences.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from rl.batch import TrainBatch, to_device


@dataclass
class Packed:
    """One packed row. input_ids, position_ids: [1, T]; lengths: real tokens per sequence (B of them)."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    lengths: list[int]


def pack(input_ids: torch.Tensor, attention_mask: torch.Tensor, lengths: list[int] | None = None) -> Packed:
    """Right-padded [B, L] rows -> one row of their real tokens. `lengths` (real tokens per row), when the caller has
    them on the host, saves reading the mask back from the GPU (a sync)."""
    if lengths is None:
        lengths = attention_mask.sum(-1).tolist()
    ids = torch.cat([input_ids[i, :n] for i, n in enumerate(lengths)]).unsqueeze(0)
    pos = torch.cat([torch.arange(n, device=input_ids.device) for n in lengths]).unsqueeze(0)
    return Packed(ids, pos, [int(n) for n in lengths])


def unpack(flat: torch.Tensor, lengths: list[int], width: int, next_token: bool = True) -> torch.Tensor:
    """Per-position values of the packed row ([T]) -> [B, width] in the padded layout. With `next_token` (position
    j scores token j+1) each sequence's last position, which would predict across the boundary, is dropped.
    Differentiable (an index_put into zeros)."""
    B = len(lengths)
    out = flat.new_zeros((B, width))
    rows, cols, src = [], [], []
    start = 0
    for i, n in enumerate(lengths):
        k = min(max(n - int(next_token), 0), width)
        rows.append(torch.full((k,), i, dtype=torch.long))
        cols.append(torch.arange(k))
        src.append(torch.arange(start, start + k))
        start += n
    r, c, s = to_device(torch.stack([torch.cat(x) for x in (rows, cols, src)]), flat.device)
    return out.index_put((r, c), flat[s])


def _budget_groups(lengths: list[int], max_tokens: int) -> list[list[int]]:
    groups: list[list[int]] = []
    used = 0
    for i, n in enumerate(lengths):
        if groups and used + n <= max_tokens:
            groups[-1].append(i)
            used += n
        else:
            groups.append([i])
            used = n
    return groups


def budget_count(batch: TrainBatch, max_tokens: int) -> int:
    """How many token-budget micro-batches `batch` needs."""
    return len(_budget_groups(batch.attention_mask.sum(-1).tolist(), max_tokens))


def token_budget_chunks(batch: TrainBatch, max_tokens: int, count: int | None = None) -> list[TrainBatch | None]:
    """Consecutive rows grouped so each group holds at most `max_tokens` real tokens (at least one row each).

    `count`: exactly this many micro-batches (every data-parallel rank must run the same number of forward and
    backward passes: ZeRO reduces gradients, and ZeRO-3 gathers parameters, in each of them). Groups are split
    (the one with most tokens first) until there are `count`; a rank with fewer rows than `count` gets None
    entries, for which the learner runs an idle pass that contributes nothing."""
    lengths = batch.attention_mask.sum(-1).tolist()
    groups = _budget_groups(lengths, max_tokens)
    while count is not None and len(groups) < count:
        splittable = [g for g in groups if len(g) > 1]
        if not splittable:
            break
        g = max(splittable, key=lambda rows: sum(lengths[r] for r in rows))
        half, acc, total = 1, 0, sum(lengths[r] for r in g)
        for k, r in enumerate(g[:-1]):
            acc += lengths[r]
            half = k + 1
            if acc * 2 >= total:
                break
        at = groups.index(g)
        groups[at: at + 1] = [g[:half], g[half:]]
    out: list[TrainBatch | None] = [batch.select(g) for g in groups]
    if count is not None:
        out += [None] * (count - len(out))
    return out
