"""Shared fixtures. The tiny model is built once into $MISPO_CACHE (make prepare does it before pytest)."""
from __future__ import annotations

import os
import sys

import pytest

# Every test that starts Ray without an address gets a cluster of its own, even while another test (another pytest-
# xdist worker) runs a `ray start` cluster, which ray.init() would otherwise join (tests/integration/test_ray_cluster.py
# passes its cluster's address explicitly). Inherited by the `python -m rl.train` subprocesses.
os.environ.setdefault("RAY_ADDRESS", "local")

REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


# One local Ray cluster per test process, shared by the tests that ask for `ray_session` (the in-process rl.train /
# learner-group runs): rl.train uses a session its caller already started and leaves it up (rl/ray_session.py), so
# those tests skip Ray's start and shutdown (~3 CPU-s each). Workers inherit PYTHONPATH at cluster start, so a test
# that sets another one (a verifier plugin, test stand-ins) gets a fresh cluster; a test that leaves actors or
# placement groups behind leaves a cluster that is shut down, so the next test starts clean.
_SHARED_RAY: dict[str, str | None] = {"pythonpath": None, "gcs": None}


def _shared_ray_is_up(ray) -> bool:
    return ray.is_initialized() and _SHARED_RAY["gcs"] == ray.get_runtime_context().gcs_address


def _resources_returned(ray, timeout_s: float) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        total, free = ray.cluster_resources(), ray.available_resources()
        if all(free.get(k, 0.0) >= v - 1e-6 for k, v in total.items() if k in ("CPU", "GPU", "memory")):
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def ray_session():
    """A local Ray cluster (4 CPUs) reused across tests of this process while PYTHONPATH stays the same. Request it
    after the fixtures that set PYTHONPATH."""
    import ray

    want = os.environ.get("PYTHONPATH")
    if ray.is_initialized() and not (_shared_ray_is_up(ray) and _SHARED_RAY["pythonpath"] == want):
        ray.shutdown()
    if not ray.is_initialized():
        ray.init(num_cpus=4, include_dashboard=False)
        _SHARED_RAY.update(pythonpath=want, gcs=ray.get_runtime_context().gcs_address)
    yield
    if ray.is_initialized() and not _resources_returned(ray, timeout_s=20):
        ray.shutdown()


@pytest.fixture(autouse=True)
def _no_shared_ray_elsewhere(request):
    """A test that does not ask for `ray_session` never joins the shared cluster."""
    if "ray_session" not in request.fixturenames:
        ray = sys.modules.get("ray")
        if ray is not None and _shared_ray_is_up(ray):
            ray.shutdown()
    yield


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

    from rl.ports import free_port
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
