"""Packing boundaries: a packed row gives the same per-token logits and targets as each example alone, with
either isolation mode, and no target crosses an example boundary."""
from __future__ import annotations

import pytest
import torch

from sft.data import IGNORE, SFTExample, tokenize_conversation
from sft.packing import block_causal_mask, collate, model_inputs, pack_examples, shifted_targets

CHATS = [
    [{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "\\boxed{5}"}],
    [{"role": "user", "content": "Write a Python function add(a, b)."}, {"role": "assistant", "content": "def add"}],
    [{"role": "user", "content": "What is 12 * 11?"}, {"role": "assistant", "content": "12 * 11 = 132."}],
]


def test_first_fit_packing_respects_the_row_length():
    exs = [SFTExample([1] * n, [1] * n) for n in (5, 3, 4, 2, 7)]
    rows = pack_examples(exs, pack_len=8)
    assert sorted(sum(len(e.input_ids) for e in r) for r in rows) == [6, 7, 8]  # 7 | 5+3 | 4+2
    assert sorted(len(e.input_ids) for r in rows for e in r) == [2, 3, 4, 5, 7]


def test_targets_and_positions_restart_per_example():
    a, b = SFTExample([1, 2, 3], [IGNORE, 2, 3]), SFTExample([4, 5], [IGNORE, 5])
    batch = collate([[a, b]], pad_id=0, length=7)
    assert batch.position_ids.tolist() == [[0, 1, 2, 0, 1, 0, 1]]
    # the last token of `a` (3) does not predict the first token of `b` (4)
    assert batch.targets.tolist() == [[2, 3, IGNORE, 5, IGNORE, IGNORE, IGNORE]]
    assert batch.segment_ids.tolist() == [[0, 0, 0, 1, 1, 2, 2]]
    assert shifted_targets(a) == [2, 3, IGNORE]


def test_block_mask_is_causal_within_segments_only():
    mask = block_causal_mask(torch.tensor([[0, 0, 1, 1]]), torch.float32)[0, 0]
    allowed = (mask == 0).int().tolist()
    assert allowed == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]


@pytest.mark.parametrize("attention", ["position_ids", "mask4d"])
def test_packed_logits_equal_unpacked_logits(tiny_model_path, tiny_tokenizer, attention):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32).eval()
    exs = [tokenize_conversation(c, tiny_tokenizer) for c in CHATS]
    packed = collate([exs], pad_id=tiny_tokenizer.pad_token_id, length=sum(len(e.input_ids) for e in exs) + 5)
    with torch.no_grad():
        logits = model(**model_inputs(packed, attention, torch.float32)).logits[0]
        start = 0
        for ex in exs:
            alone = model(input_ids=torch.tensor([ex.input_ids])).logits[0]
            part = logits[start:start + len(ex.input_ids)]
            assert torch.allclose(part, alone, atol=1e-5), (attention, (part - alone).abs().max())
            start += len(ex.input_ids)
    # positions of the padding segment never carry a target
    assert (packed.targets[0, start:] == IGNORE).all()


def test_without_isolation_the_logits_differ(tiny_model_path, tiny_tokenizer):
    """Guards the test above: plain concatenation (default positions, full causal mask) changes later examples."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32).eval()
    exs = [tokenize_conversation(c, tiny_tokenizer) for c in CHATS[:2]]
    packed = collate([exs], pad_id=tiny_tokenizer.pad_token_id)
    with torch.no_grad():
        naive = model(input_ids=packed.input_ids).logits[0, len(exs[0].input_ids):]
        alone = model(input_ids=torch.tensor([exs[1].input_ids])).logits[0]
    assert (naive - alone).abs().max() > 1e-3
