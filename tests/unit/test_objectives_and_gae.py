"""Baseline objectives, KL, GAE, truncation bootstrap, value loss and adaptive bounds vs hand computations."""
from __future__ import annotations

import math

import pytest
import torch

from rl.algos.adaptive_bounds import AdaptiveTrajBounds
from rl.algos.advantages import explained_variance, gae, rloo, terminal_rewards
from rl.algos.critic_loss import value_loss
from rl.algos.objectives import OBJECTIVES, ObjectiveParams, k3_kl, policy_loss


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


P = ObjectiveParams()


def test_ppo_clip_hand_values():
    lp = t([[math.log(1.5), math.log(0.5)]])  # ratios vs old=0: 1.5 (clipped to 1.2 for A>0), 0.5 (A<0 -> 0.8)
    old = torch.zeros(1, 2)
    adv = t([[1.0, -1.0]])
    loss = policy_loss("ppo_clip", lp, old, old, adv, torch.ones(1, 2), P)
    # token 0: -min(1.5, 1.2) = -1.2 ; token 1: -min(-0.5, -0.8) = 0.8 ; mean = -0.2
    assert loss.item() == pytest.approx(-0.2, abs=1e-6)


def test_tis_weights_and_cap():
    lp = torch.zeros(1, 2)
    old = torch.zeros(1, 2)
    rollout = t([[math.log(0.25), math.log(2.0)]])  # w = 4 (capped at 2) and 0.5
    loss = policy_loss("tis", lp, old, rollout, torch.ones(1, 2), torch.ones(1, 2), P)
    assert loss.item() == pytest.approx(-(2.0 + 0.5) / 2)


def test_icepop_keeps_the_weight_inside_its_band_and_zeroes_it_outside():
    """IcePop: M(k) = k for alpha <= k <= beta (defaults 0.5, 5), 0 outside; k = pi_old/pi_rollout."""
    k = [1.0, 4.0, 0.51, 4.9, 0.49, 5.1]  # 4.0 and 4.9 lie outside MIS-PO's token band but inside IcePop's
    lp = torch.zeros(1, 6, requires_grad=True)
    rollout = t([[-math.log(x) for x in k]])
    adv = t([[1.0, -1.0, 2.0, 1.0, 1.0, -3.0]])
    loss = policy_loss("icepop", lp, torch.zeros(1, 6), rollout, adv, torch.ones(1, 6), P)
    loss.backward()
    w = t([[1.0, 4.0, 0.51, 4.9, 0.0, 0.0]])
    # lp = old: the PPO ratio is 1 (unclipped), so in-band tokens get the IS-weighted policy gradient -w * A / N
    assert torch.allclose(lp.grad, -w * adv / 6, atol=1e-6)
    assert loss.item() == pytest.approx(float(-(w * adv).sum() / 6), rel=1e-5)
    assert P.icepop_bounds == (0.5, 5.0)


def test_icepop_band_is_its_own_not_mispos():
    rollout = t([[-math.log(3.0)]])  # k = 3: outside MIS-PO's token band, inside IcePop's
    lp = torch.zeros(1, 1)
    for params in (P, ObjectiveParams(token_bounds=(0.9, 1.1))):
        assert policy_loss("icepop", lp, torch.zeros(1, 1), rollout, torch.ones(1, 1), torch.ones(1, 1),
                           params).item() == pytest.approx(-3.0, rel=1e-5)
    narrow = ObjectiveParams(icepop_bounds=(0.5, 2.0))
    assert policy_loss("icepop", lp, torch.zeros(1, 1), rollout, torch.ones(1, 1), torch.ones(1, 1),
                       narrow).item() == 0.0


def test_icepop_weight_multiplies_the_ppo_clipped_term():
    lp = t([[math.log(1.5)]])  # pi_theta/pi_old = 1.5, clipped to 1.2 for A > 0
    rollout = t([[-math.log(2.0)]])  # k = 2
    loss = policy_loss("icepop", lp, torch.zeros(1, 1), rollout, torch.ones(1, 1), torch.ones(1, 1), P)
    assert loss.item() == pytest.approx(-2.0 * 1.2, rel=1e-5)


def test_gspo_sequence_ratio_clip():
    lp = torch.full((1, 2), 0.01, requires_grad=True)  # s = e^0.01 > 1 + 4e-4 -> clipped for A > 0
    loss = policy_loss("gspo", lp, torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1, 2), torch.ones(1, 2), P)
    assert loss.item() == pytest.approx(-(1 + 4e-4), rel=1e-6)
    loss.backward()
    assert torch.all(lp.grad == 0)  # clipped: no gradient


