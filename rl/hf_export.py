"""HF-format checkpoints (AutoModelForCausalLM.from_pretrained loads them) written from a `WeightSource` one bucket
at a time: under ZeRO-3 every rank gathers each bucket with rank 0 and only rank 0 writes it, so the whole model
is never held by one rank. Tied weights are written once; `from_pretrained` re-ties them from the config."""
from __future__ import annotations

import json
from pathlib import Path

from rollout.weights.source import WeightSource, weight_plan

SHARD_MB = 2048


def save_hf_checkpoint(source: WeightSource, model_config, path: str | Path, tokenizer_path: str, writer: bool,
                       shard_mb: int = SHARD_MB) -> Path:
    """Write `source` as safetensors shards + index, the model config and the tokenizer. Every rank calls this
    (each bucket is a collective under ZeRO-3); only `writer` touches the disk."""
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    out = Path(path)
    plan = weight_plan(source, shard_mb)
    weight_map: dict[str, str] = {}
    total = 0
    for i, tensors in enumerate(source.buckets(plan)):
        if not writer:
            continue
        name = f"model-{i + 1:05d}-of-{len(plan):05d}.safetensors"
        cpu = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
        out.mkdir(parents=True, exist_ok=True)
        save_file(cpu, str(out / name), metadata={"format": "pt"})
        weight_map.update({k: name for k in cpu})
        total += sum(t.numel() * t.element_size() for t in cpu.values())
    if writer:
        (out / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
        model_config.save_pretrained(out)
        AutoTokenizer.from_pretrained(tokenizer_path).save_pretrained(out)
    return out
