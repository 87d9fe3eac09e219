"""Procedural terminal tasks for the tiny agent model: task directories in our format (docs/tasks.md) plus the
chat transcripts the tiny agent is pretrained on. The tool protocol is the agent loop's default:
the policy writes `<bash>COMMAND</bash>`, the environment answers `<output>...</output>`, the policy ends with
a turn that has no tool call.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

TOOL_HINT = "Run one shell command per turn as <bash>COMMAND</bash>. Reply DONE when the task is finished."
WORDS = ["apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "robot"]
NAMES = ["notes", "out", "result", "answer"]


@dataclass(frozen=True)
class AgentTask:
    """One procedural task: instruction, the command that solves it, and a pytest body that checks it."""

    name: str
    instruction: str
    command: str
    test: str

    @property
    def prompt(self) -> str:
        return f"{self.instruction}\n{TOOL_HINT}"


def all_agent_tasks() -> list[AgentTask]:
    tasks = []
    for word in WORDS:
        for name in NAMES:
            path = f"/app/{name}.txt"
            tasks.append(AgentTask(
                f"write-{word}-{name}", f"Write the word {word} to {path}.", f"echo {word} > {path}",
                f"from pathlib import Path\n\n\ndef test_content():\n    assert Path('{path}').read_text().strip() == '{word}'\n"))
            tasks.append(AgentTask(
                f"mkdir-{word}-{name}", f"Create the directory /app/{word} with an empty file {name}.txt in it.",
                f"mkdir -p /app/{word} && touch /app/{word}/{name}.txt",
                f"from pathlib import Path\n\n\ndef test_file():\n    assert Path('/app/{word}/{name}.txt').is_file()\n"))
    return tasks


def noisy_command(task: AgentTask, rng: random.Random, p_correct: float) -> str:
    """The right command with probability p_correct, else a plausible wrong one (wrong word or path)."""
    if rng.random() < p_correct:
        return task.command
    other = rng.choice([w for w in WORDS if w not in task.command])
    for w in WORDS:
        if w in task.command:
            return task.command.replace(w, other)
    return task.command


def observation(output: str, exit_code: int | None) -> str:
    """What the environment says after a command: the agent loop's own format."""
    from rollout.envs.terminal import format_observation

    return format_observation(output, exit_code)


def transcript(task: AgentTask, rng: random.Random, p_correct: float, p_look: float) -> list[dict[str, str]]:
    """A chat: sometimes a look around first (`ls /app`), then the command, then DONE."""
    messages = [{"role": "user", "content": task.prompt}]
    if rng.random() < p_look:
        messages += [{"role": "assistant", "content": "<bash>ls /app</bash>"},
                     {"role": "user", "content": observation("", 0)}]
    messages += [{"role": "assistant", "content": f"<bash>{noisy_command(task, rng, p_correct)}</bash>"},
                 {"role": "user", "content": observation("", 0)},
                 {"role": "assistant", "content": "DONE"}]
    return messages


def write_task_dirs(tasks: list[AgentTask], out: Path) -> list[Path]:
    """Materialise tasks as directories in our format (task.yaml, solution.sh, tests/)."""
    paths = []
    for t in tasks:
        d = out / t.name
        (d / "tests").mkdir(parents=True, exist_ok=True)
        (d / "task.yaml").write_text(
            f"instruction: |\n  {t.instruction}\nlimits: {{max_turns: 4, step_timeout_s: 10, test_timeout_s: 30}}\n")
        (d / "solution.sh").write_text(t.command + "\n")
        (d / "tests" / "test_outputs.py").write_text(t.test)
        paths.append(d)
    return paths
