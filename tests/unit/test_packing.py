"""Padding-free packing and chunked logprobs (rl/packing.py, rl/logprobs.py) give the padded computation's
logprobs, entropies, losses and gradients (fp32, CPU, 1e-5); token-budget micro-batches respect the budget."""
from __future__ import annotations

import pytest
import torch

from rl.batch import TrainBatch
from rl.logprobs import sequence_logprobs
from rl.packing import pack, token_budget_chunks, unpack

LENGTHS = [40, 12, 25, 3, 31, 1]


@pytest.fixture(scope="module")
def model(tiny_model_path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)


def _padded(vocab: int):
    g = torch.Generator().manual_seed(0)
    B, L = len(LENGTHS), max(LENGTHS)
    ids = torch.randint(3, vocab, (B, L), generator=g)
    am = torch.zeros(B, L, dtype=torch.long)
    mask = torch.zeros(B, L - 1)
    for i, n in enumerate(LENGTHS):
        am[i, :n] = 1
        ids[i, n:] = 0
        mask[i, : n - 1] = 1
    return ids, am, mask


@pytest.mark.parametrize("kw", [dict(packed=True), dict(chunk_tokens=7), dict(packed=True, chunk_tokens=9)],
                         ids=["packed", "chunked", "packed+chunked"])
def test_packed_and_chunked_equal_padded(model, kw):
    ids, am, mask = _padded(model.config.vocab_size)
    out = {}
    for name, opts in (("ref", {}), ("new", kw)):
        model.zero_grad()
        lp, ent = sequence_logprobs(model, ids, am, 0.8, True, **opts)
        loss = (lp * mask).sum() / mask.sum()
        loss.backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        out[name] = ((lp * mask).detach(), (ent * mask).detach(), loss.item(), grads)
    (lp0, e0, l0, g0), (lp1, e1, l1, g1) = out["ref"], out["new"]
    assert lp1.shape == lp0.shape
    assert (lp1 - lp0).abs().max() < 1e-5 and (e1 - e0).abs().max() < 1e-5
    assert abs(l1 - l0) < 1e-5 and (g1 - g0).abs().max() < 1e-5


def test_packed_row_attends_within_each_sequence_only(model):
    ids, am, _ = _padded(model.config.vocab_size)
    p = pack(ids, am)
    assert p.input_ids.shape == (1, sum(LENGTHS)) and p.lengths == LENGTHS
    assert p.position_ids[0, :3].tolist() == [0, 1, 2] and p.position_ids[0, 40].item() == 0
    with torch.no_grad():
        alone = model(input_ids=ids[1:2, :12]).logits[0]
        packed = model(input_ids=p.input_ids, position_ids=p.position_ids, use_cache=False).logits[0, 40:52]
    assert (alone - packed).abs().max() < 1e-5


def test_unpack_places_values_in_the_padded_layout():
    flat = torch.arange(6.0)
    assert unpack(flat, [3, 1, 2], 2).tolist() == [[0.0, 1.0], [0.0, 0.0], [4.0, 0.0]]
    assert unpack(flat, [3, 1, 2], 3, next_token=False).tolist() == [[0.0, 1.0, 2.0], [3.0, 0.0, 0.0],
                                                                     [4.0, 5.0, 0.0]]


def test_token_budget_chunks_respect_the_budget_and_keep_every_row():
    B, L = len(LENGTHS), max(LENGTHS)
    am = torch.zeros(B, L, dtype=torch.long)
    for i, n in enumerate(LENGTHS):
        am[i, :n] = 1
    z = torch.zeros(B, L - 1)
    batch = TrainBatch(am.clone(), am, z, z, z, z, z, z, z)
    chunks = token_budget_chunks(batch, 45)
    sizes = [c.attention_mask.sum(-1).tolist() for c in chunks]
    assert sizes == [[40], [12, 25, 3], [31, 1]]
    assert all(sum(s) <= 45 or len(s) == 1 for s in sizes)
    assert [len(c) for c in token_budget_chunks(batch, 10)] == [1] * B  # longer than the budget: alone


def test_varlen_attention_equals_padded(tiny_model_path, model):
    """The learners' attention for packed rows (rl/varlen_attention.py; on CPU: the packed tokens scattered into a
    right-padded batch for one causal SDPA call): logprobs and gradients equal the padded model's."""
    from transformers import AutoModelForCausalLM

    from rl.varlen_attention import register

    varlen = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32, attn_implementation=register())
    ids, am, mask = _padded(model.config.vocab_size)
    grads = {}
    for name, m, kw in (("ref", model, {}), ("varlen", varlen, dict(packed=True, chunk_tokens=16))):
        m.zero_grad()
        lp, _ = sequence_logprobs(m, ids, am, 1.0, **kw)
        ((lp * mask).sum() / mask.sum()).backward()
        grads[name] = (lp.detach(), torch.cat([p.grad.flatten() for p in m.parameters() if p.grad is not None]))
    (ref, g_ref), (packed, g_packed) = grads["ref"], grads["varlen"]
    assert ((packed - ref) * mask).abs().max() < 5e-5
    assert (g_packed - g_ref).abs().max() < 1e-5
    with torch.no_grad():
        padded_again, _ = sequence_logprobs(varlen, ids, am, 1.0)  # unpacked calls fall back to masked SDPA
    assert ((padded_again - ref) * mask).abs().max() < 1e-6
