"""An SFT run as a library call, `train_sft(cfg)`: what `python -m sft.train` runs and what distill/ calls to
build experts and the merged student.

setup (config -> data -> packed rows -> step plan -> DeepSpeed engine) -> train (forward, assistant-token NLL,
step; eval loss; metrics) -> save (HF checkpoint + tokenizer). Single process by default (gloo on CPU); under
`torchrun`/`deepspeed` launchers every rank takes its share of each step. Imports torch/deepspeed only inside
`train_sft`, so importing this module stays instant.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

from config.load import to_yaml
from config.sft import SFTConfig

log = logging.getLogger("sft.trainer")


def run_dir_of(cfg: SFTConfig) -> Path:
    return Path(cfg.trainer.run_dir or f"runs/{cfg.trainer.run_name}")


def final_checkpoint(cfg: SFTConfig) -> Path:
    return run_dir_of(cfg) / "checkpoints" / "final"


def quiet_library_progress_bars() -> None:
    """Our own tqdm bar reports progress; the per-file bars of transformers and datasets are noise here."""
    import datasets
    import transformers

    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()


def launch_world() -> tuple[int, int, str, int]:
    """(rank, world size, master address, port): from a launcher's environment, else a single local process."""
    if "WORLD_SIZE" in os.environ and "RANK" in os.environ:
        return (int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), os.environ.get("MASTER_ADDR", "127.0.0.1"),
                int(os.environ.get("MASTER_PORT", "29500")))
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return 0, 1, "127.0.0.1", s.getsockname()[1]


def _rows(cfg: SFTConfig, tokenizer, run_dir: Path):
    """Tokenized, split and packed (train rows, eval rows), plus the data report written to the run dir."""
    from sft.data import load_examples, split_eval
    from sft.packing import pack_examples

    d = cfg.data
    teacher_key = cfg.distill.teacher_key if cfg.distill.topk else None
    train, report = load_examples(list(d.train_files), tokenizer, d.messages_key, d.max_seq_len,
                                  teacher_key=teacher_key)
    if d.eval_files:
        evals, _ = load_examples(list(d.eval_files), tokenizer, d.messages_key, d.max_seq_len, "data.eval_files")
    else:
        train, evals = split_eval(train, d.eval_fraction, cfg.trainer.seed)
    (run_dir / "data_report.json").write_text(json.dumps(
        {"kept": report.kept, "skipped": dict(report.skipped), "first_bad": report.first_bad,
         "train_examples": len(train), "eval_examples": len(evals)}, indent=2, default=str))
    log.info("data: %s; %d train / %d eval examples", report.summary(), len(train), len(evals))
    pack = (lambda xs: pack_examples(xs, d.pack_len)) if d.packing else (lambda xs: [[x] for x in xs])
    return pack(train), pack(evals)


def train_sft(cfg: SFTConfig) -> Path:
    """Run SFT as configured; returns the final HF checkpoint directory (model + tokenizer)."""
    import torch
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rl.deepspeed_setup import build_engine, init_rank
    from rl.metrics import MetricsLogger
    from rl.model_source import resolve_model_path
    from sft.batching import plan_steps
    from sft.loop import evaluate, save_checkpoint, train_step

    run_dir = run_dir_of(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(to_yaml(cfg))
    rank, world, addr, port = launch_world()
    device = init_rank(rank, world, addr, port, cfg.optim.torch_threads, cfg.trainer.seed)
    dtype = cfg.model.dtype if cfg.model.dtype != "auto" else ("bfloat16" if device.type == "cuda" else "float32")
    model_path = resolve_model_path(cfg.model.path)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    train_rows, eval_rows = _rows(cfg, tokenizer, run_dir)
    if cfg.distill.topk:  # token-level distillation: each example's teacher top-k, before training
        from sft.teacher import annotate_topk

        per_teacher = annotate_topk([e for row in train_rows for e in row], cfg.distill, pad_id, device,
                                    {"bfloat16": torch.bfloat16}.get(dtype, torch.float32))
        log.info("distill: examples per teacher %s", dict(per_teacher))
    o = cfg.optim
    steps = plan_steps(train_rows, o.micro_batch_size, o.grad_accum_steps, world, cfg.trainer.epochs,
                       cfg.trainer.max_steps, cfg.trainer.seed)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    if cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    min_ratio = o.min_lr_ratio if o.schedule == "cosine" else 1.0
    engine = build_engine(model, o.learner_role(), dtype, o.grad_accum_steps, len(steps), min_ratio)
    metrics = None
    if rank == 0:
        metrics = MetricsLogger(run_dir, cfg.logging.wandb, cfg.trainer.run_name,
                                json.loads(json.dumps(dataclasses.asdict(cfg), default=str)))
    ctx = dict(engine=engine, device=device, pad_id=pad_id, attention=cfg.data.attention, rank=rank, world=world,
               kd=(cfg.distill.alpha if cfg.distill.topk else 0.0, cfg.distill.temperature))
    eval_every = cfg.trainer.eval_every or len(steps)
    bar = tqdm(steps, desc=f"sft {cfg.trainer.run_name}", unit="step",
               disable=not cfg.logging.progress_bar or rank != 0)
    try:
        if eval_rows:  # step 0: the eval loss before training (every rank joins the all-reduce)
            loss0 = evaluate(eval_rows, o.micro_batch_size, **ctx)
            if metrics is not None:
                metrics.log(0, {"eval/loss": loss0})
        for i, step in enumerate(bar, start=1):
            row = train_step(step, **ctx)
            row["train/epoch"] = float(step.epoch)
            if eval_rows and (i % eval_every == 0 or i == len(steps)):
                row["eval/loss"] = evaluate(eval_rows, o.micro_batch_size, **ctx)
            bar.set_postfix(loss=f"{row['train/loss']:.3f}", lr=f"{row['train/lr']:.1e}")
            if metrics is not None:
                metrics.log(i, row)
            if cfg.trainer.save_every and i % cfg.trainer.save_every == 0 and i < len(steps):
                save_checkpoint(engine, tokenizer, run_dir / "checkpoints" / f"step_{i}", rank)
        out = save_checkpoint(engine, tokenizer, run_dir / "checkpoints" / "final", rank)
        if rank == 0:  # what built this checkpoint (distill/ reuses an expert while this matches its config)
            (out / "sft_config.yaml").write_text(to_yaml(cfg))
    finally:
        if metrics is not None:
            metrics.close()
    log.info("sft %s: %d steps, checkpoint %s", cfg.trainer.run_name, len(steps), out)
    return out
