"""Environments for the agent loop. An Environment runs one episode: reset(request) -> optional extra first
observation; step(call) -> (observation text, done); finish(final_text) -> EnvOutcome (rollout/types.py). The
outcome travels as `Trajectory.env_result`; the reward side scores it through the `env` verifier
(rewards/env_verifier.py), so an environment failure is masked like any verifier failure."""
from __future__ import annotations

from typing import Any, Protocol

from rollout.tools import ToolCall
from rollout.types import EnvOutcome, RolloutRequest


class Environment(Protocol):
    def reset(self, request: RolloutRequest) -> str | None: ...

    def step(self, call: ToolCall) -> tuple[str, bool]: ...

    def finish(self, final_text: str) -> EnvOutcome: ...

    def close(self) -> None: ...


def make_env(name: str, options: dict[str, Any] | None = None) -> Environment:
    """`terminal` (Docker terminal tasks) or `python` (a Python code tool with a code-verifier finish)."""
    if name == "terminal":
        from rollout.envs.terminal import TerminalEpisodeEnv

        return TerminalEpisodeEnv(**(options or {}))
    if name == "python":
        from rollout.envs.python_tool import PythonToolEnv

        return PythonToolEnv(**(options or {}))
    raise ValueError(f"rollout.agent.domains.*.env: {name!r} is not one of ['terminal', 'python']")
