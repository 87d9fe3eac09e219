"""LoRA (rl/lora.py): the trainable parameters are exactly the adapters LoRA defines, the merged weights equal
the adapted model's forward, and the base stays frozen."""
from __future__ import annotations

import pytest
import torch

from config.rl import LoraOptions


def test_adapters_are_the_only_trainable_parameters_and_merge_matches_the_forward(tiny_model_path):
    from transformers import AutoModelForCausalLM

    from rl.lora import apply_lora, lora_parameter_count, merged_state_dict

    opts = LoraOptions(r=4, alpha=8.0, target_modules=["q_proj", "v_proj", "down_proj"])
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    expected = lora_parameter_count(base, opts)
    model = apply_lora(base, opts)
    trainable = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}
    assert sum(trainable.values()) == expected > 0
    assert all(".lora_A." in n or ".lora_B." in n for n in trainable)
    for p in (p for n, p in model.named_parameters() if ".lora_B." in n):  # B starts at 0: give it a value
        torch.nn.init.normal_(p, std=0.05)
    merged = merged_state_dict(model)
    assert not any("lora" in k or "base_layer" in k for k in merged)
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    plain.load_state_dict(merged)
    ids = torch.randint(3, 400, (2, 12))
    with torch.no_grad():
        assert (plain(ids).logits - model(input_ids=ids).logits).abs().max() < 1e-4
        with model.disable_adapter():  # the KL reference: the untouched base
            fresh = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
            assert (fresh(ids).logits - model(input_ids=ids).logits).abs().max() < 1e-6


def test_unknown_target_module_names_the_model_layers(tiny_model_path):
    from transformers import AutoModelForCausalLM

    from rl.lora import apply_lora

    base = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"\['query'\] match no module.*q_proj"):
        apply_lora(base, LoraOptions(r=2, target_modules=["query"]))
