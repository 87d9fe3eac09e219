"""Config sections shared by several jobs: the model, a DeepSpeed learner role, logging, Ray."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from omegaconf import MISSING

DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class ModelConfig:
    """The policy. `path` is a local HF directory, a hub id (where a hub is reachable), or `mispo-tiny`: the
    project's own tiny base model, built deterministically into the cache ($MISPO_CACHE, default
    ~/.cache/mispo) when missing."""

    path: str = MISSING
    dtype: str = "float32"  # learner and engine compute dtype; bfloat16 on GPUs
    gradient_checkpointing: bool = False
    attn_implementation: Optional[str] = None  # learners: null = transformers' default (sdpa); flex_attention skips
    #                                            the blocks between packed sequences on GPUs (max_tokens_per_micro)


@dataclass
class LearnerRoleConfig:
    """Fields of one DeepSpeed learner role (the RL actor, the critic; SFT reads the same subset)."""

    lr: float = 2e-6
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 0  # linear LR warm-up, in optimizer steps
    grad_clip: float = 1.0
    mini_batches: int = 4  # optimizer steps per RL step (1 epoch over the rollout batch)
    micro_batch_size: int = 16  # trajectories per forward/backward (when max_tokens_per_micro is 0)
    max_tokens_per_micro: int = 0  # > 0: padding-free packed micro-batches of at most this many tokens (rl/packing.py)
    logprob_chunk_tokens: int = 0  # > 0: LM head + log-softmax over this many tokens at a time (no [T, vocab] tensor;
    #                                ZeRO 0-2 only, ignored under ZeRO-3)
    compile: bool = False  # torch.compile each transformer block and the log-softmax (rl/compile_regions.py; GPUs,
    #                        ZeRO 0-2): fused element-wise kernels, ~first step slower while it compiles
    master_weights: str = "auto"  # flat | deepspeed | auto: where bf16 training keeps its fp32 master weights. flat:
    #                               one flat fp32 buffer, fused AdamW, no per-parameter loops (rl/flat_master.py;
    #                               ZeRO-0, bf16, no offload); deepspeed: DeepSpeed's bf16/ZeRO optimizer; auto: flat
    #                               on GPUs where it applies (ZeRO-0 + bf16 + no offload), else deepspeed
    zero_stage: int = 1  # 3 shards parameters, gradients and optimizer state over the ranks (weights gathered per bucket)
    offload: str = "none"  # none | optimizer (optimizer state on CPU, ZeRO >= 1) | all (+ parameters, ZeRO-3)
    offload_ratio: float = 1.0  # ZeRO-3 optimizer offload: share of the optimizer state on the CPU (< 1 keeps the
    #                             rest on the GPU; needs DeepSpeed's CPU Adam, built on first use: needs a compiler)
    cpu_adam: bool = False  # DeepSpeed's CPU Adam (JIT-built C++ op) for offloaded optimizer state, 5-7x faster than
    #                         torch AdamW there; off by default because it needs a compiler + ninja at run time
    zero3_param_persistence_threshold: int = 100_000  # ZeRO-3: parameters smaller than this stay whole on each rank
    num_workers: int = 1  # data-parallel ranks
    num_cpus_per_worker: float = 1.0
    num_gpus_per_worker: float = 0.0
    resources: dict[str, float] = field(default_factory=dict)  # custom Ray resources per rank (node placement)
    torch_threads: int = 0  # 0 = the machine's cores


@dataclass
class WandbConfig:
    mode: str = "offline"  # offline by default: no network, no key needed; `online` needs WANDB_API_KEY
    project: str = "mispo"
    entity: Optional[str] = None


@dataclass
class LoggingConfig:
    wandb: WandbConfig = field(default_factory=WandbConfig)
    progress_bar: bool = True
    level: str = "INFO"


@dataclass
class RayConfig:
    address: Optional[str] = None  # null: start a local cluster; "auto" or "ray://host:port" to join one
    num_cpus: Optional[int] = None  # local cluster only; null = all cores


def get_dotted(cfg: object, dotted: str) -> object:
    """The value at a dotted key path of a config object."""
    value = cfg
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def check_choices(cfg: object, choices: dict[str, tuple[str, ...]], prefix: str = "") -> list[str]:
    """One message per enumerated field whose value is not allowed; keys are reported with `prefix`."""
    errors = []
    for dotted, allowed in choices.items():
        value = get_dotted(cfg, dotted)
        if value not in allowed:
            key = prefix + dotted
            errors.append(f"{key}: {value!r} is not one of {list(allowed)}; set {key}={allowed[0]}")
    return errors


OFFLOAD = ("none", "optimizer", "all")
MASTER_WEIGHTS = ("auto", "flat", "deepspeed")


def check_learner_role(name: str, cfg: LearnerRoleConfig) -> list[str]:
    """ZeRO stage and offload of one DeepSpeed role, reported as `<name>.<key>`."""
    errors = []
    if cfg.zero_stage not in (0, 1, 2, 3):
        errors.append(f"{name}.zero_stage: must be 0, 1, 2 or 3, got {cfg.zero_stage}")
    if cfg.offload not in OFFLOAD:
        errors.append(f"{name}.offload: {cfg.offload!r} is not one of {list(OFFLOAD)}; set {name}.offload=none")
    elif cfg.offload == "all" and cfg.zero_stage != 3:
        errors.append(f"{name}.offload: 'all' offloads parameters, which needs {name}.zero_stage=3; set it, or use "
                      f"{name}.offload=optimizer")
    elif cfg.offload == "optimizer" and cfg.zero_stage == 0:
        errors.append(f"{name}.offload: optimizer offload needs ZeRO >= 1; set {name}.zero_stage=2 or 3")
    if getattr(cfg, "compile", False) and cfg.zero_stage == 3:
        errors.append(f"{name}.compile: compiled blocks are not supported with ZeRO-3 (its parameter gathers hook "
                      f"every module's forward); set {name}.compile=false or {name}.zero_stage=2")
    master = getattr(cfg, "master_weights", "auto")
    if master not in MASTER_WEIGHTS:
        errors.append(f"{name}.master_weights: {master!r} is not one of {list(MASTER_WEIGHTS)}; set "
                      f"{name}.master_weights=auto")
    elif master == "flat" and (cfg.zero_stage != 0 or cfg.offload != "none"):
        errors.append(f"{name}.master_weights: flat keeps the whole fp32 master copy on each rank, which needs "
                      f"{name}.zero_stage=0 and {name}.offload=none (got {cfg.zero_stage}, {cfg.offload!r}); set "
                      f"them, or {name}.master_weights=deepspeed")
    ratio = getattr(cfg, "offload_ratio", 1.0)
    if not 0.0 < ratio <= 1.0:
        errors.append(f"{name}.offload_ratio: must be in (0, 1], got {ratio}")
    elif ratio < 1.0 and (cfg.offload == "none" or cfg.zero_stage != 3 or not getattr(cfg, "cpu_adam", False)):
        errors.append(f"{name}.offload_ratio: partial offload ({ratio}) needs {name}.zero_stage=3, "
                      f"{name}.offload=optimizer and {name}.cpu_adam=true (DeepSpeed's hybrid CPU/GPU Adam); set "
                      f"them, or {name}.offload_ratio=1.0")
    return errors


def check_positive(values: dict[str, float]) -> list[str]:
    return [f"{k}: must be > 0, got {v}" for k, v in values.items() if v <= 0]