def test_gspo_mispo_clips_the_sequence_ratio_at_1e_4():
    """Step 3.5 Flash's GSPO baseline: eps = 1e-4 (GSPO's own 4e-4 would not clip s = e^2e-4)."""
    for objective, clipped in (("gspo_mispo", True), ("gspo", False)):
        lp = torch.full((1, 2), 2e-4, requires_grad=True)
        zeros = torch.zeros(1, 2)
        loss = policy_loss(objective, lp, zeros, zeros, torch.ones(1, 2), torch.ones(1, 2), P)
        loss.backward()
        assert bool(torch.all(lp.grad == 0)) == clipped, objective
    assert loss.item() == pytest.approx(-math.exp(2e-4), rel=1e-6)  # gspo: unclipped surrogate s * A
    assert P.gspo_mispo_eps == (1e-4, 1e-4)


def test_gspo_mispo_trains_only_on_tokens_mispo_keeps():
    # trajectory 0: pi_old/pi_rollout = 3 and 1/3 on tokens 0-1 (token filter drops both; they cancel in rho_bar,
    # so the trajectory is kept); trajectory 1: rho_bar = e^0.01 > 1.001 (trajectory filter drops it)
    old = t([[math.log(3.0), -math.log(3.0), 0.0, 0.0], [0.01, 0.01, 0.01, 0.01]])
    rollout = torch.zeros(2, 4)
    # the dropped tokens moved under pi_theta: the sequence ratio must not see them (it would be e^0.25, clipped)
    lp = (old + t([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])).requires_grad_(True)
    adv = t([[1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0]])
    policy_loss("gspo_mispo", lp, old, rollout, adv, torch.ones(2, 4), P).backward()
    # kept tokens (0, 2), (0, 3): s = 1, each gets -mean(kept A) / N = -3.5 / 8; everything else 0
    assert torch.allclose(lp.grad, t([[0.0, 0.0, -3.5 / 8, -3.5 / 8], [0.0, 0.0, 0.0, 0.0]]), atol=1e-6)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_on_policy_gradient_is_plain_pg_except_gspo(objective):
    """On-policy (lp = old = rollout) every objective's gradient is plain PG's, -A_t / N per token, except GSPO's:
    its sequence ratio gives each token the sequence's mean advantage (equal to PG only for constant advantages)."""
    lp = torch.full((2, 3), -1.0, requires_grad=True)
    same = torch.full((2, 3), -1.0)
    adv, mask = t([[1.0, 2.0, 3.0], [-0.5, -1.5, 7.0]]), t([[1, 1, 1], [1, 1, 0]])
    policy_loss(objective, lp, same, same, adv, mask, P).backward()
    if objective.startswith("gspo"):
        expected = -t([[2.0, 2.0, 2.0], [-1.0, -1.0, 0.0]]) / 5.0
    else:
        expected = -adv * mask / 5.0
    assert torch.allclose(lp.grad, expected, atol=1e-6), objective
    lp.grad = None
    flat = t([[1.0, 1.0, 1.0], [-0.5, -0.5, 0.0]])  # sequence-constant advantages (grpo): every objective is PG
    policy_loss(objective, lp, same, same, flat, mask, P).backward()
    assert torch.allclose(lp.grad, -flat * mask / 5.0, atol=1e-6), objective


def test_unknown_objective():
    with pytest.raises(ValueError, match="algo.objective"):
        policy_loss("nope", torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1),
                    torch.ones(1, 1), P)


def test_k3_kl_zero_at_reference_and_positive_elsewhere():
    lp = t([[-1.0, -2.0]])
    assert torch.allclose(k3_kl(lp, lp, lp), torch.zeros(1, 2))
    ref = t([[-1.5, -1.0]])
    kl = k3_kl(lp, lp, ref)
    r = torch.exp(ref - lp)
    assert torch.allclose(kl, r - torch.log(r) - 1) and torch.all(kl > 0)
    # correction factor pi_theta/pi_old
    assert torch.allclose(k3_kl(lp, lp - math.log(2.0), ref), 2 * kl)


def test_gae_gamma_lambda_one_is_return_minus_value():
    values = t([[0.0, 0.2, 0.5, 0.9, 0.0]])
    mask = t([[0, 1, 1, 1, 0]])
    adv, ret = gae(torch.tensor([1.0]), values, mask)
    assert adv.tolist()[0] == pytest.approx([0.0, 0.8, 0.5, 0.1, 0.0])
    assert ret.tolist()[0] == pytest.approx([0.0, 1.0, 1.0, 1.0, 0.0])


