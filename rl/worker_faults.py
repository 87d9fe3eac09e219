"""Killed workers during a step: the driver replaces them and counts what the fault cost.

Detection. A Ray actor whose process dies (SIGKILL, the OOM killer, a lost node) fails every task pending on it with
`RayActorError` (measured: ~10 ms after a SIGKILL on the same node), so the driver sees it on the next `ray.wait`.
A rollout worker that hangs (no chunk finished for `hang_timeout_s`) is killed with `ray.kill` and handled the same
way. A worker that is alive but raises is a bug: its `RayTaskError` is not caught here and ends the run.

Replacement. `WorkerSlots` holds a role's actors by slot and the factory that made them (same class, options,
resources and concurrency groups, rl/roles.py). `replace(slot, dead)` kills what is left of the dead actor, starts
a fresh one in its slot and waits at most `restart_timeout_s` (`trainer.worker_restart_timeout_s`) for it to be
placed and constructed; otherwise `WorkerLost`, which says which worker on which node and how to resume. A slot is
replaced once however many of its tasks fail: later failures of the old actor find the slot already renewed.

What a fault costs, per step (`fault_stats`, logged as `faults/*`, see `FaultCounts`):
- a rollout worker's lost chunks are regenerated on its replacement with the same chunk seed, after the replacement
  loaded the learner's current weights and version (rl/weight_sync.py `WeightSync.bring_up`); a chunk whose
  worker died `MAX_REGENERATIONS + 1` times is dropped (`samples_lost`);
  The replacement holds the learner's weights tagged with the learner's version: in sync mode with
  rollout.sync_interval=1 those are the dead worker's weights, so the regenerated samples are exactly the ones it
  would have produced; in async mode or with sync_interval > 1 they are newer (staleness 0, tagged so), never older;
- a reward worker's chunk in flight is not re-scored: its samples get status "error" (masked from the loss);
- `check_fault_frac`: when more than `trainer.max_fault_frac` of a step's samples are lost or failed (status error
  or timeout, whatever the cause: a dead reward worker, a killed sandbox, a verifier error or deadline), the step
  stops with `TooManyFaults` instead of training on a batch biased toward the samples that did not fail.
Restarts made by the weight sync (a worker found dead between steps) are counted in the next step's row.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import ray

from rewards.types import RewardResult

log = logging.getLogger(__name__)
MAX_REGENERATIONS = 2  # a chunk whose worker died this many times more is dropped, not regenerated forever
RESUME_HINT = "the run can be resumed from its last checkpoint with trainer.resume=auto"


class WorkerLost(RuntimeError):
    """A worker died and could not be replaced (no room to place a fresh actor in time, or its constructor failed).
    The step cannot be completed without biasing it; the message names the worker, its node and how to resume."""


class TooManyFaults(RuntimeError):
    """More than `trainer.max_fault_frac` of a step's samples were lost or failed."""


@dataclass(frozen=True)
class WorkerPlace:
    """Where an actor runs: Ray node id, node IP and process id."""

    node_id: str
    ip: str
    pid: int

    def __str__(self) -> str:
        return f"node {self.node_id[:12]} ({self.ip}), pid {self.pid}"


def _where(_actor: Any) -> WorkerPlace:
    """Runs inside an actor (`__ray_call__`): where it lives."""
    import os

    ctx = ray.get_runtime_context()
    return WorkerPlace(ctx.get_node_id(), ray.util.get_node_ip_address(), os.getpid())


@dataclass(frozen=True)
class RestartEvent:
    """One replacement: role, slot, where the dead actor ran, why, and when (time.monotonic) the driver started
    replacing it and when the fresh actor was constructed."""

    role: str
    slot: int
    place: WorkerPlace | None
    reason: str
    detected_at: float
    ready_at: float


