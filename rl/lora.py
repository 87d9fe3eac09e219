"""LoRA for the actor (`actor.lora`, through peft): only the adapters train; the KL reference is the same model with
its adapters disabled (no second copy); weight sync and HF exports carry merged weights W + (alpha/r) B A, computed
out of place (the learner's own weights are never merged and unmerged, which would drift with rounding)."""
from __future__ import annotations

from typing import Any

import torch

from config.rl import LoraOptions


def apply_lora(model: torch.nn.Module, opts: LoraOptions) -> torch.nn.Module:
    """`model` wrapped with LoRA adapters on `opts.target_modules`; every other parameter frozen."""
    from peft import LoraConfig, get_peft_model

    missing = [t for t in opts.target_modules if not any(n.endswith(t) for n, _ in model.named_modules())]
    if missing:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)})
        raise ValueError(f"actor.lora.target_modules: {missing} match no module of this model; its linear layers: "
                         f"{linear}")
    cfg = LoraConfig(r=opts.r, lora_alpha=opts.alpha, lora_dropout=opts.dropout,
                     target_modules=list(opts.target_modules), bias="none")
    return get_peft_model(model, cfg)


def is_lora(module: torch.nn.Module) -> bool:
    return hasattr(module, "peft_config") and hasattr(module, "get_base_model")


@torch.no_grad()
def merged_state_dict(peft_model: Any) -> dict[str, torch.Tensor]:
    """The base model's state dict under its HF names with every active adapter's delta added to its layer."""
    from peft.tuners.lora import LoraLayer

    base = peft_model.get_base_model()
    deltas = {}
    for name, mod in base.named_modules():
        if isinstance(mod, LoraLayer):
            active = [a for a in mod.active_adapters if a in mod.lora_A]
            if active:
                deltas[f"{name}.weight"] = sum(mod.get_delta_weight(a) for a in active)
    out = {}
    for key, value in base.state_dict().items():
        if ".lora_" in key:
            continue
        hf = key.replace(".base_layer.", ".")
        out[hf] = (value + deltas[hf].to(value.dtype)) if hf in deltas else value
    return out


def lora_parameter_count(model: torch.nn.Module, opts: LoraOptions) -> int:
    """What LoRA adds: r * (in + out) for each targeted linear layer (the expected trainable parameter count)."""
    total = 0
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and any(name.endswith(t) for t in opts.target_modules):
            total += opts.r * (mod.in_features + mod.out_features)
    return total
