"""Shared fixtures. The tiny model is built once into $MISPO_CACHE (make prepare does it before pytest)."""
from __future__ import annotations

import os

import pytest

# Every test that starts Ray without an address gets a cluster of its own, even while another test (another pytest-
# xdist worker) runs a `ray start` cluster, which ray.init() would otherwise join (tests/integration/test_ray_cluster.py
# passes its cluster's address explicitly). Inherited by the `python -m rl.train` subprocesses.
os.environ.setdefault("RAY_ADDRESS", "local")

REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_model_path() -> str:
    from rl.model_source import resolve_model_path

    return resolve_model_path("mispo-tiny")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_path)


def _gloo_broadcast(engine, weights: dict, version: int, bucket_mb: int = 1) -> tuple[int, int]:
    """Act as learner rank 0 with the product's gloo sender (rollout/weights/gloo.py) and receiver half: the engine
    joins the weight group and loads `weights`, broadcast in buckets. Returns (buckets, bytes sent)."""
    import threading

    from rl.learner_group import free_port
    from rollout.weights.base import SyncSpec, setup_weight_receiver, setup_weight_sender
    from rollout.weights.source import StateDictSource

    spec = SyncSpec(method="gloo", world_size=2, bucket_mb=bucket_mb, host="127.0.0.1", port=free_port())
    sender, receiver, source = setup_weight_sender(spec), setup_weight_receiver(spec), StateDictSource(weights)
    joined = threading.Thread(target=receiver.open, args=(engine, spec, 1))
    joined.start()
    handshake = sender.open(spec, source)
    joined.join()
    receiving = threading.Thread(target=receiver.receive, args=(engine, None, handshake, version))
    receiving.start()
    sender.send(source)
    receiving.join()
    sender.close()
    return len(handshake), sum(t.numel() * t.element_size() for t in weights.values())


@pytest.fixture
def gloo_broadcast():
    """`gloo_broadcast(engine, weights, version)`: the learner side of `rollout.weight_sync=gloo`, in-test."""
    return _gloo_broadcast
