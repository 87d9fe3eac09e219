"""Terminal tasks as an agent-loop environment: the sample's `task_dir` names a task directory (docs/tasks.md);
`<bash>` calls run in the task's sandbox shell; the hidden tests decide the reward at the end."""
from __future__ import annotations

from functools import lru_cache

from rollout.tools import ToolCall
from rollout.types import EnvOutcome, RolloutRequest


def format_observation(output: str, exit_code: int | None) -> str:
    """How a command's result is shown to the policy (the tiny agent model was pretrained on this format)."""
    return f"<output>\n{output}\n[exit code {exit_code}]\n</output>"


@lru_cache(maxsize=4096)
def _load(path: str):
    from sandboxes.tasks.spec import load_task

    return load_task(path)


class TerminalEpisodeEnv:
    """Options: image_map (FROM pattern -> image name), runtime (null | runsc), pool_size (warm containers)."""

    def __init__(self, image_map: dict[str, str] | None = None, runtime: str | None = None, pool_size: int = 1) -> None:
        from sandboxes.terminal_env import TerminalEnv

        self.env = TerminalEnv(pool_size=pool_size, image_map=image_map, runtime=runtime)

    def reset(self, request: RolloutRequest) -> str | None:
        task_dir = request.metadata.get("task_dir")
        if not task_dir:
            raise ValueError(f"terminal sample {request.group_id} has no `task_dir` field; each row of a terminal "
                             "dataset names its task directory")
        self.env.reset(_load(str(task_dir)))
        return None  # the prompt already carries the instruction

    def step(self, call: ToolCall) -> tuple[str, bool]:
        if call.name != "bash":
            return format_observation(f"unknown tool <{call.name}>; use <bash>COMMAND</bash>", None), False
        obs = self.env.step(call.body)
        return format_observation(obs.output.rstrip("\n"), obs.exit_code), obs.done

    def finish(self, final_text: str) -> EnvOutcome:
        report = self.env.finish()
        status = {"ok": "ok", "timeout": "timeout"}.get(report.status, "error")
        return EnvOutcome(score=report.reward, status=status,
                          details={"passed": report.passed, "total": report.total, "tests_status": report.status})

    def close(self) -> None:
        self.env.close()
