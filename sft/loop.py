"""One SFT optimizer step, the eval loss, and the HF checkpoint, on a DeepSpeed engine (rl/deepspeed_setup.py)."""
from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.distributed as dist

from rl.deepspeed_setup import step_micro
from sft.batching import Row, Step
from sft.packing import collate, distill_loss_sums, model_inputs


def _dtype(engine) -> torch.dtype:
    return next(engine.module.parameters()).dtype


def _all_sum(values: list[float], device: torch.device, world: int) -> list[float]:
    if world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def _forward(engine, rows: list[Row], pad_id: int, attention: str, device: torch.device,
             kd: tuple[float, float]):
    """(loss sum [grad], NLL sum, KD sum, trained positions, real tokens) of one micro-batch."""
    batch = collate(rows, pad_id).to(device)
    logits = engine(**model_inputs(batch, attention, _dtype(engine))).logits
    tokens = int((batch.segment_ids < torch.tensor([len(r) for r in rows], device=device)[:, None]).sum())
    loss, nll, kd_sum = distill_loss_sums(logits, batch, *kd)
    return loss, nll.item(), kd_sum.item(), batch.num_targets, tokens


def train_step(step: Step, engine, device: torch.device, pad_id: int, attention: str, rank: int, world: int,
               kd: tuple[float, float] = (0.0, 1.0)) -> dict[str, float]:
    """Forward/backward over this rank's micro-batches of `step`, then the optimizer step. Metrics are global.
    kd: (alpha, temperature) of token-level distillation (used where examples carry a teacher top-k)."""
    engine.train()
    t0 = time.perf_counter()
    lr = float(engine.get_lr()[0])  # the LR this step uses (the scheduler advances at the step)
    gas = len(step.micro[rank])
    sums = [0.0] * 5  # loss, nll, kd, targets, tokens
    for rows in step.micro[rank]:
        loss, *rest = _forward(engine, rows, pad_id, attention, device, kd)
        step_micro(engine, loss / step.normalizer, gas, world)
        sums = [a + b for a, b in zip(sums, [loss.item(), *rest])]
    loss, nll, kd_sum, targets, tokens = _all_sum(sums, device, world)
    seconds = time.perf_counter() - t0
    grad_norm = engine.get_global_grad_norm()
    out = {"train/loss": loss / max(targets, 1), "train/nll": nll / max(targets, 1), "train/lr": lr,
           "train/grad_norm": float(grad_norm) if grad_norm is not None else float("nan"),
           "train/target_tokens": targets, "throughput/tokens_per_s": tokens / seconds, "time/step_s": seconds}
    if kd[0] > 0:
        out["train/kd"] = kd_sum / max(targets, 1)
    return out


@torch.no_grad()
def evaluate(rows: list[Row], micro_batch_size: int, engine, device: torch.device, pad_id: int, attention: str,
             rank: int, world: int, kd: tuple[float, float] = (0.0, 1.0)) -> float:
    """Token-mean NLL of the assistant tokens of `rows` (each rank scores rows[rank::world])."""
    engine.eval()
    mine = rows[rank::world]
    nll, targets = 0.0, 0
    for start in range(0, len(mine), micro_batch_size):
        _, n, _, n_tgt, _ = _forward(engine, mine[start:start + micro_batch_size], pad_id, attention, device, kd)
        nll, targets = nll + n, targets + n_tgt
    nll, targets = _all_sum([nll, targets], device, world)
    return nll / max(targets, 1)


def save_checkpoint(engine, tokenizer, path: Path, rank: int) -> Path:
    """HF-format model + tokenizer, written by rank 0 (ZeRO 0-2 keep full parameters on every rank)."""
    if rank == 0:
        engine.module.save_pretrained(path)
        tokenizer.save_pretrained(path)
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()
    return path
