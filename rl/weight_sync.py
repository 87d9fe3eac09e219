"""The driver's part of learner -> engine weight sync: it opens both halves of the configured backend
(rollout/weights/: object_store, nccl, gloo, cuda_ipc) and, per sync, moves the sender's message to the
receivers. It never looks inside handshakes or messages.

With partial rollouts the receivers' loads go to the rollout actors' "weights" thread (rl/roles.py) and land
between generation segments.
"""
from __future__ import annotations

from typing import Any, Sequence

import ray

from config.errors import ConfigError
from config.rollout import RolloutConfig
from rl.roles import weights_thread
from rollout.weights.base import SyncSpec, sender_class


class WeightSync:
    """sync(version) pushes learner rank 0's current weights to every engine and tags them `version`. `peers` are
    the other learner ranks: they take part in every sync (under ZeRO-3 each bucket is gathered by all ranks)."""

    def __init__(self, cfg: RolloutConfig, sender: Any, rollout_workers: Sequence[Any],
                 peers: Sequence[Any] = ()) -> None:
        self.sender, self.workers, self.partial = sender, list(rollout_workers), cfg.partial_rollouts
        self.peers = list(peers)
        self.streams = sender_class(cfg.weight_sync).streams
        host, port = ray.get(sender.endpoint.remote())
        spec = SyncSpec(method=cfg.weight_sync, world_size=1 + len(self.workers), bucket_mb=cfg.weight_bucket_mb,
                        host=host, port=port)
        # collectives rendezvous here: both halves must be opening at the same time
        handshake = sender.open_weight_sender.remote(spec)
        peers_ready = [p.open_weight_sender.remote(spec) for p in self.peers]
        infos = ray.get([w.open_weight_receiver.remote(spec, i + 1) for i, w in enumerate(self.workers)])
        ray.get(peers_ready)
        self.handshake = ray.get(handshake)
        problem = sender_class(cfg.weight_sync).check_peers(self.handshake, infos)
        if problem:
            raise ConfigError(problem)

    def __call__(self, version: int) -> None:
        if self.streams and self.peers and not self.partial:
            # a broadcast starts only when every receiver can join: a queued rollout would otherwise keep rank 0
            # inside the broadcast while the other ranks wait in the next bucket's gather on the training group,
            # whose timeout (DeepSpeed's 30 min) is shorter than the weight group's
            ray.get([w.version.remote() for w in self.workers])
        sent = self.sender.send_weights.remote()
        gathers = [p.send_weights.remote() for p in self.peers]
        # a collective needs both halves at once; otherwise Ray hands each receiver the sender's message
        message = None if self.streams else sent
        loads = [weights_thread(w.receive_weights, self.partial).remote(message, self.handshake, version)
                 for w in self.workers]
        ray.get(loads + gathers + ([sent] if self.streams else []))
        ray.get(self.sender.weights_sent.remote())


def make_weight_sync(cfg: RolloutConfig, actor: Any, rollout_workers: Sequence[Any]) -> WeightSync:
    """The weight sync of `cfg.weight_sync` from the actor group's rank 0 to every rollout worker."""
    return WeightSync(cfg, actor.actors[0], rollout_workers, peers=actor.actors[1:])
