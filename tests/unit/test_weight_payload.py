"""Zero-copy weight payloads round-trip every dtype the learner sends."""
from __future__ import annotations

import pickle

import torch

from rollout.weights import is_payload, pack, unpack


def test_pack_unpack_round_trip_all_dtypes():
    sd = {"a": torch.randn(3, 4), "b": torch.randn(5).to(torch.bfloat16), "c": torch.randn(2, 2).half(),
          "d": torch.arange(6).view(2, 3)}
    payload = pickle.loads(pickle.dumps(pack(sd), protocol=5))  # what crossing the object store does
    assert is_payload(payload) and not is_payload(sd)
    back = unpack(payload)
    for k, v in sd.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and torch.equal(back[k], v), k
