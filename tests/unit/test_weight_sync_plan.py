"""NCCL bucket planning (the GPU transfer itself runs on the device: scripts/gpu/nccl_sync.sh) and config checks."""
from __future__ import annotations

import pytest
import torch

from config.errors import ConfigError
from config.load import load_config
from config.rl import RLConfig, validate_rl_config
from rollout.weights.buckets import TensorSpec, plan_buckets, specs_of


def test_buckets_split_by_size_and_dtype():
    sd = {"a": torch.zeros(256, 1024), "b": torch.zeros(256, 1024), "c": torch.zeros(10, dtype=torch.bfloat16),
          "d": torch.zeros(1024, 1024)}  # 1 MB, 1 MB, 20 B, 4 MB (fp32)
    plan = plan_buckets(specs_of(sd), bucket_mb=2)
    assert [[s.name for s in b] for b in plan] == [["a", "b"], ["c"], ["d"]]
    assert all(len({s.dtype for s in b}) == 1 for b in plan)
    flat = [s for b in plan for s in b]
    assert [s.name for s in flat] == list(sd) and flat[0] == TensorSpec("a", (256, 1024), "float32")


@pytest.mark.parametrize("method", ["nccl", "cuda_ipc"])
def test_gpu_weight_sync_without_gpus_is_a_config_error(method):
    with pytest.raises(ConfigError) as err:
        load_config(RLConfig, "mispo_math_code.yaml", [f"rollout.weight_sync={method}"], validate_rl_config)
    assert "rollout.weight_sync" in str(err.value) and "num_gpus_per_worker" in str(err.value)


def test_cuda_ipc_accepts_a_shared_gpu():
    ok = load_config(RLConfig, "mispo_math_code.yaml", ["rollout.weight_sync=cuda_ipc", "actor.num_gpus_per_worker=0.3",
                                                        "rollout.num_gpus_per_worker=0.3"], validate_rl_config)
    assert ok.rollout.weight_sync == "cuda_ipc"
