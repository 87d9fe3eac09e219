"""The multi-GPU layout's CPU rehearsal (gloo): two data-parallel learner ranks make the same update as one rank
that accumulates twice as many micro-batches, and a weight sync gives two rollout workers the same weights (they
then sample the same tokens with the same logprobs, which are the learner's)."""
from __future__ import annotations

import pytest
import torch
from test_zero3 import _batch, _update  # same directory: pytest puts it on sys.path

pytestmark = [pytest.mark.ray]


def _group(tiny_model_path, ranks: int):
    from config.common import ModelConfig
    from config.rl import ActorConfig, AlgoConfig
    from rl.learner_group import LearnerGroup

    # 8 trajectories, 2 mini-batches of 4: one rank runs 2 micro-batches of 2 per optimizer step, two ranks 1 each
    actor = ActorConfig(lr=1e-3, mini_batches=2, micro_batch_size=2, zero_stage=2, num_workers=ranks,
                        num_cpus_per_worker=0.5, torch_threads=1)
    return LearnerGroup(tiny_model_path, ModelConfig(path=tiny_model_path), actor, AlgoConfig(advantage="grpo"),
                        1.0, 8, seed=0)


def test_two_ranks_equal_one_rank_with_twice_the_accumulation_and_engines_get_identical_weights(
        tmp_path, tiny_model_path, ray_session):
    import ray
    from transformers import AutoModelForCausalLM

    from config.rollout import RolloutConfig
    from rl.batch import build_batch
    from rl.learner_group import LearnerGroup
    from rl.roles import start_rollout_workers
    from rl.weight_sync import make_weight_sync
    from rollout.types import RolloutRequest, SamplingParams

    batch, prompts = _batch(tiny_model_path)
    saved, stats = {}, {}
    for ranks in (1, 2):
        group = _group(tiny_model_path, ranks)
        stats[ranks] = _update(group, batch)
        saved[ranks] = group.save(str(tmp_path / f"ranks{ranks}"))
        if ranks == 1:
            for a in group.actors:
                ray.kill(a)
    # the two-rank learner broadcasts (gloo, bucketed) to two rollout workers
    cfg = RolloutConfig(num_workers=2, weight_sync="gloo", weight_bucket_mb=1, torch_threads=1,
                        num_cpus_per_worker=0.5)
    workers = start_rollout_workers(cfg, tiny_model_path, "float32")
    make_weight_sync(cfg, group, workers)(1)
    reqs = [RolloutRequest(i, "math", "", p) for i, p in enumerate(prompts)]
    params = SamplingParams(n=2, max_new_tokens=12, seed=5)
    outs = ray.get([workers[i].rollout.remote(reqs, params) for i in range(2)])
    fresh = build_batch(outs[0], torch.ones(len(outs[0])), 0)
    olds = LearnerGroup.gather_old_logprobs(ray.get(group.compute_old_logprobs_async(fresh)),
                                            fresh.rollout_logprobs.shape[1])
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    one, two = (AutoModelForCausalLM.from_pretrained(saved[r]) for r in (1, 2))
    moved = max(float((p - q).abs().max()) for p, q in zip(one.parameters(), base.parameters()))
    diff = max(float((p - q).abs().max()) for p, q in zip(one.parameters(), two.parameters()))
    print(f"one rank vs base {moved:.3e}, one rank vs two ranks {diff:.3e}; grad norm "
          f"{stats[1]['grad_norm']:.6f} vs {stats[2]['grad_norm']:.6f}")
    assert moved > 1e-4, "the update did not change the weights"
    assert diff < 1e-5
    assert stats[1]["grad_norm"] == pytest.approx(stats[2]["grad_norm"], rel=1e-4)
    a, b = outs
    assert [t.response_ids for t in a] == [t.response_ids for t in b]
    assert [t.rollout_logprobs for t in a] == [t.rollout_logprobs for t in b]  # bit for bit: the same weights
    assert {t.policy_version for t in a + b} == {1}
    gap = float(((olds.old - fresh.rollout_logprobs) * fresh.response_mask).abs().max())
    assert gap < 1e-4, f"engines vs the two-rank learner: max |logprob diff| {gap:.2e}"
