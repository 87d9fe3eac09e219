"""Terminal task directories: our own format and Terminal-Bench 0.2.x, loaded into one TaskSpec.

Our format (docs/tasks.md):
    task.yaml      instruction (required), image (sandbox image name, default "terminal"), limits (below)
    environment/   optional: files seeded into /app before the episode
    Dockerfile     optional: a task image built FROM a local image (FROM lines mapped, see image_map)
    solution.sh    reference solution (run by `--agent oracle`)
    tests/         hidden pytest files, copied in only after the episode
Terminal-Bench 0.2.x: task.yaml (instruction, max_agent_timeout_sec, max_test_timeout_sec), Dockerfile,
run-tests.sh (not run: it downloads uv; its test requirements are installed at build time and the tests run with
our pytest runner), solution.sh or solution.yaml (keystrokes with waits), tests/. The agent is root, as there.
Both formats accept `agent_user` (sandbox | root) and `keep_processes` (whether what the agent started keeps
running while the tests run) in task.yaml.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

HIDDEN = {"tests", "solution.sh", "solution.yaml", "run-tests.sh", "task.yaml", "docker-compose.yaml",
          "docker-compose.yml"}


class TaskError(ValueError):
    """A task directory is malformed; the message names the file and the fix."""


@dataclass(frozen=True)
class TaskLimits:
    """max_turns / max_tokens: agent-loop limits; wall_s: whole-episode deadline; step_timeout_s: one command;
    test_timeout_s: the hidden tests; output_bytes: observation budget per step; memory_mb, pids: container caps."""

    max_turns: int = 16
    wall_s: float = 300.0
    step_timeout_s: float = 30.0
    test_timeout_s: float = 60.0
    output_bytes: int = 4096
    memory_mb: int = 1024
    pids: int = 128


@dataclass(frozen=True)
class SolutionStep:
    """One reference-solution step. solution.sh is one blocking step; a Terminal-Bench solution.yaml entry is
    typed into a terminal: `block` waits for the command to finish (up to max_timeout_s), otherwise the oracle
    waits min_timeout_s and types the next entry (which a still-running program then reads)."""

    command: str
    block: bool = True
    min_timeout_s: float = 0.0
    max_timeout_s: float = 180.0
    append_enter: bool = True
    keystrokes: bool = False   # True for solution.yaml entries (run through a terminal, not the command shell)


@dataclass
class TaskSpec:
    name: str
    path: Path
    format: str                       # "mispo" | "terminal-bench"
    instruction: str
    image: str = "terminal"           # a sandboxes.images name, or replaced by the built task image
    dockerfile: str | None = None     # text of the task's Dockerfile (FROM mapped at build time)
    context: str = "."                # its build context, relative to the task dir (docker-compose build.context)
    seed_files: dict[str, bytes] = field(default_factory=dict)
    tests: dict[str, bytes] = field(default_factory=dict)
    solution: list[SolutionStep] = field(default_factory=list)
    limits: TaskLimits = TaskLimits()
    agent_user: str = "sandbox"       # "sandbox" (uid 1000, read-only root) | "root" (Terminal-Bench's convention)
    keep_processes: bool = False      # the agent's processes keep running while the tests run


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise TaskError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise TaskError(f"{path}: expected a mapping at the top level")
    return data


def _files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and "__pycache__" not in p.parts}


def _limits(raw: dict[str, Any], where: Path) -> TaskLimits:
    known = {f.name for f in fields(TaskLimits)}
    bad = sorted(set(raw) - known)
    if bad:
        raise TaskError(f"{where}: unknown limits {bad}; known: {sorted(known)}")
    return TaskLimits(**raw)


def load_task(path: str | Path) -> TaskSpec:
    """Load a task directory in either format."""
    root = Path(path).resolve()
    meta_path = root / "task.yaml"
    if not meta_path.is_file():
        raise TaskError(f"{root}: no task.yaml. A task directory needs task.yaml, tests/ and a solution "
                        "(see docs/tasks.md)")
    meta = _read_yaml(meta_path)
    if not isinstance(meta.get("instruction"), str) or not meta["instruction"].strip():
        raise TaskError(f"{meta_path}: `instruction` (a non-empty string) is required")
    tests_dir = root / "tests"
    tests = _files_under(tests_dir) if tests_dir.is_dir() else {}
    if not any(n.startswith("test") and n.endswith(".py") for n in (Path(t).name for t in tests)):
        raise TaskError(f"{tests_dir}: no pytest file (tests/test_*.py); hidden tests decide the reward")
    context, dockerfile_name = _compose_build(root)
    dockerfile_path = root / context / dockerfile_name
    dockerfile = dockerfile_path.read_text() if dockerfile_path.is_file() else None
    tb = (root / "run-tests.sh").is_file() or "max_agent_timeout_sec" in meta
    if tb:
        limits = TaskLimits(wall_s=float(meta.get("max_agent_timeout_sec", 360.0)),
                            test_timeout_s=float(meta.get("max_test_timeout_sec", 60.0)))
        if dockerfile is None:
            raise TaskError(f"{root}: Terminal-Bench tasks need a Dockerfile")
    else:
        limits = _limits(meta.get("limits", {}) or {}, meta_path)
    seed = _files_under(root / "environment") if (root / "environment").is_dir() else {}
    agent_user = str(meta.get("agent_user", "root" if tb else "sandbox"))
    if agent_user not in ("sandbox", "root"):
        raise TaskError(f"{meta_path}: agent_user must be 'sandbox' or 'root', got {agent_user!r}")
    keep = meta.get("keep_processes", tb)
    if not isinstance(keep, bool):
        raise TaskError(f"{meta_path}: keep_processes must be true or false, got {keep!r}")
    if agent_user == "root" and dockerfile is None:
        raise TaskError(f"{meta_path}: agent_user root needs a Dockerfile (the task gets its own writable image)")
    return TaskSpec(name=str(meta.get("name", root.name)), path=root, format="terminal-bench" if tb else "mispo",
                    instruction=meta["instruction"].strip(), image=str(meta.get("image", "terminal")),
                    dockerfile=dockerfile, context=context, seed_files=seed, tests=tests,
                    solution=_solution(root, limits), limits=limits, agent_user=agent_user, keep_processes=keep)


def _compose_build(root: Path) -> tuple[str, str]:
    """(context dir, Dockerfile name) of the `client` service in docker-compose.yaml, as Terminal-Bench builds it;
    (".", "Dockerfile") without one."""
    for name in ("docker-compose.yaml", "docker-compose.yml"):
        if (root / name).is_file():
            compose = _read_yaml(root / name)
            build = ((compose.get("services") or {}).get("client") or {}).get("build") or {}
            if isinstance(build, str):
                build = {"context": build}
            context = str(build.get("context", ".")).strip("/") or "."
            if context.startswith("..") or Path(context).is_absolute():
                raise TaskError(f"{root / name}: build context {context!r} is outside the task directory")
            return context, str(build.get("dockerfile", "Dockerfile"))
    return ".", "Dockerfile"


STEP_KEYS = {"command", "min_timeout_sec", "max_timeout_sec", "block", "append_enter"}


def _solution(root: Path, limits: TaskLimits) -> list[SolutionStep]:
    if (root / "solution.sh").is_file():
        return [SolutionStep((root / "solution.sh").read_text(), max_timeout_s=limits.wall_s)]
    path = root / "solution.yaml"
    if not path.is_file():
        return []
    try:
        steps = yaml.safe_load(path.read_text()) or []
    except yaml.YAMLError as exc:
        raise TaskError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(steps, list) or not all(isinstance(s, dict) and "command" in s for s in steps):
        raise TaskError(f"{path}: expected a list of {{command: ..., block: ..., min_timeout_sec: ...}} entries")
    out = []
    for i, s in enumerate(steps):
        bad = sorted(set(s) - STEP_KEYS)
        if bad:
            raise TaskError(f"{path}: entry {i} has unknown keys {bad}; known: {sorted(STEP_KEYS)}")
        out.append(SolutionStep(str(s["command"]), block=bool(s.get("block", False)),
                                min_timeout_s=float(s.get("min_timeout_sec", 0.0)),
                                max_timeout_s=float(s.get("max_timeout_sec", 180.0)),
                                append_enter=bool(s.get("append_enter", True)), keystrokes=True))
    return out


def build_context_files(task: TaskSpec) -> dict[str, bytes]:
    """Files a task image may COPY: its build context (the task dir, or docker-compose's build.context) minus
    tests, solutions and harness files (never baked in)."""
    out = {}
    base = task.path / task.context
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(base)
        if p.is_file() and rel.parts[0] not in HIDDEN and rel.parts[0] != "Dockerfile":
            out[rel.as_posix()] = p.read_bytes()
    return out
