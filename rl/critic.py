"""Critic: a value model (LM backbone + scalar head) as one DeepSpeed rank behind a Ray actor.

V(s_t) for response token t is read at the position that predicts t (the [B, L-1] alignment of rl/batch.py);
V(s_T), the value after the last token (used by the truncation bootstrap), at the last real position.
"""
from __future__ import annotations

import logging

import torch

from config.common import ModelConfig
from config.rl import CriticConfig
from rl.algos.critic_loss import value_loss
from rl.batch import TrainBatch
from rl.compile_regions import compile_blocks
from rl.deepspeed_setup import build_engine, init_rank, step_budget_micro, step_micro
from rl.engine_checkpoint import load_engine, save_engine, state_bytes
from rl.packing import pack, token_budget_chunks, unpack
from rl.records import CriticStats, ValueEstimates
from rl.varlen_attention import NAME as VARLEN
from rl.varlen_attention import boundaries, learner_attention

log = logging.getLogger(__name__)


class ValueModel(torch.nn.Module):
    """Transformer backbone of a causal LM checkpoint + a linear head -> one scalar per position."""

    def __init__(self, model_path: str, attn: dict[str, str] | None = None) -> None:
        super().__init__()
        from transformers import AutoModel

        self.backbone = AutoModel.from_pretrained(model_path, dtype=torch.float32, **(attn or {}))
        self.head = torch.nn.Linear(self.backbone.config.hidden_size, 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                position_ids: torch.Tensor | None = None, **attn_kwargs) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                               use_cache=False, **attn_kwargs).last_hidden_state
        return self.head(hidden).squeeze(-1).float()  # [B, L]


class Critic:
    def __init__(self, model_path: str, model_cfg: ModelConfig, cfg: CriticConfig, gas: int, rank: int,
                 world_size: int, master_addr: str, master_port: int, seed: int) -> None:
        logging.basicConfig(level=logging.INFO)
        self.device = init_rank(rank, world_size, master_addr, master_port, cfg.torch_threads, seed + 7919)
        self.cfg, self.gas, self.world_size = cfg, gas, world_size
        model = ValueModel(model_path, learner_attention(model_cfg, cfg))
        if model_cfg.gradient_checkpointing:
            model.backbone.gradient_checkpointing_enable()
        if cfg.compile:
            log.info("critic: compiled %d transformer blocks", compile_blocks(model))
        self._varlen = model.backbone.config._attn_implementation == VARLEN
        self.engine = build_engine(model, cfg, model_cfg.dtype, gas)

    def _to_device(self, batch: TrainBatch) -> TrainBatch:
        return batch.to(self.device)

    def _micro_batches(self, batch: TrainBatch, count: int | None) -> list[TrainBatch | None]:
        """As the actor's (rl/learner.py): the same number on every rank, None for an idle pass."""
        if self.cfg.max_tokens_per_micro > 0:
            return token_budget_chunks(batch, self.cfg.max_tokens_per_micro, count)
        return batch.chunks(self.cfg.micro_batch_size)

    def _values(self, c: TrainBatch, lengths: list[int] | None = None) -> torch.Tensor:
        """V at every position, [B, L] (packed into one padding-free row when max_tokens_per_micro is set)."""
        if self.cfg.max_tokens_per_micro <= 0:
            return self.engine(c.input_ids, c.attention_mask)
        p = pack(c.input_ids, c.attention_mask, lengths)
        extra = boundaries(p.lengths, p.input_ids.device) if self._varlen else {}
        return unpack(self.engine(p.input_ids, None, p.position_ids, **extra)[0], p.lengths, c.input_ids.shape[1],
                      False)

    @torch.no_grad()
    def compute_values(self, batch: TrainBatch, count: int | None = None) -> ValueEstimates:
        """V(s_t) aligned with tokens and V after each sequence's last token (rl/records.py)."""
        self.engine.eval()
        width = batch.rollout_logprobs.shape[1]
        vals, lasts = [], []
        for chunk in self._micro_batches(batch, count):
            if chunk is None:
                self._values(self._to_device(batch.select([0])))
                continue
            c = self._to_device(chunk)
            v = self._values(c, chunk.lengths()).cpu()
            full = torch.zeros(len(chunk), width)
            full[:, : v.shape[1] - 1] = v[:, :-1]
            vals.append(full)
            last_pos = chunk.attention_mask.sum(-1) - 1
            lasts.append(v.gather(1, last_pos.unsqueeze(-1)).squeeze(-1))
        return ValueEstimates(torch.cat(vals), torch.cat(lasts))

    def update(self, minibatches: list[TrainBatch], normalizers: list[float],
               counts: list[int] | None = None) -> CriticStats:
        self.engine.train()
        losses, norms = [], []
        for k, (mb, norm) in enumerate(zip(minibatches, normalizers)):
            total = torch.zeros((), device=self.device)  # summed on the device: no host sync per micro-batch
            micro = self._micro_batches(mb, counts[k] if counts else None)
            for i, c in enumerate(micro):
                idle = c is None
                host = mb.select([0]) if idle else c
                c = self._to_device(host)
                v = self._values(c, host.lengths())[:, :-1]
                loss = value_loss(v, c.values, c.returns, c.response_mask, self.cfg.value_clip, norm)
                if idle:
                    loss = loss * 0.0
                if self.cfg.max_tokens_per_micro > 0:
                    step_budget_micro(self.engine, loss, i == len(micro) - 1, self.world_size)
                else:
                    step_micro(self.engine, loss, self.gas, self.world_size)
                total = total + loss.detach()
            losses.append(total)
            gn = self.engine.get_global_grad_norm()
            norms.append(gn if gn is not None else float("nan"))
        losses, norms = ([float(x) for x in xs] for xs in (losses, norms))  # the update's one host sync
        return CriticStats(value_loss=sum(losses) / len(losses), grad_norm=sum(norms) / len(norms),
                           lr=float(self.engine.get_lr()[0]))

    def save_state(self, path: str) -> None:
        """Every rank: the resumable state (DeepSpeed checkpoint + RNG) under `path`."""
        save_engine(self.engine, path)

    def load_state(self, path: str) -> None:
        load_engine(self.engine, path)

    def state_bytes(self) -> int:
        return state_bytes(self.engine)
