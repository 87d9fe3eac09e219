"""The baseline merge: a plain parameter average of the experts (same architecture, same tokenizer)."""
from __future__ import annotations

import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)


def average_state_dicts(state_dicts: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Element-wise mean of floating-point tensors (computed in fp32, cast back); other tensors from the first.
    Raises ValueError naming the first key whose presence or shape differs."""
    first = state_dicts[0]
    for i, sd in enumerate(state_dicts[1:], start=1):
        if sd.keys() != first.keys():
            diff = sorted(set(sd) ^ set(first))[:3]
            raise ValueError(f"expert {i} has different parameters than expert 0 (e.g. {diff}); "
                             "weight averaging needs experts of one architecture")
        for k, v in sd.items():
            if v.shape != first[k].shape:
                raise ValueError(f"expert {i}: parameter {k} has shape {tuple(v.shape)}, expert 0 has "
                                 f"{tuple(first[k].shape)}; weight averaging needs experts of one architecture")
    out = {}
    for k, v in first.items():
        if v.is_floating_point():
            out[k] = (sum(sd[k].float() for sd in state_dicts) / len(state_dicts)).to(v.dtype)
        else:
            out[k] = v.clone()
    return out


def weight_average(expert_paths: list[str], out: Path) -> Path:
    """Average the experts' weights into an HF checkpoint at `out` (config and tokenizer of the first expert)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    models = [AutoModelForCausalLM.from_pretrained(p) for p in expert_paths]
    averaged = average_state_dicts([m.state_dict() for m in models])
    merged = models[0]
    merged.load_state_dict(averaged)
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(expert_paths[0]).save_pretrained(out)
    log.info("weight average of %d experts -> %s", len(expert_paths), out)
    return out
