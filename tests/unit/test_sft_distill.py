"""Token-level distillation: the teacher top-k comes from the right teacher per example, lines up with the
example's positions after packing, and the loss mixes NLL and KD only where a teacher exists."""
from __future__ import annotations

import pytest
import torch

from config.sft import SFTDistillConfig
from sft.data import IGNORE, SFTExample, tokenize_conversation
from sft.packing import PackedBatch, collate, distill_loss_sums
from sft.teacher import annotate_topk

CHATS = [
    [{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "\\boxed{5}"}],
    [{"role": "user", "content": "Write a Python function add(a, b)."}, {"role": "assistant", "content": "def add"}],
]


def test_loss_is_nll_without_teachers_and_mixes_where_a_teacher_exists():
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 6)
    targets = torch.tensor([[2, 3, IGNORE, 1]])
    batch = PackedBatch(torch.zeros(1, 4, dtype=torch.long), torch.arange(4)[None], targets, torch.zeros(1, 4))
    nll_tok = -torch.log_softmax(logits, -1)[0, [0, 1, 3], [2, 3, 1]]
    loss, nll, kd = distill_loss_sums(logits, batch, alpha=0.5, temperature=1.0)
    assert torch.isclose(loss, nll_tok.sum()) and torch.isclose(nll, nll_tok.sum()) and kd == 0
    # a one-hot teacher on the target at positions 0 and 2 (position 2 has no target: ignored)
    batch.topk_ids = torch.tensor([[[2, 0], [0, 0], [4, 0], [0, 0]]])
    batch.topk_probs = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]])
    loss, nll, kd = distill_loss_sums(logits, batch, alpha=0.25, temperature=1.0)
    assert torch.isclose(kd, nll_tok[0])  # KD on a one-hot teacher = the NLL of that token
    assert torch.isclose(loss, 0.75 * nll_tok[0] + 0.25 * kd + nll_tok[1] + nll_tok[2])


def test_annotation_routes_each_example_to_its_teacher_and_survives_packing(tiny_model_path, tiny_tokenizer,
                                                                            tmp_path):
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32).eval()
    other = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.05 * torch.randn_like(p))
    other.save_pretrained(tmp_path / "other")
    exs = [tokenize_conversation(c, tiny_tokenizer) for c in CHATS]
    exs[0].teacher, exs[1].teacher = "base", "other"
    extra = SFTExample(list(exs[0].input_ids), list(exs[0].labels))  # no teacher: NLL only
    cfg = SFTDistillConfig(topk=3, teachers={"base": tiny_model_path, "other": str(tmp_path / "other")})
    counts = annotate_topk([*exs, extra], cfg, tiny_tokenizer.pad_token_id, torch.device("cpu"))
    assert dict(counts) == {"base": 1, "other": 1, None: 1} and extra.topk_ids is None
    for ex, model in ((exs[0], base), (exs[1], other)):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ex.input_ids])).logits[0]
        values, ids = logits.topk(3, -1)
        trained = torch.tensor([lab != IGNORE for lab in ex.labels[1:]] + [False])
        assert torch.equal(ex.topk_ids[trained].long(), ids[trained])
        assert torch.allclose(ex.topk_probs[trained], torch.softmax(values[trained], -1), atol=1e-5)
        assert (ex.topk_probs[~trained] == 0).all()
    packed = collate([[exs[0], extra, exs[1]]], tiny_tokenizer.pad_token_id)
    n0, n1 = len(exs[0].input_ids), len(extra.input_ids)
    assert torch.equal(packed.topk_ids[0, n0 + n1:n0 + n1 + len(exs[1].input_ids)], exs[1].topk_ids.long())
    assert (packed.topk_probs[0, n0:n0 + n1] == 0).all()


def test_unknown_teacher_is_a_config_error(tiny_tokenizer):
    from config.errors import ConfigError

    ex = tokenize_conversation(CHATS[0], tiny_tokenizer)
    ex.teacher = "nobody"
    with pytest.raises(ConfigError, match="distill.teachers"):
        annotate_topk([ex], SFTDistillConfig(topk=2, teachers={"x": "y"}), 0, torch.device("cpu"))
