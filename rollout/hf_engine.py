"""HF transformers engine: `model.generate` with sampling, logprobs recomputed from the returned raw logits.

Logprobs are log_softmax(logits / temperature) of the sampled token: the same quantity the learner computes for
pi_old, so MIS-PO's ratio compares like with like. With top_p < 1 the sampling distribution is truncated but
the reported logprob is the untruncated tempered one (as in verl/OpenRLHF); keep top_p = 1.0 for exact MIS-PO.
"""
from __future__ import annotations

import logging
from typing import Mapping

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from rollout.base import Engine
from rollout.types import Completion, SamplingParams

log = logging.getLogger(__name__)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class HFEngine(Engine):
    """Batched sampling with transformers. Good for tiny models on CPU; on GPU vLLM is the fast path."""

    def __init__(self, model_path: str, dtype: str = "float32", threads: int = 0, batch_size: int = 256,
                 static_cache: bool = False) -> None:
        """static_cache: decode with a static KV cache, which transformers compiles (torch.compile) on CUDA;
        measured by scripts/bench/hf_generate.py. Ignored on CPU."""
        if threads > 0:
            torch.set_num_threads(threads)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=DTYPES[dtype]).to(self.device).eval()
        self.batch_size = batch_size
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id
        self.stop_ids = self._stop_ids()
        self.static_cache = static_cache and self.device.type == "cuda"
        self.version = 0
        self.max_model_len = getattr(self.model.config, "max_position_embeddings", None)

    def _stop_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    def decode(self, token_ids: list[int]) -> str:
        return self.tokenizer.decode(token_ids, skip_special_tokens=True)

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[list[Completion]]:
        flat = [p for p in prompts for _ in range(params.n)]
        if params.seed is not None:
            torch.manual_seed(params.seed)
        done: list[Completion] = []
        for start in range(0, len(flat), self.batch_size):
            done += self._generate_batch(flat[start:start + self.batch_size], params)
        return [done[i * params.n:(i + 1) * params.n] for i in range(len(prompts))]

    def _generate_batch(self, prompts: list[list[int]], params: SamplingParams) -> list[Completion]:
        width = max(len(p) for p in prompts)
        if self.static_cache:  # few distinct shapes -> few recompilations of the static-cache decoder
            width = -(-width // 64) * 64
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):  # left padding: generation continues right after each prompt
            input_ids[i, width - len(p):] = torch.tensor(p)
            attention[i, width - len(p):] = 1
        gen_cfg = GenerationConfig(
            do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0,
            max_new_tokens=params.max_new_tokens, eos_token_id=self.stop_ids, pad_token_id=self.pad_id,
            return_dict_in_generate=True, output_logits=True,
            **({"cache_implementation": "static"} if self.static_cache else {}),
        )
        out = self.model.generate(
            input_ids=input_ids.to(self.device), attention_mask=attention.to(self.device), generation_config=gen_cfg
        )
        new_tokens = out.sequences[:, width:]
        # per step on the device: never materialise [B, T, V] (large vocabularies) or copy logits to the host
        token_lp = torch.stack([
            torch.log_softmax(step.float() / params.temperature, dim=-1).gather(-1, new_tokens[:, t:t + 1])[:, 0]
            for t, step in enumerate(out.logits)], dim=1).cpu()
        new_tokens = new_tokens.cpu()
        return [self._completion(new_tokens[i], token_lp[i], params) for i in range(len(prompts))]

    def _completion(self, tokens: torch.Tensor, lps: torch.Tensor, params: SamplingParams) -> Completion:
        ids = tokens.tolist()
        end, reason = len(ids), "length"
        for t, tok in enumerate(ids):
            if tok in self.stop_ids:
                end, reason = t + 1, "stop"
                break
        ids = ids[:end]
        return Completion(token_ids=ids, logprobs=lps[:end].tolist(), finish_reason=reason, text=self.decode(ids))

    def update_weights(self, state_dict: Mapping[str, torch.Tensor], version: int) -> None:
        missing, unexpected = self.model.load_state_dict(dict(state_dict), strict=False)
        missing = [k for k in missing if k != "lm_head.weight" or not self.model.config.tie_word_embeddings]
        if missing or unexpected:
            raise RuntimeError(f"weight update mismatch: missing={missing[:5]} unexpected={unexpected[:5]}")
        self.version = version
