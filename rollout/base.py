"""The inference-engine interface. One module per implementation (hf_engine.py, ...); `setup_engine` picks one
by name. Engines never import each other, rl/, or deepspeed."""
from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod
from typing import Mapping

from rollout.types import Completion, SamplingParams

log = logging.getLogger(__name__)


class Engine(ABC):
    """Generates from token ids and reports the sampled tokens' logprobs; accepts versioned weight updates."""

    version: int = 0
    max_model_len: int | None = None  # prompt + generated tokens the engine accepts (None: no known limit)

    @abstractmethod
    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[list[Completion]]:
        """For each prompt (token ids), `params.n` completions."""

    @abstractmethod
    def update_weights(self, state_dict: Mapping[str, "object"], version: int) -> None:
        """Load new policy weights (a name -> tensor mapping) and record their version."""

    @abstractmethod
    def decode(self, token_ids: list[int]) -> str:
        """Text of `token_ids` without special tokens."""

    def close(self) -> None:
        """Release the engine's processes and memory (vLLM's engine core and workers); default: nothing to do."""

    def release_memory(self) -> None:
        """Free the device memory the next `generate` can rebuild (KV cache, captured graphs) while the engine
        idles, so a learner sharing its GPU can use it (`rollout.release_memory`). Weights stay loaded."""
        raise NotImplementedError(f"{type(self).__name__} cannot release its memory between generations; set "
                                  "rollout.release_memory=false")

    def init_weight_group(self, host: str, port: int, rank: int, world_size: int, backend: str) -> None:
        """Join the learner's weight-broadcast group (rollout/weights/broadcast.py) as receiver `rank`. Engines whose
        weights live in another process (vLLM) override this and the next method to do it there."""
        from rollout.weights.broadcast import WeightGroup

        self._weight_group = WeightGroup(host, port, rank, world_size, backend=backend)

    def receive_weights(self, plan: list, version: int) -> None:
        """Receive one broadcast, bucket by bucket, and load it as `version`."""
        self.update_weights(dict(self._weight_group.receive(plan)), version)


@functools.lru_cache(maxsize=None)
def _warn_top_p(top_p: float) -> None:
    log.warning("rollout.top_p=%s < 1: rollout logprobs are those of the truncated, renormalised nucleus distribution "
                "actually sampled (as vLLM's processed_logprobs), while the learner's pi_old is the untruncated "
                "softmax; every token's ratio pi_old/pi_rollout is then its nucleus mass (<= 1), so MIS-PO's "
                "trajectory filter rejects more. Use top_p=1.0 for exact MIS-PO (docs/mispo.md).", top_p)


def warn_top_p_once(top_p: float) -> None:
    """Log, once per process and value, what the rollout logprobs mean when top_p < 1 (every engine reports the
    same quantity)."""
    if top_p < 1.0:
        _warn_top_p(top_p)


def setup_engine(name: str, model_path: str, dtype: str, threads: int, batch_size: int,
                 options: dict | None = None) -> Engine:
    """Engine factory keyed on `rollout.engine`; `options` are the engine's own keyword settings."""
    if name == "hf":
        from rollout.hf_engine import HFEngine

        return HFEngine(model_path, dtype=dtype, threads=threads, batch_size=batch_size, **(options or {}))
    if name == "vllm":
        try:
            from rollout.vllm_engine import VLLMEngine
        except ImportError as exc:
            raise ValueError("rollout.engine=vllm needs vLLM: `pip install mispo[vllm]` on GPU machines, "
                             "`scripts/install_vllm_cpu.sh` on CPU machines") from exc
        return VLLMEngine(model_path, dtype=dtype, **(options or {}))
    raise ValueError(f"rollout.engine: {name!r} is not one of ['hf', 'vllm']")
