"""DeepSpeed plumbing shared by every learner role (actor, critic, and sft/ later): rank environment, the
DeepSpeed config built from a role's sub-config, and the engine."""
from __future__ import annotations

import os
from typing import Any

import torch

from rl.config_schema import LearnerRoleConfig


def init_rank(rank: int, world_size: int, master_addr: str, master_port: int, threads: int, seed: int) -> torch.device:
    """Set the torch.distributed environment of this process and initialise DeepSpeed's process group
    (NCCL on GPUs, gloo on CPU). Returns the device this rank computes on."""
    import deepspeed

    os.environ.update(MASTER_ADDR=master_addr, MASTER_PORT=str(master_port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK="0")
    torch.set_num_threads(threads if threads > 0 else (os.cpu_count() or 1))
    torch.manual_seed(seed + rank)
    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    deepspeed.init_distributed(dist_backend="nccl" if device.type == "cuda" else "gloo")
    return device


def deepspeed_config(cfg: LearnerRoleConfig, dtype: str, gas: int) -> dict[str, Any]:
    """AdamW (torch implementation: no JIT build), linear warm-up then constant LR, ZeRO stage, mixed precision."""
    return {
        "train_micro_batch_size_per_gpu": cfg.micro_batch_size,
        "gradient_accumulation_steps": gas,
        "gradient_clipping": cfg.grad_clip,
        "zero_optimization": {"stage": cfg.zero_stage},
        "bf16": {"enabled": dtype == "bfloat16"},
        "fp16": {"enabled": dtype == "float16"},
        "optimizer": {"type": "AdamW", "params": {
            "lr": cfg.lr, "betas": list(cfg.betas), "weight_decay": cfg.weight_decay, "torch_adam": True}},
        "scheduler": {"type": "WarmupLR", "params": {
            "warmup_min_lr": 0.0, "warmup_max_lr": cfg.lr, "warmup_num_steps": max(cfg.warmup_steps, 1),
            "warmup_type": "linear"}},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


def build_engine(model: torch.nn.Module, cfg: LearnerRoleConfig, dtype: str, gas: int):
    import deepspeed

    engine, *_ = deepspeed.initialize(model=model, model_parameters=[p for p in model.parameters() if p.requires_grad],
                                      config=deepspeed_config(cfg, dtype, gas))
    return engine


def step_micro(engine, loss: torch.Tensor, gas: int, world_size: int) -> None:
    """Backward + (boundary) step for a micro-batch whose loss is already normalised by the *global* mini-batch
    count: DeepSpeed divides by GAS and averages over ranks, so undo both."""
    engine.backward(loss * gas * world_size)
    engine.step()
