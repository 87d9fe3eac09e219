"""`master_weights: flat` (rl/flat_master.py) inside the real learner (DeepSpeed ZeRO-0, bf16, gloo, 2 ranks, 2
micro-batches accumulated per rank): the loss and the gradient norm equal DeepSpeed's own bf16 optimizer's (so
DeepSpeed's accumulation and rank averaging reach the flat buffer unchanged), both ranks hold identical weights after
the step (the flat gradient all-reduce), and the DeepSpeed checkpoint restores the flat master weights exactly.
The step's math against a textbook fp32-master AdamW: tests/unit/test_flat_master.py. (After the step the two
optimizers differ by design: DeepSpeed's ZeRO-0 bf16 path accumulates and averages gradients in bf16, flat in fp32.)"""
from __future__ import annotations

import pytest
import torch
from test_zero3 import _batch, _update  # same directory: pytest puts it on sys.path

pytestmark = [pytest.mark.ray]


def _group(tiny_model_path, master: str):
    from config.common import ModelConfig
    from config.rl import ActorConfig, AlgoConfig
    from rl.learner_group import LearnerGroup

    actor = ActorConfig(lr=1e-3, mini_batches=1, micro_batch_size=2, zero_stage=0, num_workers=2, grad_clip=0.5,
                        num_cpus_per_worker=0.5, torch_threads=1, master_weights=master)
    return LearnerGroup(tiny_model_path, ModelConfig(path=tiny_model_path, dtype="bfloat16"), actor,
                        AlgoConfig(advantage="grpo"), 1.0, 8, seed=0)


def _old(group, batch) -> torch.Tensor:
    import ray

    from rl.learner_group import LearnerGroup

    return LearnerGroup.gather_old_logprobs(ray.get(group.compute_old_logprobs_async(batch)),
                                            batch.rollout_logprobs.shape[1]).old


def test_flat_master_in_deepspeed_matches_its_gradients_and_resumes_exactly(tmp_path, tiny_model_path, ray_session):
    import ray

    batch, _ = _batch(tiny_model_path)
    stats = {}
    for master in ("deepspeed", "flat"):
        group = _group(tiny_model_path, master)
        before = _old(group, batch)
        stats[master] = _update(group, batch)
        if master == "deepspeed":
            for a in group.actors:
                ray.kill(a)
    print(f"grad norms {stats['deepspeed']['grad_norm']:.6f} vs {stats['flat']['grad_norm']:.6f}, losses "
          f"{stats['deepspeed']['loss']:.6f} vs {stats['flat']['loss']:.6f}")
    for key in ("loss", "grad_norm"):
        assert stats["flat"][key] == pytest.approx(stats["deepspeed"][key], rel=1e-3), key
    assert stats["flat"]["grad_norm"] > 0

    # both ranks hold the same weights (each rank computes pi_old for its own shard of the batch)
    two_ranks = _old(group, batch)
    assert float(((two_ranks - before) * batch.response_mask).abs().max()) > 1e-2, "the update did not move pi"
    one = batch.select([0, 1])
    assert torch.equal(_old(group, one), _old(group, batch.select([0, 1, 0, 1]))[:2])
    # exact resume: state after step 1, a second update, restore, the same pi_old as after step 1
    group.save_state(str(tmp_path / "state"))
    _update(group, batch)
    assert not torch.equal(_old(group, batch), two_ranks)
    group.load_state(str(tmp_path / "state"))
    assert torch.equal(_old(group, batch), two_ranks)
