"""Rollout worker: one engine behind a Ray actor. Turns prompt requests into trajectories tagged with the
policy version that generated them. rl/ wraps this class with `ray.remote`; nothing here knows about learners."""
from __future__ import annotations

import logging
from typing import Mapping

from rollout.base import setup_engine
from rollout.types import RolloutRequest, SamplingParams, Trajectory
from rollout.weights import is_payload, unpack

log = logging.getLogger(__name__)


class RolloutWorker:
    """agent: the `rollout.agent` config as a dict (domains -> {env, options}, limits, tool parser); requests of
    those domains run as multi-turn episodes, the rest as single completions."""

    def __init__(self, engine: str, model_path: str, dtype: str = "float32", threads: int = 0,
                 batch_size: int = 256, engine_options: dict | None = None, agent: dict | None = None) -> None:
        logging.basicConfig(level=logging.INFO)
        self.engine = setup_engine(engine, model_path, dtype=dtype, threads=threads, batch_size=batch_size,
                                   options=engine_options)
        self.model_path = model_path
        self.agent = agent or {}
        self.envs: dict[str, list] = {}
        self._template = None

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
        version = self.engine.version
        outputs = self.engine.generate([r.prompt_ids for r in requests], params)
        return [[Trajectory(
            group_id=req.group_id, domain=req.domain, prompt_text=req.prompt_text,
            prompt_ids=list(req.prompt_ids), response_ids=c.token_ids, response_text=c.text,
            rollout_logprobs=c.logprobs, loss_mask=[1] * len(c.token_ids), policy_version=version,
            truncated=c.finish_reason == "length", reference=req.reference, metadata=req.metadata,
        ) for c in completions] for req, completions in zip(requests, outputs)]

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
            out += run_episodes(self.engine, self._template, parser, list(zip(wave, envs)), params, limits)
        return out

    def close(self) -> None:
        """Release environments (their sandbox containers)."""
        for envs in self.envs.values():
            for env in envs:
                env.close()
        self.envs = {}

    def update_weights(self, state_dict: Mapping[str, object], version: int) -> int:
        """Accepts a tensor state dict or a zero-copy payload from rollout.weights.pack."""
        if is_payload(state_dict):
            state_dict = unpack(state_dict)  # type: ignore[arg-type]
        self.engine.update_weights(state_dict, version)
        return version

    def init_weight_group(self, host: str, port: int, rank: int, world_size: int) -> None:
        """Join the NCCL weight group (rank >= 1) to receive weights from learner rank 0."""
        from rollout.gpu_weight_sync import WeightGroup

        self._wgroup = WeightGroup(host, port, rank, world_size)

    def receive_weights(self, plan: list, version: int) -> int:
        """Receive one broadcast (bucket by bucket, GPU to GPU) and load it into the engine."""
        self.engine.update_weights(dict(self._wgroup.receive(plan)), version)
        return version

    def gpu_uuid(self) -> str:
        from rollout.gpu_weight_sync import gpu_uuid

        return gpu_uuid()

    def receive_ipc(self, handles: list, plan: list, version: int) -> int:
        """Map the learner's IPC-shared buckets (same GPU) and load them into the engine."""
        from rollout.gpu_weight_sync import IpcBuckets

        self.engine.update_weights(dict(IpcBuckets.receive(handles, plan)), version)
        return version

    def version(self) -> int:
        return self.engine.version
