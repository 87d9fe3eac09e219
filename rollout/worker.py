"""Rollout worker: one engine behind a Ray actor. Turns prompt requests into trajectories tagged with the
policy version that generated them. rl/ wraps this class with `ray.remote`; nothing here knows about learners."""
from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Mapping

from rollout.base import setup_engine
from rollout.types import Completion, RolloutRequest, SamplingParams, Trajectory, add_span
from rollout.weights import is_payload, unpack

log = logging.getLogger(__name__)


class RolloutWorker:
    """agent: the `rollout.agent` config as a dict (domains -> {env, options}, limits, tool parser); requests of
    those domains run as multi-turn episodes, the rest as single completions.

    segment_tokens > 0 enables partial rollouts: single-turn completions are generated `segment_tokens` at a time
    (agent episodes a turn at a time) and a weight update arriving on another thread (Ray concurrency group
    "weights") is loaded between segments, so a long generation never holds back a sync. Every engine call and
    every weight load hold one lock; each span of tokens is tagged with the version that produced it.
    """

    def __init__(self, engine: str, model_path: str, dtype: str = "float32", threads: int = 0,
                 batch_size: int = 256, engine_options: dict | None = None, agent: dict | None = None,
                 segment_tokens: int = 0) -> None:
        logging.basicConfig(level=logging.INFO)
        self.engine = setup_engine(engine, model_path, dtype=dtype, threads=threads, batch_size=batch_size,
                                   options=engine_options)
        self.model_path = model_path
        self.agent = agent or {}
        self.envs: dict[str, list] = {}
        self._template = None
        self.segment_tokens = segment_tokens
        self._engine_lock = threading.Lock()
        self.engine_calls = 0  # generate calls so far (segments, agent turns)

    def _generate(self, prompts: list[list[int]], params: SamplingParams) -> tuple[list[list[Completion]], int]:
        """One engine call under the engine lock; returns the completions and the weight version that made them."""
        with self._engine_lock:
            outs = self.engine.generate(prompts, params)
            version = self.engine.version
            self.engine_calls += 1
        return outs, version

    def _load(self, state_dict: Mapping[str, object], version: int) -> int:
        with self._engine_lock:
            self.engine.update_weights(state_dict, version)
        return version

    def rollout(self, requests: list[RolloutRequest], params: SamplingParams) -> list[Trajectory]:
        """`params.n` trajectories per request, in request order."""
        agent_domains = self.agent.get("domains", {})
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
        from rollout.agent_loop import AgentLimits, ObservationTemplate, run_episodes
        from rollout.envs import make_env
        from rollout.tools import setup_tool_parser

        cfg = self.agent
        if self._template is None:
            from transformers import AutoTokenizer

            self._template = ObservationTemplate(AutoTokenizer.from_pretrained(self.model_path))
        limits = AgentLimits(cfg.get("max_turns", 8), cfg.get("max_turn_tokens", 64), cfg.get("max_total_tokens", 512),
                             cfg.get("observation_tokens", 256), cfg.get("wall_s", 300.0))
        parser = setup_tool_parser(cfg.get("tool_parser", "xml"), tuple(cfg.get("tool_tags", ["bash"])))
        width = max(1, int(cfg.get("concurrency", 8)))
        env_cfg = cfg["domains"][domain]
        envs = self.envs.setdefault(domain, [])
        while len(envs) < min(width, len(requests) * params.n):
            envs.append(make_env(env_cfg["env"], env_cfg.get("options") or {}))
        todo = [r for r in requests for _ in range(params.n)]
        out: list[Trajectory] = []
        for i in range(0, len(todo), width):
            wave = todo[i:i + width]
            out += run_episodes(self.engine, self._template, parser, list(zip(wave, envs)), params, limits,
                                generate=self._generate)
        return out

    def close(self) -> None:
        """Release environments (their sandbox containers) and the engine's processes."""
        for envs in self.envs.values():
            for env in envs:
                env.close()
        self.envs = {}
        self.engine.close()  # no lock: shutdown must not wait behind a stalled broadcast

    def update_weights(self, state_dict: Mapping[str, object], version: int) -> int:
        """Accepts a tensor state dict or a zero-copy payload from rollout.weights.pack."""
        if is_payload(state_dict):
            state_dict = unpack(state_dict)  # type: ignore[arg-type]
        return self._load(state_dict, version)

    def init_weight_group(self, host: str, port: int, rank: int, world_size: int, backend: str = "nccl") -> None:
        """Join the learner's weight-broadcast group (rank >= 1; NCCL between GPUs, gloo on CPU)."""
        self.engine.init_weight_group(host, port, rank, world_size, backend)

    def receive_weights(self, plan: list, version: int) -> int:
        """Receive one broadcast (bucket by bucket) and load it into the engine, between two engine calls."""
        with self._engine_lock:
            self.engine.receive_weights(plan, version)
        return version

    def gpu_uuid(self) -> str:
        from rollout.gpu_weight_sync import gpu_uuid

        return gpu_uuid()

    def receive_ipc(self, handles: list, plan: list, version: int) -> int:
        """Map the learner's IPC-shared buckets (same GPU) and load them into the engine."""
        from rollout.gpu_weight_sync import IpcBuckets

        return self._load(dict(IpcBuckets.receive(handles, plan)), version)

    def version(self) -> int:
        return self.engine.version



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
