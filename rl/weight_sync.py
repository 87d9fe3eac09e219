"""The driver's part of learner -> engine weight sync: it opens both halves of the configured backend
(rollout/weights/: object_store, nccl, gloo, cuda_ipc) and, per sync, moves the sender's message to the
receivers. It never looks inside handshakes or messages.

With partial rollouts the receivers' loads go to the rollout actors' "weights" thread (rl/roles.py) and land
between generation segments.

Killed rollout workers (rl/worker_faults.py): a dead receiver found by a sync is replaced in its slot and brought
to the synced weights. `bring_up(slots, version)` loads the learner's current weights, tagged `version`, into
fresh actors: with a message backend (object_store, cuda_ipc) the new actor opens its receiver and gets one send;
a collective group (gloo, nccl) cannot take a new member, so the group is rebuilt over every worker (new rendezvous,
once every worker is idle) and everyone gets the current weights. A receiver that dies in the middle of a
collective broadcast is not recovered (the sender's broadcast fails; the run stops and can be resumed).
"""
from __future__ import annotations

import logging
from typing import Any, Iterable, Sequence

import ray

from config.errors import ConfigError
from config.rollout import RolloutConfig
from rl.roles import weights_thread
from rl.worker_faults import RESUME_HINT, WorkerLost, WorkerSlots, is_worker_death, short_reason
from rollout.weights.base import SyncSpec, sender_class

log = logging.getLogger(__name__)
MAX_BRING_UP_ATTEMPTS = 2  # a replacement that keeps dying while loading weights ends the run (WorkerLost)


