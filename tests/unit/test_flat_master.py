"""rl/flat_master.py against the textbook mixed-precision step: bf16 forward/backward, gradients accumulated in fp32,
global-norm clipping, AdamW on fp32 master weights, bf16 weights rounded from the master."""
from __future__ import annotations

import copy

import pytest
import torch

from rl.flat_master import FlatMasterAdamW


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(50, 16), torch.nn.Linear(16, 32), torch.nn.Tanh(),
                                torch.nn.Linear(32, 16), torch.nn.Linear(16, 50, bias=False))
    model[4].weight = model[0].weight  # tied input/output embedding, as in Qwen2-0.5B
    return model.to(torch.bfloat16)


def _loss(model, ids: torch.Tensor) -> torch.Tensor:
    logits = model(ids[:, :-1]).float()
    return torch.nn.functional.cross_entropy(logits.reshape(-1, 50), ids[:, 1:].reshape(-1))


def _batches(step: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(step)
    return [torch.randint(0, 50, (3, 9), generator=g) for _ in range(2)]


@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_flat_master_step_equals_fp32_master_adamw(clip):
    model = _model()
    ref_model = copy.deepcopy(model)
    opt = FlatMasterAdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.99), weight_decay=0.1, max_grad_norm=clip)
    master = [p.detach().float().clone().requires_grad_(True) for p in ref_model.parameters()]
    ref_opt = torch.optim.AdamW(master, lr=1e-2, betas=(0.9, 0.99), weight_decay=0.1)
    for step in range(3):
        acc = [torch.zeros_like(m) for m in master]
        for ids in _batches(step):  # two micro-batches accumulate before one step
            _loss(model, ids).backward()
            ref_model.zero_grad()
            _loss(ref_model, ids).backward()
            for a, p in zip(acc, ref_model.parameters()):
                a += p.grad.float()
        for p in model.parameters():
            assert p.grad is None, "the bf16 gradient must be folded into the fp32 buffer and freed"
        norm = torch.linalg.vector_norm(torch.stack([a.norm() for a in acc]))
        for m, a in zip(master, acc):
            m.grad = a * (min(1.0, clip / (float(norm) + 1e-6)) if clip > 0 else 1.0)
        opt.step()
        ref_opt.step()
        opt.zero_grad()
        with torch.no_grad():
            for p, m in zip(ref_model.parameters(), master):
                p.copy_(m)
        assert float(opt._global_grad_norm) == pytest.approx(float(norm), rel=1e-5)
        flat = torch.cat([m.detach().reshape(-1) for m in master])
        assert (opt.master - flat).abs().max() < 1e-6
        for p, q in zip(model.parameters(), ref_model.parameters()):
            assert torch.equal(p, q), "bf16 weights are not the master weights rounded"


def test_flat_master_parameters_are_views_and_state_round_trips():
    model = _model()
    opt = FlatMasterAdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.99), weight_decay=0.0, max_grad_norm=1.0)
    for p in model.parameters():  # every parameter is a view of the one flat bf16 buffer
        assert p.untyped_storage().data_ptr() == opt.flat_low.untyped_storage().data_ptr()
        assert p.dtype == torch.bfloat16
    for ids in _batches(0):
        _loss(model, ids).backward()
    opt.step()
    state = copy.deepcopy(opt.state_dict())
    before = [p.detach().clone() for p in model.parameters()]
    for ids in _batches(1):
        _loss(model, ids).backward()
    opt.step()
    opt.load_state_dict(state)  # back to the state after the first step
    for p, b in zip(model.parameters(), before):
        assert torch.equal(p, b)
    other = FlatMasterAdamW(_model()[1:3].parameters(), lr=1e-2, betas=(0.9, 0.99), weight_decay=0.0,
                            max_grad_norm=1.0)
    with pytest.raises(ValueError, match="master_weights"):
        other.load_state_dict(state)


def test_flat_master_rejects_mixed_dtypes():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4).to(torch.bfloat16))
    with pytest.raises(ValueError, match="one dtype"):
        FlatMasterAdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.0, max_grad_norm=1.0)


def test_master_weights_config_errors_name_the_key_and_the_fix():
    from config.errors import ConfigError
    from config.load import load_config
    from config.rl import RLConfig, validate_rl_config

    def load(*overrides):
        return load_config(RLConfig, "mispo_math_code.yaml", list(overrides), validate_rl_config)

    assert load("actor.master_weights=flat", "actor.zero_stage=0", "model.dtype=bfloat16").actor.master_weights == "flat"
    with pytest.raises(ConfigError, match=r"actor.master_weights: flat .* actor.zero_stage=0"):
        load("actor.master_weights=flat", "actor.zero_stage=1", "model.dtype=bfloat16")
    with pytest.raises(ConfigError, match=r"critic.master_weights: flat .* model.dtype=bfloat16"):
        load("critic.master_weights=flat", "critic.zero_stage=0")
    with pytest.raises(ConfigError, match=r"actor.master_weights: 'fast' is not one of"):
        load("actor.master_weights=fast")
