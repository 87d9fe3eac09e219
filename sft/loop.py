"""One SFT optimizer step, the eval loss, and the HF checkpoint, on a DeepSpeed engine (rl/deepspeed_setup.py)."""
from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.distributed as dist

from rl.deepspeed_setup import step_micro
from sft.batching import Row, Step
from sft.packing import collate, model_inputs, token_nll_sum


def _dtype(engine) -> torch.dtype:
    return next(engine.module.parameters()).dtype


def _all_sum(values: list[float], device: torch.device, world: int) -> list[float]:
    if world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def _forward_nll(engine, rows: list[Row], pad_id: int, attention: str, device: torch.device):
    batch = collate(rows, pad_id).to(device)
    logits = engine(**model_inputs(batch, attention, _dtype(engine))).logits
    tokens = int((batch.segment_ids < torch.tensor([len(r) for r in rows], device=device)[:, None]).sum())
    return token_nll_sum(logits, batch.targets), batch.num_targets, tokens


def train_step(step: Step, engine, device: torch.device, pad_id: int, attention: str, rank: int,
               world: int) -> dict[str, float]:
    """Forward/backward over this rank's micro-batches of `step`, then the optimizer step. Metrics are global."""
    engine.train()
    t0 = time.perf_counter()
    lr = float(engine.get_lr()[0])  # the LR this step uses (the scheduler advances at the step)
    gas = len(step.micro[rank])
    nll, targets, tokens = 0.0, 0, 0
    for rows in step.micro[rank]:
        loss_sum, n_tgt, n_tok = _forward_nll(engine, rows, pad_id, attention, device)
        step_micro(engine, loss_sum / step.normalizer, gas, world)
        nll, targets, tokens = nll + loss_sum.item(), targets + n_tgt, tokens + n_tok
    nll, targets, tokens = _all_sum([nll, targets, tokens], device, world)
    seconds = time.perf_counter() - t0
    grad_norm = engine.get_global_grad_norm()
    return {"train/loss": nll / max(targets, 1), "train/lr": lr,
            "train/grad_norm": float(grad_norm) if grad_norm is not None else float("nan"),
            "train/target_tokens": targets, "throughput/tokens_per_s": tokens / seconds, "time/step_s": seconds}


@torch.no_grad()
def evaluate(rows: list[Row], micro_batch_size: int, engine, device: torch.device, pad_id: int, attention: str,
             rank: int, world: int) -> float:
    """Token-mean NLL of the assistant tokens of `rows` (each rank scores rows[rank::world])."""
    engine.eval()
    mine = rows[rank::world]
    nll, targets = 0.0, 0
    for start in range(0, len(mine), micro_batch_size):
        loss_sum, n_tgt, _ = _forward_nll(engine, mine[start:start + micro_batch_size], pad_id, attention, device)
        nll, targets = nll + loss_sum.item(), targets + n_tgt
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
