"""Shared fixtures. The tiny model is built once into $MISPO_CACHE (make prepare does it before pytest)."""
from __future__ import annotations

import pytest

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
    """Act as learner rank 0: form a gloo weight group with `engine` (rank 1) and broadcast `weights` to it in
    buckets. Returns (buckets, bytes sent)."""
    import threading

    from rl.learner_group import free_port
    from rollout.weights.broadcast import WeightGroup
    from rollout.weights.buckets import plan_buckets, plan_to_wire, specs_of

    plan = plan_to_wire(plan_buckets(specs_of(weights), bucket_mb=bucket_mb))
    port = free_port()
    joined = threading.Thread(target=engine.init_weight_group, args=("127.0.0.1", port, 1, 2, "gloo"))
    joined.start()
    sender = WeightGroup("127.0.0.1", port, 0, 2, backend="gloo")
    joined.join()
    receiving = threading.Thread(target=engine.receive_weights, args=(plan, version))
    receiving.start()
    sent = sender.send(weights, plan)
    receiving.join()
    sender.close()
    return len(plan), sent


@pytest.fixture
def gloo_broadcast():
    """`gloo_broadcast(engine, weights, version)`: the learner side of `rollout.weight_sync=gloo`, in-test."""
    return _gloo_broadcast