class WorkerSlots(Sequence):
    """A role's actors by slot (indexable and iterable like the list it replaces). `factory()` starts one actor with
    the role's options; None for a fixed set that cannot be renewed (replace then raises WorkerLost)."""

    def __init__(self, role: str, handles: Sequence[Any], factory: Callable[[], Any] | None = None,
                 restart_timeout_s: float = 300.0, options: str = "") -> None:
        self.role, self.factory, self.restart_timeout_s, self.options = role, factory, restart_timeout_s, options
        self.handles = list(handles)
        self._places: list[Any] = [h.__ray_call__.remote(_where) for h in self.handles]
        self.events: list[RestartEvent] = []

    @classmethod
    def start(cls, role: str, factory: Callable[[], Any], n: int, restart_timeout_s: float,
              options: str = "") -> WorkerSlots:
        return cls(role, [factory() for _ in range(n)], factory, restart_timeout_s, options)

    @classmethod
    def of(cls, role: str, workers: Sequence[Any]) -> WorkerSlots:
        """`workers` as slots: itself when it already is, else a fixed set."""
        return workers if isinstance(workers, WorkerSlots) else cls(role, workers)

    def __len__(self) -> int:
        return len(self.handles)

    def __getitem__(self, slot):  # type: ignore[override]
        return self.handles[slot]

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self.handles))

    @property
    def restarts(self) -> int:
        return len(self.events)

    @property
    def restart_s(self) -> float:
        """Seconds spent starting replacements so far."""
        return sum((e.ready_at - e.detected_at for e in self.events), 0.0)

    def place(self, slot: int, timeout_s: float = 0.0) -> WorkerPlace | None:
        """Where slot's actor runs (None when not known within `timeout_s`, e.g. it died before answering)."""
        ref = self._places[slot]
        if isinstance(ref, WorkerPlace):
            return ref
        try:
            self._places[slot] = ray.get(ref, timeout=timeout_s)
        except Exception:  # noqa: BLE001 - not answered yet or dead: unknown
            return None
        return self._places[slot]

    def replace(self, slot: int, dead: Any, reason: str) -> tuple[Any, bool]:
        """Renew `slot` whose actor `dead` failed. Returns (the slot's live actor, whether it was started now): when
        the slot already holds another actor (renewed after an earlier failure), nothing is started."""
        if self.handles[slot] is not dead:
            return self.handles[slot], False
        detected = time.monotonic()
        where = self.place(slot)
        who = f"{self.role} worker {slot} on {where or 'an unknown node'}"
        log.warning("%s died: %s; starting a replacement", who, reason)
        try:
            ray.kill(dead, no_restart=True)  # a hung or unreachable actor must not live on beside its replacement
        except Exception:  # noqa: BLE001 - already gone
            pass
        if self.factory is None:
            raise WorkerLost(f"{who} died ({reason}) and this worker set has no factory to start a replacement "
                             f"(rl/roles.py start_{self.role}_workers makes one); {RESUME_HINT}")
        fresh = self.factory()
        place_ref = fresh.__ray_call__.remote(_where)
        try:
            place = ray.get(place_ref, timeout=self.restart_timeout_s)
        except ray.exceptions.GetTimeoutError:
            ray.kill(fresh, no_restart=True)
            raise WorkerLost(
                f"{who} died ({reason}) and Ray could not place a replacement ({self.options or 'same options'}) "
                f"within trainer.worker_restart_timeout_s={self.restart_timeout_s:g} s: the cluster lacks the "
                f"resources (a lost node?). Raise the timeout or add capacity; {RESUME_HINT}") from None
        except ray.exceptions.RayError as exc:
            raise WorkerLost(f"{who} died ({reason}) and its replacement failed to start: {short_reason(exc)}; "
                             f"{RESUME_HINT}") from exc
        self.handles[slot], self._places[slot] = fresh, place
        self.events.append(RestartEvent(self.role, slot, where, reason, detected, time.monotonic()))
        log.warning("%s replaced in %.1f s by a fresh actor on %s", who, time.monotonic() - detected, place)
        return fresh, True


def is_worker_death(exc: BaseException) -> bool:
    """The actor is gone (killed, crashed, node lost), as opposed to a task that raised (a bug)."""
    return isinstance(exc, ray.exceptions.RayActorError)


def short_reason(exc: BaseException) -> str:
    """First line of a Ray error (of the exception a remote task raised, for a RayTaskError), for logs and sample
    details."""
    cause = getattr(exc, "cause", None)
    exc = cause if isinstance(cause, BaseException) else exc
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def reward_worker_died(slot: int, exc: BaseException) -> RewardResult:
    """The result of a sample whose reward worker died while scoring it: a failure, masked from the loss."""
    return RewardResult.failed("error", f"reward worker {slot} died while scoring this chunk ({short_reason(exc)}); "
                               "the worker was replaced", fault="reward_worker_died")


@dataclass
class FaultCounts:
    """What faults cost during one step's draw (all rounds).

    samples_regenerated: samples of chunks regenerated on a replacement rollout worker; samples_lost: samples of
    chunks dropped (their worker kept dying); samples_errored: samples whose reward came back with status error or
    timeout, whatever the cause; samples: samples scored this step (excluding lost ones)."""

    samples_regenerated: int = 0
    samples_lost: int = 0
    samples_errored: int = 0
    samples: int = 0

    @property
    def failed_frac(self) -> float:
        """Share of the step's samples (lost ones included) that were lost or failed."""
        total = self.samples + self.samples_lost
        return (self.samples_lost + self.samples_errored) / total if total else 0.0


def fault_stats(counts: FaultCounts, rollout_restarts: int, reward_restarts: int, restart_s: float) -> dict[str, float]:
    """The `faults/*` metrics of one step (restarts: since the previous step's draw, sync included)."""
    return {"faults/rollout_worker_restarts": float(rollout_restarts),
            "faults/reward_worker_restarts": float(reward_restarts),
            "faults/restart_s": float(restart_s),
            "faults/samples_regenerated": float(counts.samples_regenerated),
            "faults/samples_lost": float(counts.samples_lost),
            "faults/samples_errored": float(counts.samples_errored),
            "faults/failed_frac": counts.failed_frac}


def check_fault_frac(counts: FaultCounts, max_fault_frac: float) -> None:
    """Raise TooManyFaults when more than `max_fault_frac` of the step's samples were lost or failed (1.0: never)."""
    if counts.failed_frac <= max_fault_frac:
        return
    total = counts.samples + counts.samples_lost
    raise TooManyFaults(
        f"{counts.samples_lost + counts.samples_errored} of this step's {total} samples "
        f"({counts.failed_frac:.0%}) were lost ({counts.samples_lost}: their rollout worker kept dying) or failed "
        f"({counts.samples_errored}: reward status error/timeout: a verifier error or deadline, a killed sandbox or "
        f"reward worker), more than trainer.max_fault_frac={max_fault_frac:g}. Training on the rest would bias the "
        "batch toward the samples that did not fail. Fix the cause (reward/error_frac, the `details` of masked "
        "samples in samples.jsonl, the worker logs) or raise trainer.max_fault_frac (1.0 never stops); "
        f"{RESUME_HINT}")
