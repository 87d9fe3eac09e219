"""NCCL bucket planning (the GPU transfer itself runs on the device: scripts/gpu/nccl_sync.sh) and config checks."""
from __future__ import annotations

import torch

from rollout.nccl_sync import TensorSpec, plan_buckets, specs_of


def test_buckets_split_by_size_and_dtype():
    sd = {"a": torch.zeros(256, 1024), "b": torch.zeros(256, 1024), "c": torch.zeros(10, dtype=torch.bfloat16),
          "d": torch.zeros(1024, 1024)}  # 1 MB, 1 MB, 20 B, 4 MB (fp32)
    plan = plan_buckets(specs_of(sd), bucket_mb=2)
    assert [[s.name for s in b] for b in plan] == [["a", "b"], ["c"], ["d"]]
    assert all(len({s.dtype for s in b}) == 1 for b in plan)
    flat = [s for b in plan for s in b]
    assert [s.name for s in flat] == list(sd) and flat[0] == TensorSpec("a", (256, 1024), "float32")


def test_nccl_sync_needs_gpus_per_worker():
    from rl.config_load import ConfigError, load_config
    from rl.config_schema import RLConfig, validate_rl_config

    try:
        load_config(RLConfig, "mispo_math_code.yaml", ["rollout.weight_sync=nccl"], validate_rl_config)
    except ConfigError as exc:
        assert "rollout.weight_sync" in str(exc) and "num_gpus_per_worker" in str(exc)
    else:
        raise AssertionError("nccl without GPUs must be a config error")


def test_cuda_ipc_needs_a_shared_gpu():
    from rl.config_load import ConfigError, load_config
    from rl.config_schema import RLConfig, validate_rl_config

    try:
        load_config(RLConfig, "mispo_math_code.yaml", ["rollout.weight_sync=cuda_ipc"], validate_rl_config)
    except ConfigError as exc:
        assert "cuda_ipc" in str(exc) and "num_gpus_per_worker" in str(exc)
    else:
        raise AssertionError("cuda_ipc without GPUs must be a config error")
    ok = load_config(RLConfig, "mispo_math_code.yaml", ["rollout.weight_sync=cuda_ipc", "actor.num_gpus_per_worker=0.3",
                                                        "rollout.num_gpus_per_worker=0.3"], validate_rl_config)
    assert ok.rollout.weight_sync == "cuda_ipc"
