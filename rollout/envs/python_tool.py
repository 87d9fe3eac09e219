"""A Python code tool: `<python>code</python>` runs in a warm sandbox and its stdout comes back; the episode's
final answer (the last fenced code of the last turn) is judged on the sample's io_pairs/stdio tests."""
from __future__ import annotations

from typing import Any

from rollout.tools import ToolCall
from rollout.types import RolloutRequest


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

    def reset(self, request: RolloutRequest) -> str | None:
        self.tests = {k: request.metadata[k] for k in ("io_pairs", "stdio") if k in request.metadata}
        if not self.tests:
            raise ValueError(f"python-tool sample {request.group_id} has no io_pairs or stdio tests")
        return None

    def step(self, call: ToolCall) -> tuple[str, bool]:
        from rollout.envs.terminal import format_observation

        if call.name != "python":
            return format_observation(f"unknown tool <{call.name}>; use <python>CODE</python>", None), False
        out = self.runner.run_program(call.body)
        return format_observation(out.output, out.exit_code), False

    def finish(self, final_text: str) -> dict[str, Any]:
        from sandboxes.code_runner import extract_code

        code = extract_code(final_text)
        report = (self.runner.io_pairs(code, self.tests["io_pairs"]) if "io_pairs" in self.tests
                  else self.runner.stdio(code, self.tests["stdio"]))
        return {"score": report.score, "status": "ok",
                "details": {"passed": report.passed, "total": report.total, "all_passed": report.all_passed}}

    def close(self) -> None:
        self.runner.pool.close()
