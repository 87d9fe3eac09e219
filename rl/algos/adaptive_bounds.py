"""Adaptive trajectory bounds for MIS-PO: widen the trajectory band when staleness or numerics push the
geometric-mean ratios outside the fixed band, so a target fraction of trajectories is kept.

The controller works in log space. Each step it takes the central `target_keep` quantile range of this batch's
log rho_bar, never narrower than the configured fixed bounds (`want`), and sets the band to

    lo = min(EMA_lo, want_lo),  hi = max(EMA_hi, want_hi),  EMA = smoothing * last band + (1 - smoothing) * want

so it widens at once (the first stale batch after fresh ones already keeps ~target_keep) and narrows slowly,
starting from the last band: after mismatch drops, the extra width decays by a factor `smoothing` per step and
the band is the paper's fixed filter again only once that has happened (it lags). With small mismatch throughout
it is exactly the paper's filter.

Under heavy drift this is quantile trimming, not a trust region: the band follows the batch's own quantiles, so
it keeps ~target_keep of the trajectories however far pi_rollout is from pi_old (up to exp(+-max_log_width)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from config.rl import MISPO_TRAJ_BOUNDS


@dataclass
class AdaptiveTrajBounds:
    base: tuple[float, float] = MISPO_TRAJ_BOUNDS
    target_keep: float = 0.9
    smoothing: float = 0.5  # weight of the last band when narrowing (EMA); widening is immediate
    max_log_width: float = 1.0  # never wider than exp(+-1)

    def __post_init__(self) -> None:
        self.log_lo = math.log(self.base[0])
        self.log_hi = math.log(self.base[1])

    def update(self, log_traj_ratio: torch.Tensor) -> tuple[float, float]:
        """log_traj_ratio: [N] log rho_bar of the batch's non-empty trajectories. Returns the band to use now."""
        if log_traj_ratio.numel() > 0:
            tail = (1.0 - self.target_keep) / 2.0
            q_lo = float(torch.quantile(log_traj_ratio.float(), tail))
            q_hi = float(torch.quantile(log_traj_ratio.float(), 1.0 - tail))
            want_lo = max(min(q_lo, math.log(self.base[0])), -self.max_log_width)
            want_hi = min(max(q_hi, math.log(self.base[1])), self.max_log_width)
            a = self.smoothing
            # never narrower than this batch needs (widen at once); narrow by the EMA from the last band
            self.log_lo = min(a * self.log_lo + (1 - a) * want_lo, want_lo)
            self.log_hi = max(a * self.log_hi + (1 - a) * want_hi, want_hi)
        return math.exp(self.log_lo), math.exp(self.log_hi)