def test_gae_general_gamma_lambda():
    values, mask = t([[0.5, 0.25]]), t([[1, 1]])
    gamma, lam = 0.9, 0.8
    adv, _ = gae(torch.tensor([1.0]), values, mask, gamma, lam)
    d1 = 1.0 - 0.25  # last token: reward, no next value
    d0 = 0 + gamma * 0.25 - 0.5
    assert adv.tolist()[0] == pytest.approx([d0 + gamma * lam * d1, d1])


def test_gae_skips_observation_tokens():
    values = t([[0.1, 9.0, 0.3]])  # middle token is an observation (mask 0): its value is ignored
    adv, _ = gae(torch.tensor([1.0]), values, t([[1, 0, 1]]))
    assert adv.tolist()[0] == pytest.approx([0.9, 0.0, 0.7])


def test_truncation_bootstrap():
    r = terminal_rewards(t([1.0, 0.0]), torch.tensor([0, 1]), t([0.3, 0.6]))
    assert r.tolist() == pytest.approx([1.0, 0.6])
    assert terminal_rewards(t([1.0, 0.0]), torch.tensor([0, 1]), t([0.3, 0.6]), bootstrap=False).tolist() == [1, 0]


def test_rloo():
    adv = rloo(t([1.0, 0.0, 0.0, 1.0]), torch.tensor([0, 0, 0, 1]), torch.ones(4))
    assert adv.tolist() == pytest.approx([1.0, -0.5, -0.5, 0.0])


def test_value_loss_plain_and_clipped():
    v, old, ret, m = t([[0.5, 1.0]]), t([[0.0, 1.0]]), t([[1.0, 1.0]]), t([[1, 1]])
    assert value_loss(v, old, ret, m).item() == pytest.approx(0.5 * (0.25 + 0) / 2)
    # clipped: v - old = 0.5 clipped to 0.2 -> (0.2 - 1)^2 = 0.64 > 0.25
    assert value_loss(v, old, ret, m, clip_eps=0.2).item() == pytest.approx(0.5 * 0.64 / 2)


def test_explained_variance():
    ret, m = t([[1.0, 0.0, 1.0, 0.0]]), torch.ones(1, 4)
    assert explained_variance(ret, ret, m) == pytest.approx(1.0)
    assert explained_variance(torch.zeros(1, 4) + 0.5, ret, m) == pytest.approx(0.0, abs=1e-6)


def test_adaptive_bounds_never_tighter_and_widen_under_mismatch():
    ctl = AdaptiveTrajBounds(base=(0.996, 1.001), target_keep=0.9, smoothing=0.0)
    lo, hi = ctl.update(torch.zeros(100))
    assert (lo, hi) == pytest.approx((0.996, 1.001))
    wide = torch.linspace(-0.05, 0.05, 101)
    lo, hi = ctl.update(wide)
    keep = ((torch.exp(wide) >= lo) & (torch.exp(wide) <= hi)).float().mean().item()
    assert lo < 0.996 and hi > 1.001 and keep == pytest.approx(0.9, abs=0.02)


def test_adaptive_band_widens_at_once_on_the_first_step_after_a_shift():
    """Fresh batches, then a stale one: the first stale step already keeps ~target_keep (no EMA lag widening)."""
    ctl = AdaptiveTrajBounds(base=(0.996, 1.001), target_keep=0.9, smoothing=0.5)
    for _ in range(3):
        assert ctl.update(torch.zeros(100)) == pytest.approx((0.996, 1.001))
    wide = torch.linspace(-0.05, 0.05, 101)
    lo, hi = ctl.update(wide)
    keep = ((torch.exp(wide) >= lo) & (torch.exp(wide) <= hi)).float().mean().item()
    assert keep == pytest.approx(0.9, abs=0.02)


def test_adaptive_band_narrows_from_the_last_band_with_a_lag():
    """After mismatch drops, the band starts from the last (wide) band and its extra width decays by `smoothing`
    per step: it is the paper's band again only after the lag (documented in docs/mispo.md)."""
    ctl = AdaptiveTrajBounds(base=(0.996, 1.001), target_keep=0.9, smoothing=0.5)
    lo_wide, _ = ctl.update(torch.linspace(-0.05, 0.05, 101))
    base_lo = math.log(0.996)
    excess = math.log(lo_wide) - base_lo
    for k in range(1, 6):
        lo, hi = ctl.update(torch.zeros(100))
        assert math.log(lo) - base_lo == pytest.approx(excess * 0.5 ** k, rel=1e-6)
        assert lo < 0.996 and hi > 1.001
