"""DeepSpeed plumbing shared by every learner role (actor, critic, and sft/ later): rank environment, the
DeepSpeed config built from a role's sub-config, and the engine."""
from __future__ import annotations

import math
import os
from typing import Any, Callable

import torch

from config.common import LearnerRoleConfig


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


def warmup_constant(warmup_steps: int) -> Callable[[int], float]:
    """LR multiplier of optimizer step s (0-based) for RL: (s+1)/warmup during warm-up, then 1. The first step
    already learns (DeepSpeed's WarmupLR starts at 0: with no warm-up configured the first step was wasted)."""
    def factor(s: int) -> float:
        return min(1.0, (s + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    return factor


def warmup_cosine(warmup_steps: int, total_steps: int, min_lr_ratio: float) -> Callable[[int], float]:
    """LR multiplier of optimizer step s (0-based): (s+1)/warmup during warm-up (the first step already learns),
    then a cosine from 1 down to min_lr_ratio at the last step (total_steps - 1)."""
    def factor(s: int) -> float:
        if s < warmup_steps:
            return (s + 1) / warmup_steps
        progress = min(1.0, (s - warmup_steps) / max(1, total_steps - 1 - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


def deepspeed_config(cfg: LearnerRoleConfig, dtype: str, gas: int, total_steps: int | None = None) -> dict[str, Any]:
    """AdamW (torch implementation: no JIT build), ZeRO stage and offload, mixed precision. The LR schedule is a
    torch LambdaLR that `build_engine` passes to DeepSpeed (warm-up then constant for RL, + cosine for SFT)."""
    config = {
        "train_micro_batch_size_per_gpu": cfg.micro_batch_size,
        "gradient_accumulation_steps": gas,
        "gradient_clipping": cfg.grad_clip,
        "zero_optimization": zero_config(cfg),
        "bf16": {"enabled": dtype == "bfloat16"},
        "fp16": {"enabled": dtype == "float16"},
        "optimizer": {"type": "AdamW", "params": {
            "lr": cfg.lr, "betas": list(cfg.betas), "weight_decay": cfg.weight_decay, "torch_adam": True}},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if getattr(cfg, "offload", "none") != "none":
        if getattr(cfg, "cpu_adam", False):   # DeepSpeedCPUAdam (JIT-built), required for a partial offload ratio
            config["optimizer"]["params"]["torch_adam"] = False
        else:
            config["zero_force_ds_cpu_optimizer"] = False  # torch AdamW on the offloaded fp32 master weights
    return config


def zero_config(cfg: LearnerRoleConfig, with_optimizer: bool = True) -> dict[str, Any]:
    """The `zero_optimization` section: the stage, ZeRO-3's persistence threshold, CPU offload of the optimizer
    state (`offload: optimizer`) and of the parameters too (`offload: all`, ZeRO-3 only)."""
    zero: dict[str, Any] = {"stage": cfg.zero_stage}
    offload = getattr(cfg, "offload", "none")
    pin = torch.cuda.is_available()
    if cfg.zero_stage == 3:
        zero["stage3_param_persistence_threshold"] = getattr(cfg, "zero3_param_persistence_threshold", 100_000)
    if offload in ("optimizer", "all") and with_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": pin}
        if getattr(cfg, "offload_ratio", 1.0) < 1.0:
            zero["offload_optimizer"]["ratio"] = cfg.offload_ratio
    if offload == "all":
        zero["offload_param"] = {"device": "cpu", "pin_memory": pin}
    return zero


def build_frozen_engine(model: torch.nn.Module, cfg: LearnerRoleConfig, dtype: str):
    """A frozen model (the KL reference) sharded like the role's learner: under ZeRO-3 a DeepSpeed engine without an
    optimizer (parameters partitioned over the ranks, gathered layer by layer in forward); else the plain model in
    the compute dtype on this rank's device."""
    model.requires_grad_(False)
    torch_dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(dtype, torch.float32)
    if cfg.zero_stage != 3:
        device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
        return model.to(dtype=torch_dtype, device=device).eval()
    import deepspeed

    config = {"train_micro_batch_size_per_gpu": cfg.micro_batch_size, "zero_optimization": zero_config(cfg, False),
              "bf16": {"enabled": dtype == "bfloat16"}, "fp16": {"enabled": dtype == "float16"},
              "steps_per_print": 10**9}
    engine, *_ = deepspeed.initialize(model=model, config=config)
    engine.eval()
    return engine


def build_engine(model: torch.nn.Module, cfg: LearnerRoleConfig, dtype: str, gas: int,
                 total_steps: int | None = None, min_lr_ratio: float = 0.0):
    """DeepSpeed engine for `model`. Default LR schedule: `warmup_constant` (RL). With `total_steps`:
    warm-up then cosine decay to `min_lr_ratio` * lr (`warmup_cosine`), stepped once per optimizer step."""
    import deepspeed

    if total_steps is not None:
        factor = warmup_cosine(cfg.warmup_steps, total_steps, min_lr_ratio)
    else:
        factor = warmup_constant(cfg.warmup_steps)
    scheduler = lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, factor)  # noqa: E731
    config = deepspeed_config(cfg, dtype, gas, total_steps)
    flat = uses_flat_master(cfg, dtype)
    if flat:  # DeepSpeed drives it as a plain optimizer: its bf16 wrapper, clipping and all-reduce stay off
        from rl.flat_master import FlatMasterAdamW

        device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
        for p in model.parameters():  # parameters only: buffers (rotary inv_freq) stay fp32, as DeepSpeed does
            p.data = p.data.to(torch.bfloat16)
        model.to(device)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = FlatMasterAdamW(params, cfg.lr, tuple(cfg.betas), cfg.weight_decay, cfg.grad_clip)
        config.update(bf16={"enabled": False}, gradient_clipping=0.0)
    else:
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = fused_adamw(params, cfg)
    if optimizer is not None:
        config.pop("optimizer")
    engine, *_ = deepspeed.initialize(model=model, model_parameters=params, optimizer=optimizer, config=config,
                                      lr_scheduler=scheduler)
    if flat:
        engine.enable_backward_allreduce = False  # FlatMasterAdamW all-reduces its one flat gradient buffer
    return engine


def uses_flat_master(cfg: LearnerRoleConfig, dtype: str) -> bool:
    """Whether this role keeps its fp32 master weights in rl/flat_master.py (`master_weights`: flat, or auto on a
    GPU with bf16, ZeRO-0 and no offload) instead of DeepSpeed's bf16 optimizer."""
    mode = getattr(cfg, "master_weights", "auto")
    if mode == "auto":
        return (torch.cuda.is_available() and dtype == "bfloat16" and cfg.zero_stage == 0
                and getattr(cfg, "offload", "none") == "none")
    return mode == "flat"


def fused_adamw(params: list[torch.nn.Parameter], cfg: LearnerRoleConfig) -> torch.optim.Optimizer | None:
    """On GPUs without offload: torch's fused AdamW (one kernel over all parameters; DeepSpeed's torch_adam path
    builds the multi-tensor `foreach` one, ~3x the optimizer-step time at a 0.5B shape), handed to DeepSpeed as the
    client optimizer that its ZeRO / bf16 wrappers drive. None elsewhere (DeepSpeed builds AdamW from the config)."""
    if not torch.cuda.is_available() or getattr(cfg, "offload", "none") != "none":
        return None
    return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay, fused=True)


def step_micro(engine, loss: torch.Tensor, gas: int, world_size: int) -> None:
    """Backward + (boundary) step for a micro-batch whose loss is already normalised by the *global* mini-batch
    count: DeepSpeed divides by GAS and averages over ranks, so undo both."""
    engine.backward(loss * gas * world_size)
    engine.step()


def step_budget_micro(engine, loss: torch.Tensor, last: bool, world_size: int) -> None:
    """Backward + step for a token-budget micro-batch: their number varies per mini-batch and rank, so the
    accumulation boundary is set by hand (the last micro-batch of the mini-batch) and DeepSpeed must not divide by
    its fixed GAS; the loss is already normalised by the global mini-batch count, so only the rank average is
    undone."""
    engine.set_gradient_accumulation_boundary(last)
    engine.backward(loss * world_size, scale_wrt_gas=False)
    engine.step()
