"""MIS-PO loss and filters against hand computations on small tensors."""
from __future__ import annotations

import math

import pytest
import torch

from rl.algos.mispo import actor_loss, aggregate, mispo_filters, pg_loss


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_token_filter_bounds_inclusive():
    # ratios exp(old - rollout): 1, 2 (kept, boundary), 2.5 (dropped), 0.5 (kept), 0.4 (dropped)
    old = t([[0.0, math.log(2.0), math.log(2.5), math.log(0.5), math.log(0.4)]])
    f = mispo_filters(old, torch.zeros_like(old), torch.ones_like(old), (0.5, 2.0), (0.0 + 1e-9, 1e9))
    assert f.token_keep.tolist() == [[1.0, 1.0, 0.0, 1.0, 0.0]]


def test_traj_filter_uses_geometric_mean_over_masked_tokens():
    # trajectory 0: log-ratios 0.002, -0.002, (masked 5.0) -> mean 0 -> kept
    # trajectory 1: log-ratios 0.01, 0.01 -> rho_bar = e^0.01 = 1.01005 > 1.001 -> dropped
    old = t([[0.002, -0.002, 5.0], [0.01, 0.01, 0.0]])
    mask = t([[1, 1, 0], [1, 1, 0]])
    f = mispo_filters(old, torch.zeros_like(old), mask)
    assert f.traj_keep.tolist() == [1.0, 0.0]
    assert f.traj_ratio[1].item() == pytest.approx(math.exp(0.01), rel=1e-6)
    assert f.token_keep[0, 2].item() == 0.0  # masked tokens are never "kept"


def test_actor_loss_matches_hand_computation():
    lp = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, -0.7, -9.0]], requires_grad=True)
    old = t([[0.0, math.log(3.0), 0.0], [0.0, 0.0, 0.0]])  # token (0,1) ratio 3 -> filtered
    roll = torch.zeros(2, 3)
    adv = t([[1.0, 1.0, 1.0], [-2.0, -2.0, -2.0]])
    mask = t([[1, 1, 1], [1, 1, 0]])
    # traj 0: mean log ratio = log(3)/3 -> rho_bar = 1.44 -> the whole trajectory is dropped
    loss, stats = actor_loss(lp, old, roll, adv, mask, traj_bounds=(0.996, 1.001))
    # kept: traj 1 tokens 0,1: -( -0.3*-2 + -0.7*-2 ) / N, N = 5 valid tokens (filtered ones count)
    expected = -((-0.3 * -2.0) + (-0.7 * -2.0)) / 5.0
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert torch.allclose(lp.grad, t([[0, 0, 0], [2 / 5, 2 / 5, 0]]))
    assert stats["token_keep_frac"] == pytest.approx(4 / 5)
    assert stats["traj_keep_frac"] == pytest.approx(1 / 2)
    assert stats["keep_frac"] == pytest.approx(2 / 5)
    assert stats["ratio_max"] == pytest.approx(3.0) and stats["ratio_min"] == pytest.approx(1.0)


def test_no_ratio_to_current_policy():
    """The loss is linear in logprobs: the gradient does not depend on pi_theta / pi_old."""
    adv, mask = t([[1.0, 1.0]]), t([[1, 1]])
    zeros = torch.zeros(1, 2)
    grads = []
    for val in (-0.1, -5.0):
        lp = torch.full((1, 2), val, requires_grad=True)
        actor_loss(lp, zeros, zeros, adv, mask)[0].backward()
        grads.append(lp.grad.clone())
    assert torch.equal(grads[0], grads[1])


def test_all_filtered_and_empty_trajectories_give_zero_loss_without_nan():
    lp = torch.full((2, 3), -1.0, requires_grad=True)
    old = torch.full((2, 3), 5.0)  # ratio e^5: everything filtered
    mask = t([[1, 1, 1], [0, 0, 0]])  # second trajectory is empty
    loss, stats = actor_loss(lp, old, torch.zeros(2, 3), torch.ones(2, 3), mask)
    assert loss.item() == 0.0 and not torch.isnan(loss)
    loss.backward()
    assert not torch.isnan(lp.grad).any()
    assert stats["keep_frac"] == 0.0 and stats["traj_keep_frac"] == 0.0
    empty = torch.zeros(1, 3)
    loss2, stats2 = actor_loss(torch.zeros(1, 3, requires_grad=True), empty, empty, empty, empty)
    assert loss2.item() == 0.0 and stats2["keep_frac"] == 0.0


def test_one_token_response_and_bf16_inputs():
    lp = torch.tensor([[-0.5]], dtype=torch.bfloat16, requires_grad=True)
    one = torch.tensor([[1.0]], dtype=torch.bfloat16)
    loss, stats = actor_loss(lp, one * -0.5, one * -0.5, one * 2.0, one)
    assert loss.dtype == torch.bfloat16 or loss.dtype == torch.float32
    assert loss.item() == pytest.approx(1.0, rel=1e-2)
    assert stats["keep_frac"] == 1.0


def test_normalizer_makes_micro_batches_sum_to_mini_batch():
    torch.manual_seed(0)
    lp = torch.randn(4, 5)
    adv, mask = torch.randn(4, 5), (torch.rand(4, 5) > 0.3).float()
    zeros = torch.zeros(4, 5)
    full, _ = actor_loss(lp, zeros, zeros, adv, mask)
    n = mask.sum().item()
    parts = [actor_loss(lp[i:i + 2], zeros[:2], zeros[:2], adv[i:i + 2], mask[i:i + 2], normalizer=n)[0]
             for i in (0, 2)]
    assert (parts[0] + parts[1]).item() == pytest.approx(full.item(), rel=1e-5)


def test_seq_aggregations_and_pg():
    per_tok = t([[1.0, 3.0, 0.0], [2.0, 0.0, 0.0]])
    mask = t([[1, 1, 0], [1, 0, 0]])
    assert aggregate(per_tok, mask, "seq_mean_token_sum", None).item() == pytest.approx((4 + 2) / 2)
    assert aggregate(per_tok, mask, "seq_mean_token_mean", None).item() == pytest.approx((2 + 2) / 2)
    with pytest.raises(ValueError, match="algo.loss_agg"):
        aggregate(per_tok, mask, "bogus", None)
    lp = t([[-1.0, -2.0]])
    assert pg_loss(lp, t([[1.0, 1.0]]), t([[1, 1]])).item() == pytest.approx(1.5)
