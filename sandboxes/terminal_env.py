"""The multi-turn terminal environment: reset(task) -> first observation; step(command) -> observation;
finish() -> TestReport from the hidden tests, which enter the container only after the agent is stopped.

Hidden tests run as a separate user (uid 1001) that owns /tests (mode 700) and the JUnit report; pytest runs
isolated (-I), without conftest files (--noconftest), plugin autoload or cache. Skipped, xfailed, errored and
uncollected tests all count as failed.
"""
from __future__ import annotations

import ast
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from sandboxes.limits import JUDGE_UID, SANDBOX_UID, SandboxLimits
from sandboxes.pool import SandboxPool
from sandboxes.shell import Shell
from sandboxes.tasks.spec import TaskSpec
from sandboxes.tasks.task_image import SEED_DIR, task_image

REPORT = "/tests/.mispo/report.xml"
PYTEST = ["/usr/bin/python3", "-I", "-m", "pytest", "-c", "/tests/.mispo/pytest.ini", "--rootdir=/tests",
          "--noconftest", "-p", "no:cacheprovider", "-q", "-rA", f"--junitxml={REPORT}"]


@dataclass
class Observation:
    output: str
    exit_code: int | None
    truncated: bool = False
    timed_out: bool = False
    done: bool = False


@dataclass
class TestReport:
    """status: ok (tests ran; reward meaningful), timeout (tests exceeded their limit), error (harness failure)."""

    passed: int
    total: int
    status: str = "ok"
    outcomes: dict[str, str] = field(default_factory=dict)
    log: str = ""

    @property
    def reward(self) -> float:
        return 1.0 if self.status == "ok" and self.total > 0 and self.passed == self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"reward": self.reward, "passed": self.passed, "total": self.total, "status": self.status,
                "outcomes": self.outcomes}


def static_test_count(tests: dict[str, bytes]) -> int:
    """Test functions written in the files (module level and Test* classes): a floor on `total`, so tests that
    never got collected still count as failed."""
    count = 0
    for name, data in tests.items():
        if not (name.rsplit("/", 1)[-1].startswith("test") and name.endswith(".py")):
            continue
        try:
            tree = ast.parse(data.decode())
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                count += 1
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                count += sum(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test")
                             for n in node.body)
    return count


def parse_junit(xml_text: str) -> dict[str, str]:
    """test id -> passed | failed | error | skipped."""
    outcomes = {}
    for case in ET.fromstring(xml_text).iter("testcase"):
        tid = f"{case.get('classname', '')}::{case.get('name', '')}"
        kinds = {child.tag for child in case}
        outcomes[tid] = ("failed" if "failure" in kinds else "error" if "error" in kinds
                         else "skipped" if "skipped" in kinds else "passed")
    return outcomes


