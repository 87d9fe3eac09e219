"""EnvResultVerifier (`env`): the reward of a multi-turn episode, decided by its environment (hidden tests of a
terminal task, a code tool's final tests) and carried in the sample's metadata["env_result"] as
{"score", "status", "details"}. Keeping it a verifier keeps one reward path: status error/timeout is masked."""
from __future__ import annotations

from rewards.base import Verifier, VerifyRequest
from rewards.types import STATUSES, RewardResult


class EnvResultVerifier(Verifier):
    name = "env"

    def verify(self, request: VerifyRequest) -> RewardResult:
        res = request.metadata.get("env_result")
        if not isinstance(res, dict) or "score" not in res:
            return RewardResult.failed("error", "sample has no env_result: the `env` verifier only scores domains "
                                       "listed in rollout.agent.domains")
        status = res.get("status", "ok")
        if status not in STATUSES:
            return RewardResult.failed("error", f"environment returned status {status!r}")
        return RewardResult(score=float(res["score"]), status=status, details=dict(res.get("details", {})))
