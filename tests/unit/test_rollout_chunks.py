"""How a step's prompts are split into rollout calls (rl/rollout_dispatch.start_rollout): chunks of
`rollout.stream_chunk_prompts`, round-robin over the workers; 0 = one call per worker."""
from __future__ import annotations

import itertools
from types import SimpleNamespace

from rl.data import PromptRecord
from rl.rollout_dispatch import start_rollout
from rollout.types import SamplingParams

_refs = itertools.count()


class Recorder:
    """Stands in for a Ray actor handle only to record which requests `start_rollout` sends where."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []  # (first group id, requests)
        self.rollout = SimpleNamespace(remote=self._remote)

    def _remote(self, requests, params):
        self.calls.append((requests[0].group_id, len(requests)))
        return next(_refs)


def _prompts(n: int) -> list[PromptRecord]:
    return [PromptRecord(domain="math", prompt_text=str(i), prompt_ids=[1, 2], reference="0") for i in range(n)]


def _split(n_prompts: int, chunk: int, workers: int):
    handles = [Recorder() for _ in range(workers)]
    pending = start_rollout(handles, _prompts(n_prompts), SamplingParams(n=2), chunk, 0, 1)
    return [h.calls for h in handles], [p.seed for p in pending.params]


def test_zero_means_one_call_per_worker():
    assert _split(32, 0, 1)[0] == [[(0, 32)]]
    calls, seeds = _split(33, 0, 2)
    assert calls == [[(0, 17)], [(17, 16)]] and len(set(seeds)) == 2
    assert _split(1, 0, 2)[0] == [[(0, 1)], []]  # fewer prompts than workers: nothing sent empty


def test_fixed_chunks_go_round_robin():
    calls, seeds = _split(32, 8, 2)
    assert calls == [[(0, 8), (16, 8)], [(8, 8), (24, 8)]] and len(set(seeds)) == 4
