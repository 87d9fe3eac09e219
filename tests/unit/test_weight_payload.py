"""Zero-copy weight payloads round-trip every dtype the learner sends."""
from __future__ import annotations

import pickle

import torch

from rollout.weights.payload import pack, unpack


def test_pack_unpack_round_trip_all_dtypes():
    sd = {"a": torch.randn(3, 4), "b": torch.randn(5).to(torch.bfloat16), "c": torch.randn(2, 2).half(),
          "d": torch.arange(6).view(2, 3)}
    payload = pickle.loads(pickle.dumps(pack(sd), protocol=5))  # what crossing the object store does
    back = unpack(payload)
    for k, v in sd.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and torch.equal(back[k], v), k


def test_tied_weights_cross_once_and_reload_tied():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from rollout.weights.payload import without_tied

    cfg = dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
               num_key_value_heads=1)
    tied = Qwen2ForCausalLM(Qwen2Config(**cfg, tie_word_embeddings=True))
    sd = without_tied(tied.state_dict())
    assert "lm_head.weight" not in sd and "model.embed_tokens.weight" in sd
    untied = Qwen2ForCausalLM(Qwen2Config(**cfg, tie_word_embeddings=False))
    assert set(without_tied(untied.state_dict())) == set(untied.state_dict())
    # a receiver built from the same config re-ties: loading the reduced dict updates lm_head too
    receiver = Qwen2ForCausalLM(Qwen2Config(**cfg, tie_word_embeddings=True))
    missing, unexpected = receiver.load_state_dict(unpack(pack(sd)), strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}
    assert torch.equal(receiver.lm_head.weight, tied.lm_head.weight)
    # views of one storage at different offsets are distinct tensors, not ties
    base = torch.arange(8.0)
    assert set(without_tied({"a": base[:4], "b": base[4:]})) == {"a", "b"}


def test_without_tied_keeps_empty_tensors_and_the_embedding_name():
    from rollout.weights.payload import without_tied

    emb = torch.randn(4, 2)
    kept = without_tied({"lm_head.weight": emb, "model.embed_tokens.weight": emb, "a": torch.empty(0),
                         "b": torch.empty(0)})
    assert set(kept) == {"model.embed_tokens.weight", "a", "b"}
