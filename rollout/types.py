"""Records that cross the rollout boundary (driver <-> rollout workers). Plain dataclasses of lists so they
pickle cheaply through Ray; shapes are per sequence."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. `n` completions per prompt. Logprobs are always returned at `temperature`."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 64
    seed: int | None = None


@dataclass
class Completion:
    """One sampled continuation of a prompt.

    token_ids: [T] generated ids, ending with the stop token when finish_reason == "stop".
    logprobs: [T] log pi_rollout(token) under the engine's weights at the sampling temperature.
    text: decoded token_ids without special tokens.
    """

    token_ids: list[int]
    logprobs: list[float]
    finish_reason: FinishReason
    text: str


@dataclass
class RolloutRequest:
    """One prompt to roll out `SamplingParams.n` times. `group_id` ties samples of one prompt together."""

    group_id: int
    domain: str
    prompt_text: str
    prompt_ids: list[int]
    reference: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Trajectory:
    """One finished sample, everything the learner and the reward pool need.

    prompt_ids: [P]; response_ids: [T]; rollout_logprobs: [T] (pi_rollout, sampling temperature);
    loss_mask: [T] 1 for policy tokens trained on, 0 for tokens that are not the policy's (observations).
    policy_version: version of the weights that generated the response.
    truncated: the response hit max_new_tokens without a stop token.
    """

    group_id: int
    domain: str
    prompt_text: str
    prompt_ids: list[int]
    response_ids: list[int]
    response_text: str
    rollout_logprobs: list[float]
    loss_mask: list[int]
    policy_version: int
    truncated: bool
    reference: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def num_response_tokens(self) -> int:
        return len(self.response_ids)
