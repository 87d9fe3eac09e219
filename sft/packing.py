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
    (-100: none). segment_ids numbers the examples in a row (padding gets its own id)."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    targets: torch.Tensor
    segment_ids: torch.Tensor

    @property
    def num_targets(self) -> int:
        return int((self.targets != IGNORE).sum())

    def to(self, device: torch.device) -> "PackedBatch":
        return PackedBatch(*(t.to(device) for t in (self.input_ids, self.position_ids, self.targets,
                                                     self.segment_ids)))


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
    return PackedBatch(ids, pos, tgt, seg)


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


def token_nll_sum(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sum over positions of -log p(target) (positions with target -100 skipped). logits [B, L, V], targets [B, L]."""
    return torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE,
                                             reduction="sum")
