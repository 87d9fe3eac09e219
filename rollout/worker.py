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
    def __init__(self, engine: str, model_path: str, dtype: str = "float32", threads: int = 0,
                 batch_size: int = 256, engine_options: dict | None = None) -> None:
        logging.basicConfig(level=logging.INFO)
        self.engine = setup_engine(engine, model_path, dtype=dtype, threads=threads, batch_size=batch_size,
                                   options=engine_options)

    def rollout(self, requests: list[RolloutRequest], params: SamplingParams) -> list[Trajectory]:
        """`params.n` trajectories per request, in request order."""
        version = self.engine.version
        outputs = self.engine.generate([r.prompt_ids for r in requests], params)
        trajectories = []
        for req, completions in zip(requests, outputs):
            for c in completions:
                trajectories.append(Trajectory(
                    group_id=req.group_id, domain=req.domain, prompt_text=req.prompt_text,
                    prompt_ids=list(req.prompt_ids), response_ids=c.token_ids, response_text=c.text,
                    rollout_logprobs=c.logprobs, loss_mask=[1] * len(c.token_ids), policy_version=version,
                    truncated=c.finish_reason == "length", reference=req.reference, metadata=req.metadata,
                ))
        return trajectories

    def update_weights(self, state_dict: Mapping[str, object], version: int) -> int:
        """Accepts a tensor state dict or a zero-copy payload from rollout.weights.pack."""
        if is_payload(state_dict):
            state_dict = unpack(state_dict)  # type: ignore[arg-type]
        self.engine.update_weights(state_dict, version)
        return version

    def version(self) -> int:
        return self.engine.version
