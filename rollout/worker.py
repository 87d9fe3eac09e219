"""Rollout worker: one engine behind a Ray actor. Turns prompt requests into trajectories tagged with the
policy version that generated them. rl/ wraps this class with `ray.remote`; nothing here knows about learners."""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
from typing import Mapping

from config.rollout import RolloutConfig
from rollout.base import setup_engine
from rollout.types import Completion, RolloutRequest, SamplingParams, Trajectory, add_span
from rollout.weights.base import SyncSpec, WeightReceiver, setup_weight_receiver

log = logging.getLogger(__name__)


class RolloutWorker:
    """One engine (`cfg.engine` with its own options) serving rollout requests. Requests of the domains in
    `cfg.agent.domains` run as multi-turn episodes, the rest as single completions.

    With `cfg.partial_rollouts` single-turn completions are generated `cfg.segment_tokens` at a time (agent
    episodes a turn at a time) and a weight update arriving on another thread (Ray concurrency group "weights") is
    loaded between segments, so a long generation never holds back a sync. Every engine call and every weight load
    hold one lock; each span of tokens is tagged with the version that produced it.
    """

    def __init__(self, cfg: RolloutConfig, model_path: str, model_dtype: str = "float32") -> None:
        logging.basicConfig(level=logging.INFO)
        threads = cfg.torch_threads if cfg.torch_threads > 0 else (os.cpu_count() or 1)  # Ray sets 1 in actors
        self.engine = setup_engine(cfg.engine, model_path, dtype=cfg.engine_dtype(model_dtype), threads=threads,
                                   batch_size=cfg.generation_batch_size, options=cfg.engine_options())
        self.model_path = model_path
        self.agent = cfg.agent
        self.envs: dict[str, list] = {}
        self._template = None
        self.segment_tokens = cfg.effective_segment_tokens
        self._engine_lock = threading.Lock()
        self._receiver: WeightReceiver | None = None
        self.engine_calls = 0  # generate calls so far (segments, agent turns)

    def _generate(self, prompts: list[list[int]], params: SamplingParams) -> tuple[list[list[Completion]], int]:
        """One engine call under the engine lock; returns the completions and the weight version that made them."""
        with self._engine_lock:
            outs = self.engine.generate(prompts, params)
            version = self.engine.version
            self.engine_calls += 1
        return outs, version

    def rollout(self, requests: list[RolloutRequest], params: SamplingParams) -> list[Trajectory]:
        """`params.n` trajectories per request, in request order."""
        agent_domains = self.agent.domains
        single = [r for r in requests if r.domain not in agent_domains]
        by_request: dict[int, list[Trajectory]] = {}
        if single:
            by_request.update(zip(map(id, single), self._single_turn(single, params)))
        for domain in sorted({r.domain for r in requests if r.domain in agent_domains}):
            reqs = [r for r in requests if r.domain == domain]
            trajs = self._episodes(domain, reqs, params)
            for i, r in enumerate(reqs):
                by_request[id(r)] = trajs[i * params.n:(i + 1) * params.n]
        return [t for r in requests for t in by_request[id(r)]]

    def _single_turn(self, requests: list[RolloutRequest], params: SamplingParams) -> list[list[Trajectory]]:
        step = self.segment_tokens or params.max_new_tokens
        budget = min(step, params.max_new_tokens)
        first, first_version = self._generate([r.prompt_ids for r in requests],
                                              dataclasses.replace(params, max_new_tokens=budget))
        states = [_Partial(req, list(c.token_ids), list(c.logprobs), c.finish_reason, [], c.text)
                  for req, comps in zip(requests, first) for c in comps]
        for s in states:
            add_span(s.spans, 0, len(s.ids), first_version)
            s.resumable = self.segment_tokens > 0 and self._resumable(s, budget)
        rounds = 0
        while True:  # partial rollouts only: continue completions that stopped at the segment budget
            todo = [s for s in states if s.resumable and len(s.ids) < params.max_new_tokens]
            if not todo:
                break
            rounds += 1
            budget = min(step, min(params.max_new_tokens - len(s.ids) for s in todo))
            # seed=None: a per-call seed would give siblings of one prompt the same draws from here on (vLLM seeds
            # each request); segment timing makes partial rollouts non-reproducible anyway
            outs, version = self._generate([list(s.request.prompt_ids) + s.ids for s in todo],
                                           dataclasses.replace(params, n=1, max_new_tokens=budget, seed=None))
            for s, (c,) in zip(todo, outs):
                add_span(s.spans, len(s.ids), len(s.ids) + len(c.token_ids), version)
                s.ids += c.token_ids
                s.logprobs += c.logprobs
                s.finish = c.finish_reason
                # fewer tokens than asked with "length" = the engine's context limit: truncated, not resumable
                s.resumable = self._resumable(s, budget, len(c.token_ids))
        trajs = [Trajectory(
            group_id=s.request.group_id, domain=s.request.domain, prompt_text=s.request.prompt_text,
            prompt_ids=list(s.request.prompt_ids), response_ids=s.ids,
            response_text=self.engine.decode(s.ids) if rounds else s.text, rollout_logprobs=s.logprobs,
            loss_mask=[1] * len(s.ids), policy_version=min(v for _, _, v in s.spans) if s.spans else first_version,
            truncated=s.finish == "length", reference=s.request.reference, metadata=s.request.metadata,
            version_spans=s.spans) for s in states]
        return [trajs[i * params.n:(i + 1) * params.n] for i in range(len(requests))]

    def _resumable(self, s: "_Partial", asked: int, got: int | None = None) -> bool:
        """Stopped at the segment budget (not by a stop token, not by the engine's context) with room left."""
        got = len(s.ids) if got is None else got
        room = self.engine.max_model_len is None or len(s.request.prompt_ids) + len(s.ids) < self.engine.max_model_len
        return s.finish == "length" and got == asked and room

    def _episodes(self, domain: str, requests: list[RolloutRequest], params: SamplingParams) -> list[Trajectory]:
        """`params.n` episodes per request, `concurrency` at a time, each in its own environment."""
        from rollout.agent_loop import ObservationTemplate, run_episodes
        from rollout.envs import make_env
        from rollout.tools import setup_tool_parser

        cfg = self.agent
        if self._template is None:
            from transformers import AutoTokenizer

            self._template = ObservationTemplate(AutoTokenizer.from_pretrained(self.model_path))
        parser = setup_tool_parser(cfg.tool_parser, tuple(cfg.tool_tags))
        width = max(1, cfg.concurrency)
        env_cfg = cfg.domains[domain]
        envs = self.envs.setdefault(domain, [])
        while len(envs) < min(width, len(requests) * params.n):
            envs.append(make_env(env_cfg.env, dict(env_cfg.options or {})))
        todo = [r for r in requests for _ in range(params.n)]
        out: list[Trajectory] = []
        for w, i in enumerate(range(0, len(todo), width)):
            wave = todo[i:i + width]
            # each wave its own seed: the agent loop re-seeds per turn, so equal seeds would replay earlier waves
            wave_params = params if params.seed is None else dataclasses.replace(
                params, seed=(params.seed + 15_485_863 * w) % (2**31 - 1))
            out += run_episodes(self.engine, self._template, parser, list(zip(wave, envs)), wave_params, cfg,
                                generate=self._generate)
        return out

    def close(self) -> None:
        """Release environments (their sandbox containers), the weight receiver and the engine's processes."""
        for envs in self.envs.values():
            for env in envs:
                env.close()
        self.envs = {}
        if self._receiver is not None:
            self._receiver.close()
        self.engine.close()  # no lock: shutdown must not wait behind a stalled broadcast

    def update_weights(self, state_dict: Mapping[str, object], version: int) -> int:
        """Load a tensor state dict directly (tests, benches); training goes through receive_weights."""
        with self._engine_lock:
            self.engine.update_weights(state_dict, version)
        return version

    def open_weight_receiver(self, spec: SyncSpec, rank: int) -> object:
        """Set up this worker's half of `rollout.weight_sync` (rollout/weights/) as receiver `rank`; returns what
        the sender checks (e.g. the GPU uuid for cuda_ipc)."""
        self._receiver = setup_weight_receiver(spec)
        return self._receiver.open(self.engine, spec, rank)

    def receive_weights(self, message: object, handshake: object, version: int) -> int:
        """Load one sync into the engine, between two engine calls (the engine lock)."""
        if self._receiver is None:
            raise RuntimeError("receive_weights before open_weight_receiver: the driver must open the weight sync")
        with self._engine_lock:
            self._receiver.receive(self.engine, message, handshake, version)
        return version

    def version(self) -> int:
        return self.engine.version

    def release_memory(self) -> dict[str, float]:
        """Free the engine's rebuildable device memory until its next call (rollout.release_memory); returns the
        process's reserved GPU memory before and after, in GiB (0 without CUDA)."""
        with self._engine_lock:
            before = _reserved_gib()
            self.engine.release_memory()
            return {"before_gib": before, "after_gib": _reserved_gib()}


def _reserved_gib() -> float:
    import torch

    return torch.cuda.memory_reserved() / 2**30 if torch.cuda.is_available() else 0.0


@dataclasses.dataclass
class _Partial:
    """A single-turn completion being generated segment by segment."""

    request: RolloutRequest
    ids: list[int]
    logprobs: list[float]
    finish: str
    spans: list[tuple[int, int, int]]
    text: str = ""
    resumable: bool = False  # stopped at the segment budget: the next segment continues it
