"""HF-format checkpoints (AutoModelForCausalLM.from_pretrained loads them) written from a `WeightSource` one bucket
at a time: under ZeRO-3 every rank gathers each bucket with rank 0 and only rank 0 writes it, so the whole model
is never held by one rank. Tied weights are written once; `from_pretrained` re-ties them from the config."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from rollout.weights.source import WeightSource, weight_plan

SHARD_MB = 2048


def save_hf_checkpoint(source: WeightSource, model_config, path: str | Path, tokenizer_path: str, writer: bool,
                       generation_config=None, shard_mb: int = SHARD_MB) -> Path:
    """Write `source` as safetensors shards + index, the model config (dtype set to the shards'), the generation
    config and the tokenizer. Every rank calls this (each bucket is a collective under ZeRO-3); only `writer`
    touches the disk."""
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    out = Path(path)
    plan = weight_plan(source, shard_mb)
    weight_map: dict[str, str] = {}
    total, dtype = 0, None
    for i, tensors in enumerate(source.buckets(plan)):
        if not writer:
            continue
        name = f"model-{i + 1:05d}-of-{len(plan):05d}.safetensors"
        cpu = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
        out.mkdir(parents=True, exist_ok=True)
        save_file(cpu, str(out / name), metadata={"format": "pt"})
        weight_map.update({k: name for k in cpu})
        dtype = dtype or next((v.dtype for v in cpu.values() if v.is_floating_point()), None)
        total += sum(t.numel() * t.element_size() for t in cpu.values())
    if writer:
        (out / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
        config = copy.deepcopy(model_config)
        if dtype is not None:  # what the shards hold (the learner's module may carry a different load dtype)
            config.torch_dtype = dtype
        config.save_pretrained(out)
        if generation_config is not None:  # stop ids and sampling defaults, as save_pretrained writes them
            generation_config.save_pretrained(out)
        AutoTokenizer.from_pretrained(tokenizer_path).save_pretrained(out)
    return out
