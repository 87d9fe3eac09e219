"""CodeVerifier (`code`): runs the response against the sample's tests in a Docker sandbox from a warm pool.

Test formats, read from the sample's fields (dataset columns land in `metadata`; a dict `reference` works too):
- HumanEval: `test` (defines check(candidate)) and `entry_point`; program = prompt + response (or the prompt's code
  + the response's fenced code) + test, and the test sees the prompt's names. Score 1 if check passes.
  `code_prompt` (optional) is the code the response continues when the prompt shown to the policy wraps it in
  instructions.
- `io_pairs`: {"fn": name, "cases": [{"args": [...], "kwargs": {...}, "expected": ...}]}
- `stdio`: {"cases": [{"input": "...", "output": "..."}]}: stripped stdout must match.
Score = fraction of cases passed; details carry all_passed, passed, total and the first failure reason.
A sandbox failure (no engine, missing image, engine error) is status "error" (masked), never a silent 0.
A timeout the candidate causes (its top level hangs, a case runs past case_timeout_s, the judge's job budget runs
out) is the policy's fault: status "ok", the cases not passed or not run score 0, reason "timeout", within about
one case timeout. Only no verdict by wall_s (a stuck judge or container) is status "timeout", masked.
"""
from __future__ import annotations

import logging
from typing import Any

from rewards.base import Verifier, VerifyRequest
from rewards.types import RewardResult

log = logging.getLogger(__name__)
FORMATS = ("io_pairs", "stdio", "test")


def _tests_of(request: VerifyRequest) -> dict[str, Any]:
    fields = dict(request.metadata)
    if isinstance(request.reference, dict):
        fields.update(request.reference)
    return fields


class CodeVerifier(Verifier):
    """Options: image (sandbox image name, default "python"), pool_size (warm containers per verifier process),
    wall_s (host deadline per sample), case_timeout_s, memory_mb, runtime (null | runsc)."""

    name = "code"

    def __init__(self, *, image: str = "python", pool_size: int = 1, wall_s: float = 8.0, case_timeout_s: float = 2.0,
                 memory_mb: int = 256, runtime: str | None = None) -> None:
        from sandboxes.limits import SandboxLimits

        if pool_size < 1:
            raise ValueError(f"code verifier option pool_size must be >= 1, got {pool_size}")
        if case_timeout_s >= wall_s:
            raise ValueError(f"code verifier option case_timeout_s ({case_timeout_s}) must be below wall_s ({wall_s})")
        self.image, self.pool_size, self.case_timeout_s, self.memory_mb = image, pool_size, case_timeout_s, memory_mb
        self.limits = SandboxLimits(memory_mb=max(memory_mb * 2, 256), wall_s=wall_s, runtime=runtime)
        self._runner = None

    @classmethod
    def preflight(cls, *, image: str = "python", **_: Any) -> None:
        """The Docker engine answers and the sandbox image exists (built offline when missing)."""
        from sandboxes.docker_client import docker_client
        from sandboxes.images import ensure_image

        docker_client()
        ensure_image(image)

    def runner(self):
        """The warm pool starts on first use, inside the verifier process (containers are per process)."""
        if self._runner is None:
            from sandboxes.code_runner import CodeRunner
            from sandboxes.images import ensure_image
            from sandboxes.pool import SandboxPool

            pool = SandboxPool(ensure_image(self.image), self.limits, size=self.pool_size)
            self._runner = CodeRunner(pool, case_timeout_s=self.case_timeout_s, memory_mb=self.memory_mb)
        return self._runner

    def close(self) -> None:
        if self._runner is not None:
            self._runner.pool.close()
            self._runner = None

    def verify(self, request: VerifyRequest) -> RewardResult:
        from sandboxes.code_runner import SandboxError, TestFormatError
        from sandboxes.docker_client import SandboxUnavailable

        try:
            report = self.runner().run_tests(request.response, _tests_of(request), request.prompt)
        except TestFormatError as exc:
            return RewardResult.failed("error", reason=str(exc))
        except (SandboxError, SandboxUnavailable) as exc:
            log.warning("code sandbox failed: %s", exc)
            return RewardResult.failed("error", reason=f"sandbox: {exc}")
        if not report.judged:  # the judge answers before wall_s even when the candidate hangs: infrastructure
            return RewardResult.failed("timeout", "the sandbox gave no verdict within wall_s")
        return RewardResult(score=report.score, status="ok", details={
            "all_passed": report.all_passed, "passed": report.passed, "total": report.total,
            **({"reason": report.reason} if report.reason else {})})