class TerminalEnv:
    """One episode at a time. Containers come from warm pools (one per task image) and are never reused across
    episodes: the agent may change anything it can write."""

    def __init__(self, pool_size: int = 1, image_map: dict[str, str] | None = None, runtime: str | None = None) -> None:
        self.pool_size, self.image_map, self.runtime = pool_size, image_map, runtime
        self.pools: dict[tuple[str, Any], SandboxPool] = {}
        self.task: TaskSpec | None = None
        self.sb = None
        self.shell: Shell | None = None
        self.turns = 0
        self.started = 0.0

    def _pool(self, task: TaskSpec) -> SandboxPool:
        image = task_image(task, self.image_map)
        lim = task.limits
        limits = SandboxLimits(memory_mb=lim.memory_mb, pids=lim.pids, wall_s=max(lim.test_timeout_s, 30.0) + 30,
                               tmpfs_mb=256, file_size_mb=64, runtime=self.runtime,
                               writable_dirs=("/app", "/work", "/tmp"), exec_dirs=("/app", "/work", "/tmp"))
        key = (image, limits)
        if key not in self.pools:
            self.pools[key] = SandboxPool(image, limits, size=self.pool_size, max_uses=1, judge_dir=True)
        return self.pools[key]

    def reset(self, task: TaskSpec) -> str:
        """Start an episode; returns the first observation (the instruction)."""
        if self.sb is not None:
            self._end_episode()
        self.task, self.turns, self.started = task, 0, time.monotonic()
        self.pool = self._pool(task)
        self.sb = self.pool.acquire(timeout=300)
        uid = str(SANDBOX_UID)
        if task.dockerfile is not None:
            self.sb.exec(["/bin/sh", "-c", f"cp -a {SEED_DIR}/. /app/ 2>/dev/null; true"], user=uid, timeout=60)
        if task.seed_files:
            res = self.sb.put_files(task.seed_files, "/app", user=uid)
            if res.exit_code != 0:
                raise RuntimeError(f"task {task.name}: seeding /app failed: {res.stderr.decode()[-300:]}")
        self.shell = Shell(self.sb, workdir="/app", output_bytes=task.limits.output_bytes)
        return task.instruction

    def step(self, command: str) -> Observation:
        """Run one command in the episode's shell. `done` turns true at the turn or wall-clock limit."""
        if self.shell is None or self.task is None:
            raise RuntimeError("TerminalEnv.step called before reset()")
        left = self.task.limits.wall_s - (time.monotonic() - self.started)
        if left <= 0:
            return Observation("[episode wall-clock limit reached]", None, done=True)
        res = self.shell.run(command, timeout=min(self.task.limits.step_timeout_s, left))
        self.turns += 1
        done = self.turns >= self.task.limits.max_turns or time.monotonic() - self.started >= self.task.limits.wall_s
        return Observation(res.output, res.exit_code, res.truncated, res.timed_out, done)

    def finish(self) -> TestReport:
        """Stop the agent, copy the hidden tests in, run them, and end the episode (the container is discarded)."""
        if self.sb is None or self.task is None:
            raise RuntimeError("TerminalEnv.finish called before reset()")
        try:
            return self._run_tests()
        finally:
            self._end_episode()

    def _run_tests(self) -> TestReport:
        task, sb = self.task, self.sb
        if self.shell is not None:
            self.shell.close()
        sb.exec(["/bin/kill", "-9", "-1"], user=str(SANDBOX_UID), timeout=10)  # nothing of the agent keeps running
        files = {**task.tests, ".mispo/pytest.ini": b"[pytest]\n"}
        put = sb.put_files(files, "/tests", user=str(JUDGE_UID))
        if put.exit_code != 0:
            return TestReport(0, 0, "error", log=f"copying tests failed: {put.stderr.decode()[-300:]}")
        targets = [f"/tests/{n}" for n in sorted(task.tests) if n.rsplit("/", 1)[-1].startswith("test")
                   and n.endswith(".py")]
        res = sb.exec(PYTEST + targets, user=str(JUDGE_UID), workdir="/app", timeout=task.limits.test_timeout_s,
                      environment={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "HOME": "/tests", "TEST_DIR": "/tests"})
        log = (res.stdout + res.stderr).decode(errors="replace")[-4000:]
        if res.timed_out:
            return TestReport(0, max(static_test_count(task.tests), 1), "timeout", log=log)
        xml = sb.exec(["/bin/cat", REPORT], user=str(JUDGE_UID), timeout=30, output_bytes=8 << 20)
        if xml.exit_code != 0 or not xml.stdout.strip():
            return TestReport(0, 0, "error", log=f"pytest wrote no report (exit {res.exit_code}):\n{log}")
        outcomes = parse_junit(xml.stdout.decode(errors="replace"))
        passed = sum(v == "passed" for v in outcomes.values())
        total = max(len(outcomes), static_test_count(task.tests))
        return TestReport(passed, total, "ok", outcomes, log)

    def _end_episode(self) -> None:
        if self.shell is not None:
            self.shell.close()
        if self.sb is not None:
            self.pool.release(self.sb, reusable=False)
        self.sb, self.shell = None, None

    def close(self) -> None:
        if self.sb is not None:
            self._end_episode()
        for pool in self.pools.values():
            pool.close()
        self.pools.clear()
