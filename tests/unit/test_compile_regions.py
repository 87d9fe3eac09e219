"""Regional compilation of the learners (`<role>.compile`, rl/compile_regions.py): the blocks are found from
transformers' own metadata, the compiled forward + backward equal eager ones, and misuse is refused."""
from __future__ import annotations

import pytest
import torch

from config.common import LearnerRoleConfig, check_learner_role
from rl.compile_regions import block_classes, compile_blocks


def test_blocks_come_from_no_split_modules_and_a_model_without_them_is_refused(tiny_model_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    assert block_classes(model) == {type(model.model.layers[0]).__name__}
    assert compile_blocks(model) == len(model.model.layers)
    from rl.critic import ValueModel  # the critic's backbone (AutoModel) declares the same blocks

    assert compile_blocks(ValueModel(tiny_model_path)) == len(model.model.layers)
    with pytest.raises(ValueError, match="compile=false"):
        compile_blocks(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_compile_with_zero3_is_a_config_error():
    errors = check_learner_role("actor", LearnerRoleConfig(compile=True, zero_stage=3))
    assert any("actor.compile" in e and "zero_stage=2" in e for e in errors), errors
    assert check_learner_role("actor", LearnerRoleConfig(compile=True, zero_stage=2)) == []


@pytest.mark.slow
def test_compiled_packed_logprobs_and_grads_equal_eager(tiny_model_path):
    from transformers import AutoModelForCausalLM

    from rl.logprobs import sequence_logprobs
    from rl.varlen_attention import register

    torch.manual_seed(0)
    ids = torch.randint(5, 200, (3, 24))
    mask = torch.ones_like(ids)
    mask[1, 17:] = 0
    mask[2, 9:] = 0
    results = []
    # eager; compiled blocks + fused head over all tokens; compiled with the chunked head (recomputed in backward)
    for compiled, chunk in ((False, 0), (True, 0), (True, 16)):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_path, attn_implementation=register())
        if compiled:
            compile_blocks(model)
        lp, ent = sequence_logprobs(model, ids, mask, temperature=0.7, with_entropy=True, packed=True,
                                    chunk_tokens=chunk, compiled=compiled)
        valid = mask[:, 1:].float()
        (lp * valid).sum().backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        results.append((lp * valid, ent * valid, grads))
    lp0, ent0, g0 = results[0]
    for lp1, ent1, g1 in results[1:]:
        assert (lp0 - lp1).abs().max() < 1e-5 and (ent0 - ent1).abs().max() < 1e-5
        assert (g0 - g1).abs().max() < 1e-5 * max(1.0, g0.abs().max().item())
