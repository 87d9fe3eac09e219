"""Sequence packing: several conversations per row, with no attention and no loss across their boundaries.

A packed row concatenates examples; `position_ids` restart at 0 for each example, and `targets` are shifted per
example (the last token of an example predicts nothing, so it never learns to predict the next example's first
token). Attention isolation, chosen by `data.attention`:
- `position_ids`: no attention mask and no KV cache are passed; transformers (5.x) detects the restarts in
  position_ids and builds a block-diagonal causal mask (sdpa/eager) or uses varlen kernels (flash-attention).
- `mask4d`: an explicit additive block-diagonal causal mask [B, 1, L, L] (0 = attend, dtype-min = blocked).
Padding at the end of a row forms its own segment with targets -100.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from sft.data import IGNORE, SFTExample


@dataclass
class PackedBatch:
    """input_ids, position_ids, targets, segment_ids: [B, L]. targets[b, t] is the token position t must predict
    (-100: none). segment_ids numbers the examples in a row (padding gets its own id). topk_ids, topk_probs:
    [B, L, k] a teacher's next-token top-k at position t (probabilities 0 where there is none), or None."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    targets: torch.Tensor
    segment_ids: torch.Tensor
    topk_ids: torch.Tensor | None = None
    topk_probs: torch.Tensor | None = None

    @property
    def num_targets(self) -> int:
        return int((self.targets != IGNORE).sum())

    def to(self, device: torch.device) -> "PackedBatch":
        return PackedBatch(*(t.to(device) if t is not None else None for t in (
            self.input_ids, self.position_ids, self.targets, self.segment_ids, self.topk_ids, self.topk_probs)))


def pack_examples(examples: list[SFTExample], pack_len: int) -> list[list[SFTExample]]:
    """Group examples into rows of at most `pack_len` tokens: first-fit in decreasing length order
    (deterministic). An example longer than pack_len gets a row of its own."""
    rows: list[list[SFTExample]] = []
    room: list[int] = []
    for ex in sorted(examples, key=lambda e: len(e.input_ids), reverse=True):
        n = len(ex.input_ids)
        for i, free in enumerate(room):
            if n <= free:
                rows[i].append(ex)
                room[i] -= n
                break
        else:
            rows.append([ex])
            room.append(pack_len - n)
    return rows


def shifted_targets(ex: SFTExample) -> list[int]:
    """targets[t] = labels[t + 1] inside the example; the last position predicts nothing."""
    return ex.labels[1:] + [IGNORE]


def collate(rows: list[list[SFTExample]], pad_id: int, length: int | None = None) -> PackedBatch:
    """Rows of examples -> right-padded tensors of width `length` (default: the longest row)."""
    width = length or max(sum(len(e.input_ids) for e in row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    tgt = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    seg = torch.zeros((len(rows), width), dtype=torch.long)
    for b, row in enumerate(rows):
        t = 0
        for s, ex in enumerate(row):
            n = len(ex.input_ids)
            ids[b, t:t + n] = torch.tensor(ex.input_ids)
            pos[b, t:t + n] = torch.arange(n)
            tgt[b, t:t + n] = torch.tensor(shifted_targets(ex))
            seg[b, t:t + n] = s
            t += n
        pos[b, t:] = torch.arange(width - t)
        seg[b, t:] = len(row)
    return PackedBatch(ids, pos, tgt, seg, *_collate_topk(rows, width))


def _collate_topk(rows: list[list[SFTExample]], width: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Teacher top-k of the examples that have one, at their positions in the packed rows."""
    k = next((e.topk_ids.shape[1] for row in rows for e in row if e.topk_ids is not None), 0)
    if not k:
        return None, None
    ids = torch.zeros((len(rows), width, k), dtype=torch.long)
    probs = torch.zeros((len(rows), width, k))
    for b, row in enumerate(rows):
        t = 0
        for ex in row:
            n = len(ex.input_ids)
            if ex.topk_ids is not None:
                ids[b, t:t + n], probs[b, t:t + n] = ex.topk_ids, ex.topk_probs
            t += n
    return ids, probs


def block_causal_mask(segment_ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, L] segment ids -> additive mask [B, 1, L, L]: query i sees key j iff j <= i in the same segment."""
    length = segment_ids.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=segment_ids.device).tril()
    same = segment_ids[:, :, None] == segment_ids[:, None, :]
    allowed = (same & causal)[:, None]
    mask = torch.zeros(allowed.shape, dtype=dtype, device=segment_ids.device)
    return mask.masked_fill(~allowed, torch.finfo(dtype).min)


def model_inputs(batch: PackedBatch, attention: str, dtype: torch.dtype) -> dict[str, object]:
    """Keyword arguments for a HF causal LM forward on a packed batch (see the module docstring)."""
    # use_cache=False: with a cache object transformers skips the packed-sequence detection of position_ids
    inputs = {"input_ids": batch.input_ids, "position_ids": batch.position_ids, "use_cache": False}
    if attention == "mask4d":
        inputs["attention_mask"] = block_causal_mask(batch.segment_ids, dtype)
    return inputs


def distill_loss_sums(logits: torch.Tensor, batch: PackedBatch, alpha: float,
                      temperature: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss sum, NLL sum, KD sum) over trained positions. Where a teacher top-k exists (probs sum > 0) a
    position's loss is (1 - alpha) * NLL + alpha * KD with KD = -sum_j q_j log p_student(j) at `temperature`
    (q: the teacher's renormalised top-k); elsewhere it is the NLL alone. logits [B, L, V]."""
    nll = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), batch.targets.flatten(),
                                            ignore_index=IGNORE, reduction="none").view_as(batch.targets)
    if batch.topk_ids is None:
        return nll.sum(), nll.sum(), nll.new_zeros(())
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    kd = -(batch.topk_probs * logp.gather(-1, batch.topk_ids)).sum(-1)  # [B, L]
    has = (batch.topk_probs.sum(-1) > 0) & (batch.targets != IGNORE)
    weight = torch.where(has, 1.0 - alpha, 1.0)
    return (weight * nll).sum() + alpha * (kd * has).sum(), nll.sum(), (kd * has).sum()
