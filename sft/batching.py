"""The optimizer-step plan of an SFT run: which packed rows each rank trains on in each micro-batch.

Every rank builds the same plan (same seed), so the global target-token count of a step, the loss normaliser,
is known everywhere without communication: each micro-batch loss is `nll_sum / N_step`, and
`rl.deepspeed_setup.step_micro` undoes DeepSpeed's division by grad-accumulation steps and world size, so any
split of a step over micro-batches and ranks gives the gradient of the step's token-mean loss.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from sft.data import SFTExample

log = logging.getLogger(__name__)
Row = list[SFTExample]  # one packed row


@dataclass
class Step:
    """micro[rank][k]: the rows of rank `rank`'s k-th micro-batch; normalizer: target tokens in the whole step."""

    micro: list[list[list[Row]]]
    normalizer: int
    epoch: int


def _split(items: list, parts: int) -> list[list]:
    """`items` in `parts` contiguous chunks whose sizes differ by at most one."""
    q, r = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + q + (1 if i < r else 0)
        out.append(items[start:end])
        start = end
    return out


def row_targets(row: Row) -> int:
    return sum(e.num_targets for e in row)


def plan_steps(rows: list[Row], micro_batch_size: int, grad_accum: int, world_size: int, epochs: int,
               max_steps: int, seed: int) -> list[Step]:
    """Shuffle the rows each epoch, cut them into steps of micro_batch_size * grad_accum * world_size rows, and
    split each step evenly over ranks and micro-batches. A last partial step is kept when every micro-batch
    still gets a row; otherwise its rows wait for the next epoch's shuffle (counted in the log)."""
    per_step = micro_batch_size * grad_accum * world_size
    slots = grad_accum * world_size
    if len(rows) < slots:
        raise ValueError(f"optim.grad_accum_steps x world size = {slots} micro-batches per step, but the data has only "
                         f"{len(rows)} rows; lower optim.grad_accum_steps or add data")
    steps: list[Step] = []
    dropped = 0
    for epoch in range(epochs):
        order = list(rows)
        random.Random(seed + epoch).shuffle(order)
        for start in range(0, len(order), per_step):
            chunk = order[start:start + per_step]
            if len(chunk) < slots:
                dropped += len(chunk)
                continue
            micro = _split(chunk, slots)
            ranks = [micro[r * grad_accum:(r + 1) * grad_accum] for r in range(world_size)]
            steps.append(Step(ranks, sum(row_targets(r) for r in chunk), epoch))
            if max_steps and len(steps) == max_steps:
                return steps
    if dropped:
        log.info("sft plan: %d rows fell in partial last steps and were skipped in their epoch", dropped)
    return steps
