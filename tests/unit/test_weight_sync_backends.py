"""The weight-sync backend family (rollout/weights/): the factory, and both halves of each CPU backend moving real
weights into a real HF engine (object_store, gloo); cuda_ipc refuses engines on another GPU."""
from __future__ import annotations

import threading

import pytest
import torch
from transformers import AutoModelForCausalLM

from rl.ports import free_port
from rollout.hf_engine import HFEngine
from rollout.weights.base import BACKENDS, SyncSpec, sender_class, setup_weight_receiver, setup_weight_sender
from rollout.weights.payload import without_tied
from rollout.weights.source import StateDictSource


def _perturbed(path: str, scale: float = 0.01) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * scale)
    return without_tied(model.state_dict())


def _assert_loaded(engine: HFEngine, sd: dict[str, torch.Tensor], version: int) -> None:
    got = engine.model.state_dict()
    assert engine.version == version
    assert max(float((got[k] - v).abs().max()) for k, v in sd.items()) == 0.0
    assert got["lm_head.weight"].data_ptr() == got["model.embed_tokens.weight"].data_ptr()  # still tied


def test_every_method_has_both_halves():
    for method in BACKENDS:
        spec = SyncSpec(method=method, world_size=2)
        assert sender_class(method).__name__ == type(setup_weight_sender(spec)).__name__
        assert setup_weight_receiver(spec) is not None
    with pytest.raises(ValueError, match="rollout.weight_sync"):
        setup_weight_sender(SyncSpec(method="carrier_pigeon", world_size=2))


def test_object_store_halves_load_the_senders_weights(tiny_model_path):
    sd = _perturbed(tiny_model_path)
    spec = SyncSpec(method="object_store", world_size=2)
    sender, receiver = setup_weight_sender(spec), setup_weight_receiver(spec)
    engine = HFEngine(tiny_model_path, threads=1)
    handshake = sender.open(spec, StateDictSource(sd))
    receiver.open(engine, spec, 1)
    receiver.receive(engine, sender.send(StateDictSource(sd)), handshake, 3)
    _assert_loaded(engine, sd, 3)


def test_gloo_halves_broadcast_in_buckets(tiny_model_path):
    sd = _perturbed(tiny_model_path)
    spec = SyncSpec(method="gloo", world_size=2, bucket_mb=1, host="127.0.0.1", port=free_port())
    sender, receiver = setup_weight_sender(spec), setup_weight_receiver(spec)
    assert sender.streams  # the driver must run both halves at once
    engine = HFEngine(tiny_model_path, threads=1)
    joined = threading.Thread(target=receiver.open, args=(engine, spec, 1))
    joined.start()
    handshake = sender.open(spec, StateDictSource(sd))
    joined.join()
    assert len(handshake) > 1  # several 1 MB buckets
    loading = threading.Thread(target=receiver.receive, args=(engine, None, handshake, 5))
    loading.start()
    assert sender.send(StateDictSource(sd)) is None
    loading.join()
    sender.close()
    _assert_loaded(engine, sd, 5)


def test_cuda_ipc_refuses_engines_on_another_gpu():
    cls = sender_class("cuda_ipc")
    assert cls.check_peers(("GPU-a", []), ["GPU-a", "GPU-a"]) is None
    assert "learner's GPU" in cls.check_peers(("GPU-a", []), ["GPU-a", "GPU-b"])
