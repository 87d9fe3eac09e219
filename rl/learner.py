"""Policy learner: one DeepSpeed rank behind a Ray actor (`rl.learner_group` creates and drives the ranks).

Computes pi_old (before the update, no grad) and runs one epoch of mini-batch updates with the configured
objective. Gradients: each mini-batch's loss is normalised by the *global* mini-batch count (tokens or
sequences over all ranks), so micro-batching and data parallelism give the same gradient as one big batch.
"""
from __future__ import annotations

import logging
import os
from typing import Any

import torch

from rl.algos.mispo import actor_loss, pg_loss
from rl.batch import TrainBatch
from rl.config_schema import ActorConfig, AlgoConfig, ModelConfig
from rl.logprobs import sequence_logprobs

log = logging.getLogger(__name__)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def deepspeed_config(cfg: ActorConfig, dtype: str, gas: int) -> dict[str, Any]:
    """DeepSpeed config for the actor: AdamW (torch implementation: no JIT build), warm-up LR, ZeRO stage."""
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


class Learner:
    """One data-parallel rank. Call order per RL step: compute_old_logprobs -> update -> (rank 0) get_weights."""

    def __init__(self, model_path: str, model_cfg: ModelConfig, actor_cfg: ActorConfig, algo_cfg: AlgoConfig,
                 temperature: float, gas: int, rank: int, world_size: int, master_addr: str, master_port: int,
                 seed: int) -> None:
        logging.basicConfig(level=logging.INFO)
        os.environ.update(MASTER_ADDR=master_addr, MASTER_PORT=str(master_port), RANK=str(rank),
                          WORLD_SIZE=str(world_size), LOCAL_RANK="0")
        torch.set_num_threads(actor_cfg.torch_threads if actor_cfg.torch_threads > 0 else (os.cpu_count() or 1))
        torch.manual_seed(seed + rank)
        import deepspeed
        from transformers import AutoModelForCausalLM

        self.cfg, self.algo, self.temperature, self.gas = actor_cfg, algo_cfg, temperature, gas
        self.rank, self.world_size = rank, world_size
        self.device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
        deepspeed.init_distributed(dist_backend="nccl" if self.device.type == "cuda" else "gloo")
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
        if model_cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        self.engine, *_ = deepspeed.initialize(
            model=model, model_parameters=[p for p in model.parameters() if p.requires_grad],
            config=deepspeed_config(actor_cfg, model_cfg.dtype, gas),
        )
        self.model_path = model_path

    def _to_device(self, batch: TrainBatch) -> TrainBatch:
        return TrainBatch(**{k: v.to(self.device) for k, v in vars(batch).items()})

    @torch.no_grad()
    def compute_old_logprobs(self, batch: TrainBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """pi_old for every token: [B, L-1] (CPU), plus the policy entropy over response tokens."""
        self.engine.eval()
        out, ent_sum, n = [], 0.0, 0.0
        for chunk in batch.chunks(self.cfg.micro_batch_size):
            c = self._to_device(chunk)
            lp, ent = sequence_logprobs(self.engine, c.input_ids, c.attention_mask, self.temperature, True)
            full = torch.zeros(len(chunk), batch.rollout_logprobs.shape[1])
            full[:, : lp.shape[1]] = lp.float().cpu()
            out.append(full)
            ent_sum += float((ent * c.response_mask).sum())
            n += float(c.response_mask.sum())
        return torch.cat(out), {"entropy_sum": ent_sum, "tokens": n}

    def update(self, minibatches: list[TrainBatch], normalizers: list[float]) -> dict[str, float]:
        """One optimizer step per mini-batch shard. normalizers[i]: global N for mini-batch i."""
        self.engine.train()
        losses, norms = [], []
        for mb, norm in zip(minibatches, normalizers):
            micro = mb.chunks(self.cfg.micro_batch_size)
            if len(micro) != self.gas:
                raise RuntimeError(f"mini-batch shard of {len(mb)} gives {len(micro)} micro-batches, expected "
                                   f"{self.gas}; the driver's batch split is inconsistent")
            total = 0.0
            for c in map(self._to_device, micro):
                lp, _ = sequence_logprobs(self.engine, c.input_ids, c.attention_mask, self.temperature)
                loss = self._loss(lp, c, norm)
                # DeepSpeed divides by GAS and averages over ranks; the global normaliser already did both.
                self.engine.backward(loss * self.gas * self.world_size)
                self.engine.step()
                total += loss.item()
            losses.append(total)
            gn = self.engine.get_global_grad_norm()
            norms.append(float(gn) if gn is not None else float("nan"))
        return {"loss": sum(losses) / len(losses), "grad_norm": sum(norms) / len(norms),
                "lr": float(self.engine.get_lr()[0])}

    def _loss(self, lp: torch.Tensor, c: TrainBatch, normalizer: float) -> torch.Tensor:
        if self.algo.objective == "mispo":
            loss, _ = actor_loss(lp, c.old_logprobs, c.rollout_logprobs, c.advantages, c.response_mask,
                                 tuple(self.algo.token_bounds), tuple(self.algo.traj_bounds),
                                 self.algo.loss_agg, normalizer)
            return loss
        if self.algo.objective == "pg":
            return pg_loss(lp, c.advantages, c.response_mask, self.algo.loss_agg, normalizer)
        raise ValueError(f"algo.objective: {self.algo.objective!r} is not implemented by the learner")

    def get_weights(self) -> dict[str, torch.Tensor]:
        """Full CPU state dict of the policy (rank 0; ZeRO stages 0-2 keep full parameters on each rank)."""
        return {k: v.detach().to("cpu", copy=True) for k, v in self.engine.module.state_dict().items()}

    def save(self, path: str) -> str:
        """HF-format checkpoint (model + tokenizer) loadable by AutoModelForCausalLM.from_pretrained."""
        from transformers import AutoTokenizer

        if self.rank == 0:
            self.engine.module.save_pretrained(path)
            AutoTokenizer.from_pretrained(self.model_path).save_pretrained(path)
        return path
