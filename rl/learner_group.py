"""The learner group: N DeepSpeed ranks as Ray actors, and the batch arithmetic that feeds them.

One RL step = one epoch over the rollout batch, split into `actor.mini_batches` mini-batches (one optimizer
step each), each split evenly over the ranks and, inside a rank, into micro-batches of `actor.micro_batch_size`.
"""
from __future__ import annotations

import math
import socket
from typing import Any

import ray
import torch

from rl.batch import TrainBatch
from rl.config_schema import ActorConfig, AlgoConfig, ModelConfig
from rl.learner import Learner


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def normalizer(mb: TrainBatch, loss_agg: str) -> float:
    """Global N of a mini-batch: valid response tokens (token_mean) or non-empty sequences (seq_* modes)."""
    if loss_agg == "token_mean":
        return max(float(mb.response_mask.sum()), 1.0)
    return max(float((mb.response_mask.sum(-1) > 0).sum()), 1.0)


class LearnerGroup:
    def __init__(self, model_path: str, model_cfg: ModelConfig, actor_cfg: ActorConfig, algo_cfg: AlgoConfig,
                 temperature: float, batch_size: int, seed: int) -> None:
        self.cfg, self.algo, self.seed = actor_cfg, algo_cfg, seed
        world = actor_cfg.num_workers
        self.shard = batch_size // (actor_cfg.mini_batches * world)
        self.gas = math.ceil(self.shard / actor_cfg.micro_batch_size)
        master_addr, port = ray.util.get_node_ip_address(), _free_port()
        actor_cls = ray.remote(Learner)
        self.actors = [
            actor_cls.options(num_cpus=actor_cfg.num_cpus_per_worker, num_gpus=actor_cfg.num_gpus_per_worker).remote(
                model_path, model_cfg, actor_cfg, algo_cfg, temperature, self.gas, rank, world, master_addr, port,
                seed)
            for rank in range(world)
        ]
        self._step = 0

    def _shards(self, batch: TrainBatch) -> list[TrainBatch]:
        n = len(self.actors)
        size = math.ceil(len(batch) / n)
        return [batch.select(range(i * size, min((i + 1) * size, len(batch)))) for i in range(n)]

    def compute_old_logprobs(self, batch: TrainBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """pi_old for the whole batch ([B, L-1]) and the mean policy entropy over response tokens."""
        shards = self._shards(batch)
        results = ray.get([a.compute_old_logprobs.remote(s) for a, s in zip(self.actors, shards)])
        width = batch.rollout_logprobs.shape[1]
        old = torch.zeros(len(batch), width)
        row = 0
        for lp, _ in results:
            old[row: row + lp.shape[0], : lp.shape[1]] = lp[:, :width]
            row += lp.shape[0]
        ent = sum(r[1]["entropy_sum"] for r in results) / max(sum(r[1]["tokens"] for r in results), 1.0)
        return old, {"entropy": ent}

    def update(self, batch: TrainBatch) -> dict[str, float]:
        """Shuffle, split into mini-batches x ranks, one optimizer step per mini-batch on every rank."""
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self._step)
        self._step += 1
        perm = torch.randperm(len(batch), generator=gen)
        mb_size = len(batch) // self.cfg.mini_batches
        minibatches = [batch.select(perm[i * mb_size:(i + 1) * mb_size]) for i in range(self.cfg.mini_batches)]
        norms = [normalizer(mb, self.algo.loss_agg) for mb in minibatches]
        per_rank: list[list[TrainBatch]] = [[] for _ in self.actors]
        for mb in minibatches:
            for rank, shard in enumerate(self._shards(mb)):
                per_rank[rank].append(shard)
        stats = ray.get([a.update.remote(per_rank[r], norms) for r, a in enumerate(self.actors)])
        return stats[0]

    def weights_ref(self) -> Any:
        """ObjectRef to rank 0's full state dict (lives in Ray's object store; engines read it from there)."""
        return self.actors[0].get_weights.remote()

    def save(self, path: str) -> str:
        return ray.get(self.actors[0].save.remote(path))
