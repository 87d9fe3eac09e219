"""Learner groups: N DeepSpeed ranks of one role (actor or critic) as Ray actors, and the batch arithmetic that
feeds them.

One RL step = one epoch over the rollout batch, split into `mini_batches` mini-batches (one optimizer step each),
each split evenly over the ranks and, inside a rank, into micro-batches of `micro_batch_size`.
"""
from __future__ import annotations

import math
from typing import Any

import ray
import torch

from config.common import LearnerRoleConfig, ModelConfig
from config.rl import ActorConfig, AlgoConfig, CriticConfig
from rl.batch import TrainBatch
from rl.critic import Critic
from rl.learner import Learner
from rl.packing import budget_count
from rl.ports import free_port
from rl.records import OldLogprobs, ValueEstimates


def normalizer(mb: TrainBatch, loss_agg: str) -> float:
    """Global N of a mini-batch: valid response tokens (token_mean) or non-empty sequences (seq_* modes)."""
    if loss_agg == "token_mean":
        return max(float(mb.response_mask.sum()), 1.0)
    return max(float((mb.response_mask.sum(-1) > 0).sum()), 1.0)


class _Group:
    """Ranks of one role plus the split of a batch into per-rank mini-batch shards."""

    def __init__(self, cls: type, cfg: LearnerRoleConfig, batch_size: int, seed: int, make_args) -> None:
        self.cfg, self.seed, self._step = cfg, seed, 0
        world = cfg.num_workers
        self.gas = math.ceil(batch_size // (cfg.mini_batches * world) / cfg.micro_batch_size)
        addr, port = ray.util.get_node_ip_address(), free_port()
        remote = ray.remote(cls)
        self.actors = [
            remote.options(num_cpus=cfg.num_cpus_per_worker, num_gpus=cfg.num_gpus_per_worker,
                           resources=dict(cfg.resources) or None).remote(
                *make_args(self.gas, rank, world, addr, port))
            for rank in range(world)
        ]

    def split_step(self) -> int:
        """How many batches were shuffled into mini-batches so far (the next shuffle's seed)."""
        return self._step

    def set_split_step(self, step: int) -> None:
        self._step = step

    def save_state(self, path: str) -> None:
        """Every rank writes its shards of the role's resumable state under `path`."""
        ray.get([a.save_state.remote(path) for a in self.actors])

    def load_state(self, path: str) -> None:
        ray.get([a.load_state.remote(path) for a in self.actors])

    def state_bytes(self) -> int:
        return int(sum(ray.get([a.state_bytes.remote() for a in self.actors])))

    def shards(self, batch: TrainBatch) -> list[TrainBatch]:
        n = len(self.actors)
        size = math.ceil(len(batch) / n)
        return [batch.select(range(i * size, min((i + 1) * size, len(batch)))) for i in range(n)]

    def micro_count(self, shards: list[TrainBatch]) -> int | None:
        """With token-budget micro-batches: how many every rank runs for these shards (the most any rank needs),
        so the ranks' forward/backward passes, and the collectives inside them, line up. None otherwise."""
        budget = self.cfg.max_tokens_per_micro
        return max(budget_count(s, budget) for s in shards) if budget > 0 else None

    def split(self, batch: TrainBatch, loss_agg: str) -> tuple[list[list[TrainBatch]], list[float]]:
        """Shuffle, cut into mini-batches, shard each over ranks. Returns (per-rank shard lists, global N's)."""
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self._step)
        self._step += 1
        perm = torch.randperm(len(batch), generator=gen)
        size = len(batch) // self.cfg.mini_batches
        minibatches = [batch.select(perm[i * size:(i + 1) * size]) for i in range(self.cfg.mini_batches)]
        per_rank: list[list[TrainBatch]] = [[] for _ in self.actors]
        for mb in minibatches:
            for rank, shard in enumerate(self.shards(mb)):
                per_rank[rank].append(shard)
        self.counts = [self.micro_count([per_rank[r][k] for r in range(len(self.actors))])
                       for k in range(len(minibatches))]
        return per_rank, [normalizer(mb, loss_agg) for mb in minibatches]


def _concat_rows(parts: list[torch.Tensor], width: int | None = None) -> torch.Tensor:
    """Stack per-rank row blocks; [n, w] blocks (shards are trimmed to their own longest row) are zero-padded."""
    if width is None:
        return torch.cat(parts)
    out = torch.zeros(sum(p.shape[0] for p in parts), width)
    row = 0
    for p in parts:
        out[row: row + p.shape[0], : p.shape[1]] = p[:, :width]
        row += p.shape[0]
    return out


class LearnerGroup(_Group):
    """The actor's ranks."""

    def __init__(self, model_path: str, model_cfg: ModelConfig, actor_cfg: ActorConfig, algo_cfg: AlgoConfig,
                 temperature: float, batch_size: int, seed: int) -> None:
        self.algo = algo_cfg
        super().__init__(Learner, actor_cfg, batch_size, seed, lambda gas, rank, world, addr, port: (
            model_path, model_cfg, actor_cfg, algo_cfg, temperature, gas, rank, world, addr, port, seed))

    def compute_old_logprobs_async(self, batch: TrainBatch) -> list[Any]:
        shards = self.shards(batch)
        count = self.micro_count(shards)
        return [a.compute_old_logprobs.remote(s, count) for a, s in zip(self.actors, shards)]

    @staticmethod
    def gather_old_logprobs(results: list[OldLogprobs], width: int) -> OldLogprobs:
        """The ranks' shards as one record over the whole batch ([B, L-1] tensors, sums over all ranks)."""
        return OldLogprobs(old=_concat_rows([r.old for r in results], width),
                           ref=_concat_rows([r.ref for r in results], width),
                           entropy_sum=sum(r.entropy_sum for r in results), kl_sum=sum(r.kl_sum for r in results),
                           tokens=sum(r.tokens for r in results))

    def update_async(self, batch: TrainBatch, traj_bounds: tuple[float, float]) -> Any:
        per_rank, norms = self.split(batch, self.algo.loss_agg)
        counts = self.counts if self.cfg.max_tokens_per_micro > 0 else None
        return [a.update.remote(per_rank[r], norms, traj_bounds, counts) for r, a in enumerate(self.actors)]

    def save(self, path: str) -> str:
        """Every rank joins (ZeRO-3 gathers each bucket collectively); rank 0 writes."""
        return ray.get([a.save.remote(path) for a in self.actors])[0]


class CriticGroup(_Group):
    """The critic's ranks."""

    def __init__(self, model_path: str, model_cfg: ModelConfig, critic_cfg: CriticConfig, batch_size: int,
                 seed: int) -> None:
        super().__init__(Critic, critic_cfg, batch_size, seed + 1, lambda gas, rank, world, addr, port: (
            model_path, model_cfg, critic_cfg, gas, rank, world, addr, port, seed))

    def compute_values_async(self, batch: TrainBatch) -> list[Any]:
        shards = self.shards(batch)
        count = self.micro_count(shards)
        return [a.compute_values.remote(s, count) for a, s in zip(self.actors, shards)]

    @staticmethod
    def gather_values(results: list[ValueEstimates], width: int) -> ValueEstimates:
        """The ranks' shards as one record over the whole batch."""
        return ValueEstimates(_concat_rows([r.values for r in results], width),
                              _concat_rows([r.last for r in results]))

    def update_async(self, batch: TrainBatch) -> Any:
        per_rank, norms = self.split(batch, "token_mean")
        counts = self.counts if self.cfg.max_tokens_per_micro > 0 else None
        return [a.update.remote(per_rank[r], norms, counts) for r, a in enumerate(self.actors)]
