"""A Python code tool: `<python>code</python>` runs in a warm sandbox and its stdout comes back; the episode's
final answer (the last turn) is judged on the sample's tests by the same dispatch the code verifier uses
(`CodeRunner.run_tests`: io_pairs, stdio or HumanEval test + entry_point)."""
from __future__ import annotations

from typing import Any

from rollout.tools import ToolCall
from rollout.types import EnvOutcome, RolloutRequest


class PythonToolEnv:
    """Options: pool_size, wall_s, case_timeout_s, runtime."""

    def __init__(self, pool_size: int = 1, wall_s: float = 8.0, case_timeout_s: float = 2.0,
                 runtime: str | None = None) -> None:
        from sandboxes.code_runner import CodeRunner
        from sandboxes.images import ensure_image
        from sandboxes.limits import SandboxLimits
        from sandboxes.pool import SandboxPool

        pool = SandboxPool(ensure_image("python"), SandboxLimits(wall_s=wall_s, runtime=runtime), size=pool_size)
        self.runner = CodeRunner(pool, case_timeout_s=case_timeout_s)
        self.tests: dict[str, Any] = {}
        self.prompt = ""

    def reset(self, request: RolloutRequest) -> str | None:
        self.tests = dict(request.metadata)
        if isinstance(request.reference, dict):
            self.tests.update(request.reference)
        if not any(k in self.tests for k in ("io_pairs", "stdio", "test")):
            raise ValueError(f"python-tool sample {request.group_id} has no io_pairs, stdio or test + entry_point")
        self.prompt = request.prompt_text
        return None

    def step(self, call: ToolCall) -> tuple[str, bool]:
        from rollout.envs.terminal import format_observation

        if call.name != "python":
            return format_observation(f"unknown tool <{call.name}>; use <python>CODE</python>", None), False
        out = self.runner.run_program(call.body)
        return format_observation(out.output, out.exit_code), False

    def finish(self, final_text: str) -> EnvOutcome:
        from sandboxes.code_runner import TestFormatError

        try:
            report = self.runner.run_tests(final_text, self.tests, self.prompt)
        except TestFormatError as exc:
            return EnvOutcome(0.0, "error", {"reason": str(exc)})
        if not report.judged:
            return EnvOutcome(0.0, "timeout", {"reason": "the sandbox gave no verdict within wall_s"})
        return EnvOutcome(report.score, "ok", {"passed": report.passed, "total": report.total,
                                               "all_passed": report.all_passed,
                                               **({"reason": report.reason} if report.reason else {})})

    def close(self) -> None:
        self.runner.pool.close()
