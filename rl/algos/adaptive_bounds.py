"""Adaptive trajectory bounds for MIS-PO: widen the trajectory band when staleness or numerics push the
geometric-mean ratios outside the fixed band, so a target fraction of trajectories is kept.

The controller works in log space: each step it takes the central `target_keep` quantile range of this batch's
log rho_bar, smooths it with an EMA, and never makes the band tighter than the configured fixed bounds (so with
small mismatch it is exactly the paper's filter).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class AdaptiveTrajBounds:
    base: tuple[float, float] = (0.996, 1.001)
    target_keep: float = 0.9
    smoothing: float = 0.5  # weight of the previous band (EMA)
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
            self.log_lo = a * self.log_lo + (1 - a) * want_lo
            self.log_hi = a * self.log_hi + (1 - a) * want_hi
            # smoothing must not leave the band narrower than what this batch needs in the widening direction
            self.log_lo = min(self.log_lo, math.log(self.base[0]))
            self.log_hi = max(self.log_hi, math.log(self.base[1]))
        return math.exp(self.log_lo), math.exp(self.log_hi)
