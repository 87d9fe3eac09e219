"""Typed records that cross the learner actors' boundary (Ray): what compute_old_logprobs, compute_values and the
updates return. Tensors are CPU tensors; B = trajectories of the shard, L = padded sequence length."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class OldLogprobs:
    """One actor rank's pi_old pass over its shard.

    old: [B, L-1] log pi_old of each next token at the sampling temperature (0 on padding).
    ref: [B, L-1] reference-model logprobs (equal to `old` when KL is off).
    entropy_sum, kl_sum: sums over response tokens of the policy entropy and of k3 KL(old || ref).
    tokens: response tokens summed over.
    """

    old: torch.Tensor
    ref: torch.Tensor
    entropy_sum: float
    kl_sum: float
    tokens: float


@dataclass
class ValueEstimates:
    """One critic rank's values. values: [B, L-1] V(s_t) aligned with tokens; last: [B] V after the last token."""

    values: torch.Tensor
    last: torch.Tensor


@dataclass
class ActorStats:
    """One actor rank's update over the step's mini-batches (means over mini-batches)."""

    loss: float
    kl: float
    grad_norm: float
    lr: float
    peak_memory_gib: float = float("nan")  # CUDA: the most GPU memory the update allocated (NaN on CPU)


@dataclass
class CriticStats:
    """One critic rank's update over the step's mini-batches (means over mini-batches)."""

    value_loss: float
    grad_norm: float
    lr: float
