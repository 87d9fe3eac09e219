"""Typed configuration of an SFT run (`python -m sft.train --config NAME`), loaded by `config.load.load_config`.

Imports nothing heavy (no torch/deepspeed). Every field is documented here and in docs/distill.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

from config.common import LearnerRoleConfig, LoggingConfig

CHOICES: dict[str, tuple[str, ...]] = {
    "model.dtype": ("auto", "float32", "bfloat16"),
    "data.attention": ("position_ids", "mask4d"),
    "optim.schedule": ("cosine", "constant"),
}


@dataclass
class SFTModelConfig:
    """The model to fine-tune: a local HF directory, a hub id, or `mispo-tiny` (built into the cache)."""

    path: str = MISSING
    dtype: str = "auto"  # auto: bfloat16 on GPUs, float32 on CPU
    gradient_checkpointing: bool = False


@dataclass
class SFTDataConfig:
    """Chat-formatted rows (`messages`: [{role, content}, ...]) from local jsonl/parquet files, read with `datasets`.
    The tokenizer's chat template renders each row; only assistant tokens are trained on."""

    train_files: list[str] = MISSING
    eval_files: list[str] = field(default_factory=list)
    eval_fraction: float = 0.05  # held out of train_files when eval_files is empty (0: no eval loss)
    messages_key: str = "messages"
    max_seq_len: int = 512  # longer conversations are reported and skipped
    packing: bool = True  # several conversations per row (attention never crosses them)
    pack_len: int = 1024  # tokens per packed row (>= max_seq_len)
    attention: str = "position_ids"  # packed-row isolation: position_ids (HF builds the block mask) | mask4d


@dataclass
class SFTOptimConfig:
    """AdamW on DeepSpeed (rl/deepspeed_setup.py), linear warm-up then cosine decay (or constant)."""

    lr: float = 1e-5
    min_lr_ratio: float = 0.1  # cosine ends at min_lr_ratio * lr
    schedule: str = "cosine"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    grad_clip: float = 1.0
    micro_batch_size: int = 8  # (packed) rows per forward/backward
    grad_accum_steps: int = 1  # micro-batches per optimizer step (per rank)
    zero_stage: int = 1
    torch_threads: int = 0  # 0 = the machine's cores

    def learner_role(self) -> LearnerRoleConfig:
        """The subset rl/deepspeed_setup.py reads."""
        return LearnerRoleConfig(lr=self.lr, weight_decay=self.weight_decay, betas=list(self.betas),
                                 warmup_steps=self.warmup_steps, grad_clip=self.grad_clip,
                                 micro_batch_size=self.micro_batch_size, zero_stage=self.zero_stage,
                                 torch_threads=self.torch_threads)


@dataclass
class SFTDistillConfig:
    """Token-level distillation (off while topk = 0): at every trained position the student also matches the
    top-k next-token distribution of the row's teacher (named by the row's `teacher_key` field, a checkpoint in
    `teachers`; rows without a teacher train on the NLL alone). Per position:
    loss = (1 - alpha) * NLL + alpha * cross-entropy(teacher top-k softmax at `temperature`, student at `temperature`).
    """

    topk: int = 0
    alpha: float = 0.5
    temperature: float = 1.0
    teacher_key: str = "teacher"
    teachers: dict[str, str] = field(default_factory=dict)  # teacher name -> HF checkpoint directory


@dataclass
class SFTTrainerConfig:
    epochs: int = 1
    max_steps: int = 0  # > 0: stop after this many optimizer steps (caps epochs)
    eval_every: int = 0  # optimizer steps between eval-loss passes; 0: only at the end
    save_every: int = 0  # 0: only the final checkpoint
    seed: int = 0
    run_name: str = "sft"
    run_dir: Optional[str] = None  # default runs/<run_name>


@dataclass
class SFTConfig:
    model: SFTModelConfig = field(default_factory=SFTModelConfig)
    data: SFTDataConfig = field(default_factory=SFTDataConfig)
    optim: SFTOptimConfig = field(default_factory=SFTOptimConfig)
    trainer: SFTTrainerConfig = field(default_factory=SFTTrainerConfig)
    distill: SFTDistillConfig = field(default_factory=SFTDistillConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def validate_sft_config(cfg: SFTConfig) -> list[str]:
    """Checks types cannot express; one message per problem (empty list = valid)."""
    errors = [f"{k}: {_get(cfg, k)!r} is not one of {list(v)}; set {k}={v[0]}"
              for k, v in CHOICES.items() if _get(cfg, k) not in v]
    positive = {"data.max_seq_len": cfg.data.max_seq_len, "data.pack_len": cfg.data.pack_len,
                "optim.lr": cfg.optim.lr, "optim.micro_batch_size": cfg.optim.micro_batch_size,
                "optim.grad_accum_steps": cfg.optim.grad_accum_steps, "trainer.epochs": cfg.trainer.epochs}
    errors += [f"{k}: must be > 0, got {v}" for k, v in positive.items() if v <= 0]
    if not cfg.data.train_files:
        errors.append("data.train_files: empty; list at least one chat jsonl/parquet file")
    if not 0 <= cfg.data.eval_fraction < 1:
        errors.append(f"data.eval_fraction: must be in [0, 1), got {cfg.data.eval_fraction}")
    if cfg.data.packing and cfg.data.pack_len < cfg.data.max_seq_len:
        errors.append(f"data.pack_len: {cfg.data.pack_len} is shorter than data.max_seq_len={cfg.data.max_seq_len}; "
                      f"set data.pack_len={cfg.data.max_seq_len} or more")
    if not 0 <= cfg.optim.min_lr_ratio <= 1:
        errors.append(f"optim.min_lr_ratio: must be in [0, 1], got {cfg.optim.min_lr_ratio}")
    if cfg.optim.zero_stage not in (0, 1, 2):
        errors.append(f"optim.zero_stage: must be 0, 1 or 2 (checkpoints export full parameters from rank 0), "
                      f"got {cfg.optim.zero_stage}")
    kd = cfg.distill
    if kd.topk < 0 or not 0 <= kd.alpha <= 1 or kd.temperature <= 0:
        errors.append(f"distill: need topk >= 0, 0 <= alpha <= 1, temperature > 0; got topk={kd.topk}, "
                      f"alpha={kd.alpha}, temperature={kd.temperature}")
    if kd.topk and not kd.teachers:
        errors.append("distill.teachers: empty while distill.topk > 0; map teacher names to checkpoints "
                      "(e.g. {math_expert: runs/sft_math_expert/checkpoints/final}) or set distill.topk=0")
    for key in ("optim.warmup_steps", "trainer.max_steps", "trainer.eval_every", "trainer.save_every"):
        if _get(cfg, key) < 0:
            errors.append(f"{key}: must be >= 0, got {_get(cfg, key)}")
    return errors
