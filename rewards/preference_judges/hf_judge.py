"""Local judge: a transformers causal LM scoring the verdict token directly (one forward pass per prompt)."""
from __future__ import annotations

import torch

from rewards.preference_judges.base import Judge


class HFJudge(Judge):
    def __init__(self, model_path: str, dtype: str = "float32", threads: int = 1) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        dt = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dt).eval()

    def _label_id(self, label: str) -> int:
        ids = self.tokenizer(label, add_special_tokens=False).input_ids
        if len(ids) != 1:
            raise ValueError(f"judge label {label!r} is {len(ids)} tokens for this tokenizer; choose single-token "
                             "labels (option labels: [A, B])")
        return ids[0]

    @torch.no_grad()
    def label_logprobs(self, prompt: str, labels: tuple[str, str]) -> tuple[float, float]:
        ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids
        logits = self.model(input_ids=ids).logits[0, -1].float()
        logp = torch.log_softmax(logits, dim=-1)
        return float(logp[self._label_id(labels[0])]), float(logp[self._label_id(labels[1])])
