"""EnvResultVerifier (`env`): the reward of a multi-turn episode, decided by its environment (hidden tests of a
terminal task, a code tool's final tests) and handed over as `VerifyRequest.env_result` (the driver converts the
trajectory's typed `env_result`). Keeping it a verifier keeps one reward path: status error/timeout is masked."""
from __future__ import annotations

from rewards.base import Verifier, VerifyRequest
from rewards.types import RewardResult


class EnvResultVerifier(Verifier):
    name = "env"

    def verify(self, request: VerifyRequest) -> RewardResult:
        if request.env_result is None:
            return RewardResult.failed("error", "sample has no env_result: the `env` verifier only scores domains "
                                       "listed in rollout.agent.domains")
        return request.env_result