class WeightSync:
    """sync(version) pushes learner rank 0's current weights to every engine and tags them `version`. `peers` are
    the other learner ranks: they take part in every sync (under ZeRO-3 each bucket is gathered by all ranks).
    `rollout_workers`: a WorkerSlots (dead workers are replaced) or a plain list (a death raises WorkerLost)."""

    def __init__(self, cfg: RolloutConfig, sender: Any, rollout_workers: Sequence[Any],
                 peers: Sequence[Any] = ()) -> None:
        self.cfg, self.sender, self.partial = cfg, sender, cfg.partial_rollouts
        self.workers = WorkerSlots.of("rollout", rollout_workers)
        self.peers = list(peers)
        self.streams = sender_class(cfg.weight_sync).streams
        self.version = 0  # what the engines were last synced to (0: the weights they started with)
        self._open()

    def _open(self) -> None:
        """Open the sender and every receiver (a collective's rendezvous: both halves at the same time)."""
        host, port = ray.get(self.sender.endpoint.remote())
        self.spec = SyncSpec(method=self.cfg.weight_sync, world_size=1 + len(self.workers),
                             bucket_mb=self.cfg.weight_bucket_mb, host=host, port=port)
        handshake = self.sender.open_weight_sender.remote(self.spec)
        peers_ready = [p.open_weight_sender.remote(self.spec) for p in self.peers]
        infos = ray.get([w.open_weight_receiver.remote(self.spec, i + 1) for i, w in enumerate(self.workers)])
        ray.get(peers_ready)
        self.handshake = ray.get(handshake)
        self._check(infos)

    def _check(self, infos: list[Any]) -> None:
        problem = sender_class(self.cfg.weight_sync).check_peers(self.handshake, infos)
        if problem:
            raise ConfigError(problem)

    def __call__(self, version: int) -> None:
        if self.streams:
            # a broadcast starts only when every receiver is alive and can join: a queued rollout would otherwise
            # keep rank 0 inside the broadcast while the other ranks wait in the next bucket's gather on the
            # training group, whose timeout (DeepSpeed's 30 min) is shorter than the weight group's
            if self._replace_dead(self._barrier(idle=bool(self.peers) and not self.partial)):
                self._rebuild()
        dead = self._push(version, range(len(self.workers)))
        self.version = version
        if dead:
            self.bring_up(self._replace_dead(dead), version)

    def bring_up(self, slots: Iterable[int], version: int, attempt: int = 0) -> None:
        """Load the learner's current weights, tagged `version`, into the fresh actors of `slots` (from
        WorkerSlots.replace) before they generate."""
        slots = sorted(set(slots))
        if not slots:
            return
        if attempt > MAX_BRING_UP_ATTEMPTS:
            raise WorkerLost(f"rollout workers {slots} died {attempt} times in a row while loading weight version "
                             f"{version}; {RESUME_HINT}")
        if self.streams:
            self._rebuild()
            dead = self._push(version, range(len(self.workers)))
        else:
            self._check(ray.get([self.workers[s].open_weight_receiver.remote(self.spec, s + 1) for s in slots]))
            dead = self._push(version, slots)
        log.info("rollout workers %s brought to weight version %d", slots, version)
        if dead:  # died again while loading: start over on fresh ones
            self.bring_up(self._replace_dead(dead), version, attempt + 1)

    def _push(self, version: int, slots: Iterable[int]) -> dict[int, BaseException]:
        """One send from the learner, loaded by the workers of `slots`; returns the slots whose actor died."""
        sent = self.sender.send_weights.remote()
        gathers = [p.send_weights.remote() for p in self.peers]
        # a collective needs both halves at once; otherwise Ray hands each receiver the sender's message
        message = None if self.streams else sent
        loads = {s: weights_thread(self.workers[s].receive_weights, self.partial).remote(message, self.handshake,
                                                                                         version)
                 for s in slots}
        try:
            ray.get(gathers + ([sent] if self.streams else []))
        except ray.exceptions.RayTaskError as exc:
            if not self.streams:
                raise
            raise WorkerLost(f"the {self.cfg.weight_sync} weight broadcast failed ({short_reason(exc)}): a rollout "
                             "worker probably died during it, and a collective group cannot lose a member "
                             f"mid-broadcast; {RESUME_HINT}") from exc
        dead = self._dead_of(loads)
        ray.get(self.sender.weights_sent.remote())
        return dead

    def _barrier(self, idle: bool) -> dict[int, BaseException]:
        """Every worker answers (idle: after its queued rollouts, else on the weights thread); the dead ones."""
        calls = {s: (w.version if idle else weights_thread(w.version, self.partial)).remote()
                 for s, w in enumerate(self.workers)}
        return self._dead_of(calls)

    def _dead_of(self, refs: dict[int, Any]) -> dict[int, BaseException]:
        """slot -> the death that `refs[slot]` reported; any other error is raised."""
        dead = {}
        for slot, ref in refs.items():
            try:
                ray.get(ref)
            except ray.exceptions.RayError as exc:
                if not is_worker_death(exc):
                    raise
                dead[slot] = exc
        return dead

    def _replace_dead(self, dead: dict[int, BaseException]) -> list[int]:
        """Replace the actors of `dead` slots (WorkerLost when impossible); returns the slots renewed now."""
        fresh = []
        for slot, exc in dead.items():
            handle = self.workers[slot]
            _, new = self.workers.replace(slot, handle, f"found dead by the weight sync: {short_reason(exc)}")
            fresh += [slot] if new else []
        return fresh

    def _rebuild(self) -> None:
        """A new collective group over every worker, once all are idle and alive (new rendezvous)."""
        for attempt in range(MAX_BRING_UP_ATTEMPTS + 2):
            dead = self._barrier(idle=True)
            if not dead:
                break
            if attempt > MAX_BRING_UP_ATTEMPTS:
                raise WorkerLost(f"rollout workers {sorted(dead)} keep dying while the weight group is rebuilt; "
                                 f"{RESUME_HINT}")
            self._replace_dead(dead)
        log.info("rebuilding the %s weight group over %d rollout workers", self.cfg.weight_sync, len(self.workers))
        self._open()


def make_weight_sync(cfg: RolloutConfig, actor: Any, rollout_workers: Sequence[Any]) -> WeightSync:
    """The weight sync of `cfg.weight_sync` from the actor group's rank 0 to every rollout worker."""
    return WeightSync(cfg, actor.actors[0], rollout_workers, peers=actor.actors[1:])
