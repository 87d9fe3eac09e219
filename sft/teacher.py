"""Teacher top-k annotation for token-level distillation (`distill.topk > 0` in an SFT config).

Each example names its teacher; one teacher is loaded at a time, runs over its examples (one example per row,
so the logits are exactly those of the example alone), and keeps at every trained position the top-k next-token
ids and their probabilities renormalised over the k (softmax of the top-k logits at `temperature`).
"""
from __future__ import annotations

import logging
from collections import Counter

import torch

from config.errors import ConfigError
from config.sft import SFTDistillConfig
from sft.data import IGNORE, SFTExample
from sft.packing import collate, model_inputs

log = logging.getLogger(__name__)


@torch.no_grad()
def _annotate(model, examples: list[SFTExample], k: int, temperature: float, pad_id: int, device: torch.device,
              batch_size: int) -> None:
    dtype = next(model.parameters()).dtype
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        batch = collate([[ex] for ex in chunk], pad_id).to(device)
        logits = model(**model_inputs(batch, "position_ids", dtype)).logits.float() / temperature
        values, ids = logits.topk(k, dim=-1)  # [B, L, k]
        probs = torch.softmax(values, dim=-1) * (batch.targets != IGNORE).unsqueeze(-1)
        for b, ex in enumerate(chunk):
            n = len(ex.input_ids)
            ex.topk_ids, ex.topk_probs = ids[b, :n].to(torch.int32).cpu(), probs[b, :n].cpu()


def annotate_topk(examples: list[SFTExample], cfg: SFTDistillConfig, pad_id: int, device: torch.device,
                  dtype: torch.dtype = torch.float32, batch_size: int = 16) -> Counter:
    """Fill topk_ids/topk_probs of every example whose teacher is known; returns examples per teacher
    (key None: examples without a teacher, trained on the NLL alone)."""
    from transformers import AutoModelForCausalLM

    by_teacher: dict[str | None, list[SFTExample]] = {}
    for ex in examples:
        by_teacher.setdefault(ex.teacher, []).append(ex)
    unknown = sorted(str(t) for t in by_teacher if t is not None and t not in cfg.teachers)
    if unknown:
        raise ConfigError(f"distill.teachers: no checkpoint for teacher(s) {unknown} named by the rows' "
                          f"'{cfg.teacher_key}' field; add them (have {sorted(cfg.teachers)})")
    for name, exs in by_teacher.items():
        if name is None:
            continue
        model = AutoModelForCausalLM.from_pretrained(cfg.teachers[name], dtype=dtype).to(device).eval()
        _annotate(model, exs, cfg.topk, cfg.temperature, pad_id, device, batch_size)
        del model
        log.info("teacher %s: top-%d logits for %d examples", name, cfg.topk, len(exs))
    return Counter({name: len(exs) for name, exs in by_teacher.items()})
