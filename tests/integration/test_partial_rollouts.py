"""Partial rollouts: a weight update that arrives while a rollout is generating lands between segments; each span
of tokens is tagged with the version that produced it, and its rollout logprobs are that version's."""
from __future__ import annotations

import threading
import time

import torch

from config.rollout import RolloutConfig
from rl.batch import build_batch
from rl.logprobs import sequence_logprobs
from rollout.base import Engine
from rollout.types import Completion, RolloutRequest, SamplingParams
from rollout.worker import RolloutWorker


def _cfg(threads: int, segment_tokens: int = 0) -> RolloutConfig:
    """A rollout section with partial rollouts on when segment_tokens > 0."""
    if segment_tokens:
        return RolloutConfig(torch_threads=threads, mode="async", partial_rollouts=True, segment_tokens=segment_tokens)
    return RolloutConfig(torch_threads=threads)


def _requests(tok, n: int) -> list[RolloutRequest]:
    reqs = []
    for i in range(n):
        text = tok.apply_chat_template([{"role": "user", "content": f"What is {i + 3} * {i + 7}?"}],
                                       add_generation_prompt=True, tokenize=False)
        reqs.append(RolloutRequest(i, "math", text, tok(text, add_special_tokens=False).input_ids))
    return reqs


def test_update_lands_mid_generation_and_spans_carry_versions(tiny_model_path, tiny_tokenizer):
    worker = RolloutWorker(_cfg(2, 2), tiny_model_path)
    old_state = {k: v.detach().clone() for k, v in worker.engine.model.state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    new_state = {k: v + 0.05 * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v
                 for k, v in old_state.items()}
    params = SamplingParams(n=2, temperature=1.0, max_new_tokens=40, seed=0)
    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("trajs", worker.rollout(_requests(tiny_tokenizer, 4),
                                                                                    params)))
    thread.start()
    while worker.engine_calls < 1:  # the first segment is done: the rollout is under way
        time.sleep(0.001)
    worker.update_weights(new_state, 1)  # waits for the engine lock, i.e. for the segment in flight
    calls_at_update = worker.engine_calls
    thread.join()
    trajs = out["trajs"]
    assert worker.engine_calls > calls_at_update, "the rollout ended before the update; lengthen it"
    mixed = [t for t in trajs if t.versions == [0, 1]]
    assert mixed, [t.version_spans for t in trajs]
    for t in trajs:
        assert t.policy_version == t.versions[0] == 0  # the oldest version counts for staleness
        assert t.version_spans[0][0] == 0 and t.version_spans[-1][1] == len(t.response_ids)
        assert all(a[1] == b[0] for a, b in zip(t.version_spans, t.version_spans[1:]))

    batch = build_batch(trajs, torch.ones(len(trajs)), tiny_tokenizer.pad_token_id)
    model = worker.engine.model
    lp_new, _ = sequence_logprobs(model, batch.input_ids, batch.attention_mask, 1.0)
    model.load_state_dict(old_state)
    lp_old, _ = sequence_logprobs(model, batch.input_ids, batch.attention_mask, 1.0)
    worst = {0: 0.0, 1: 0.0}
    cross = 0.0  # how far the other version is: shows the two versions really differ
    for i, t in enumerate(trajs):
        offset = len(t.prompt_ids) - 1  # batch position predicting response token k is P - 1 + k
        for start, end, v in t.version_spans:
            mine, other = (lp_old, lp_new) if v == 0 else (lp_new, lp_old)
            span = slice(offset + start, offset + end)
            ref = batch.rollout_logprobs[i, span]
            worst[v] = max(worst[v], (mine[i, span] - ref).abs().max().item())
            cross = max(cross, (other[i, span] - ref).abs().max().item())
    print(f"\npartial rollouts: {len(mixed)}/{len(trajs)} trajectories span versions 0 and 1; "
          f"logprob max abs diff vs their own version {worst}, vs the other version {cross:.3f}")
    assert max(worst.values()) < 1e-3 and cross > 1e-2


def test_full_rollout_without_partial_is_one_call_and_one_span(tiny_model_path, tiny_tokenizer):
    worker = RolloutWorker(_cfg(2), tiny_model_path)
    trajs = worker.rollout(_requests(tiny_tokenizer, 2), SamplingParams(n=2, max_new_tokens=24, seed=0))
    assert worker.engine_calls == 1
    assert all(t.version_spans == [(0, len(t.response_ids), 0)] for t in trajs)


class _ContextLimitedEngine(Engine):
    """A deterministic engine with a context window: emits token 5 until `max_new_tokens` or the window is full
    (then finish "length" with fewer tokens than asked, as vLLM does at max_model_len)."""

    def __init__(self, window: int) -> None:
        self.window, self.calls, self.max_model_len = window, 0, window

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[list[Completion]]:
        self.calls += 1
        out = []
        for p in prompts:
            n = max(0, min(params.max_new_tokens, self.window - len(p)))
            out.append([Completion([5] * n, [-0.1] * n, "length", "x" * n) for _ in range(params.n)])
        return out

    def update_weights(self, state_dict, version: int) -> None:
        self.version = version

    def decode(self, token_ids: list[int]) -> str:
        return "x" * len(token_ids)


def test_segments_stop_at_the_engine_context_limit(tiny_model_path):
    worker = RolloutWorker(_cfg(1, 4), tiny_model_path)
    worker.engine = _ContextLimitedEngine(window=14)
    req = RolloutRequest(0, "math", "p", [1] * 8)  # 6 tokens of room: segments of 4, then 2 (context full)
    (traj,) = worker.rollout([req], SamplingParams(n=1, max_new_tokens=64))
    assert len(traj.response_ids) == 6 and traj.truncated and worker.engine.calls == 2
    assert traj.version_spans == [(0, 6, 0)]
    worker = RolloutWorker(_cfg(1), tiny_model_path)  # no partial rollouts: one call, never continued
    worker.engine = _ContextLimitedEngine(window=14)
    (traj,) = worker.rollout([req], SamplingParams(n=1, max_new_tokens=64))
    assert len(traj.response_ids) == 6 and traj.truncated and worker.engine.calls == 1
    worker = RolloutWorker(_cfg(1, 4), tiny_model_path)
    worker.engine = _ContextLimitedEngine(window=16)  # segments fill the window exactly: no third call
    (traj,) = worker.rollout([req], SamplingParams(n=1, max_new_tokens=64))
    assert len(traj.response_ids) == 8 and traj.truncated and worker.engine.calls == 2
