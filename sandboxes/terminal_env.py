"""The multi-turn terminal environment: reset(task) -> first observation; step(command) -> observation;
finish() -> TestReport from the hidden tests, which enter the container only after the agent is stopped.

Two agent modes (TaskSpec.agent_user):
- sandbox (our format's default): the agent is uid 1000 in a read-only-root container with a tmpfs /app; its
  processes are killed before the tests, which run as a separate user (uid 1001) that owns /tests (mode 700) and
  the JUnit report.
- root (Terminal-Bench's convention): the agent is root in a writable container (network still off, a reduced
  capability set); what it started keeps running while the tests run (`keep_processes`), and the tests run as
  root, as Terminal-Bench runs them. Before the tests, the container's filesystem diff is checked: a change to the
  judge's Python (interpreter, standard library, /opt/mispo*) scores 0 with outcome `tampered`.
Either way pytest runs isolated (-I -S: no sitecustomize, .pth files or cwd imports), without conftest files
(--noconftest), plugin autoload or cache, with the task's test requirements first on sys.path. Skipped, xfailed,
errored and uncollected tests all count as failed.
"""
from __future__ import annotations

import ast
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from sandboxes.keystrokes import KeystrokeTerminal
from sandboxes.limits import JUDGE_UID, SANDBOX_UID, SandboxLimits
from sandboxes.pool import SandboxPool
from sandboxes.shell import Shell
from sandboxes.tasks.spec import SolutionStep, TaskSpec
from sandboxes.tasks.task_image import JUDGE_SITE, SEED_DIR, image_workdir, task_deps, task_image

REPORT = "/tests/.mispo/report.xml"
# -S: no site module (a .pth or sitecustomize the agent planted never runs); the site dirs are added by hand
RUNNER = (f"import site, sys; sys.path[:0] = [{JUDGE_SITE!r}]; "
          "sys.path += [p for p in site.getsitepackages() if p not in sys.path]; "
          "import pytest; raise SystemExit(pytest.main(sys.argv[1:]))")
PYTEST = ["/usr/bin/python3", "-I", "-S", "-c", RUNNER, "-c", "/tests/.mispo/pytest.ini", "--rootdir=/tests",
          "--noconftest", "-p", "no:cacheprovider", "-q", "-rA", f"--junitxml={REPORT}"]
# root agents keep what a Terminal-Bench container needs to install and own files; no raw network, no mknod,
# no chroot, no audit
ROOT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE")
STDLIB = re.compile(r"^/usr/(local/)?lib/python3\.\d+/")
INTERPRETER = re.compile(r"^/usr/(local/)?bin/python3(\.\d+)?$")
# files that redirect the interpreter itself: a pyvenv.cfg beside or above it moves sys.prefix (and the standard
# library) even under -I -S; ld.so.preload injects a library into every process
REDIRECTS = ("/usr/bin/pyvenv.cfg", "/usr/pyvenv.cfg", "/usr/local/bin/pyvenv.cfg", "/usr/local/pyvenv.cfg",
             "/etc/ld.so.preload")
ALLOWED = re.compile(r"/EXTERNALLY-MANAGED$|/(dist|site)-packages/")


def tampered_paths(changes: list[dict] | None) -> list[str]:
    """Files of the judge's Python that a container's diff says were changed: anything under /opt/mispo*, the
    interpreter or an existing standard-library file changed or removed, or an interpreter redirect planted.
    Additions to the standard-library dirs (python3-venv's ensurepip, python3-dev's config) and the site dirs,
    where agents legitimately install packages, are not flagged; nor are directories (a parent of another change)."""
    changes = changes or []
    parents = {p[:i] for p in (c["Path"] for c in changes) for i in range(1, len(p)) if p[i] == "/"}
    hits = []
    for c in changes:
        path, kind = c["Path"], c.get("Kind", 0)   # Kind: 0 modified, 1 added, 2 deleted
        if path in parents:
            continue
        if path.startswith("/opt/mispo") or path in REDIRECTS:
            hits.append(path)
        elif kind != 1 and (INTERPRETER.match(path) or STDLIB.match(path) and not ALLOWED.search(path)):
            hits.append(path)
    return sorted(hits)


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
        self.images: dict[tuple, tuple[str, str, tuple[str, ...]]] = {}
        self.task: TaskSpec | None = None
        self.sb = None
        self.shell: Shell | None = None
        self.keys: KeystrokeTerminal | None = None
        self.uid, self.workdir, self.home = str(SANDBOX_UID), "/app", "/app"
        self.turns = 0
        self.started = 0.0

    def _image(self, task: TaskSpec) -> tuple[str, str, tuple[str, ...]]:
        """(tag, workdir, Debian packages the test setup installs) of the task's image, once per task content."""
        key = (str(task.path), task.dockerfile, task.image)
        if key not in self.images:
            tag = task_image(task, self.image_map)
            root = task.agent_user == "root"
            workdir = image_workdir(tag) if root else "/app"
            test_apt = tuple(task_deps(task).tests.apt) if root and task.dockerfile else ()
            self.images[key] = (tag, workdir, test_apt)
        return self.images[key]

    def _pool(self, task: TaskSpec) -> SandboxPool:
        image, workdir, _ = self._image(task)
        lim = task.limits
        common = dict(memory_mb=lim.memory_mb, pids=lim.pids, wall_s=max(lim.test_timeout_s, 30.0) + 30,
                      tmpfs_mb=256, file_size_mb=64, runtime=self.runtime)
        if task.agent_user == "root":
            limits = SandboxLimits(**common, read_only_root=False, writable_dirs=("/tmp",), exec_dirs=("/tmp",),
                                   user="0:0", cap_add=ROOT_CAPS, workdir=workdir, home="/root")
        else:
            limits = SandboxLimits(**common, writable_dirs=("/app", "/work", "/tmp"),
                                   exec_dirs=("/app", "/work", "/tmp"))
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
        root = task.agent_user == "root"
        uid, self.workdir = ("0" if root else str(SANDBOX_UID)), self._image(task)[1]
        self.home = "/root" if root else self.workdir
        if task.dockerfile is not None and not root:
            self.sb.exec(["/bin/sh", "-c", f"cp -a {SEED_DIR}/. /app/ 2>/dev/null; true"], user=uid, timeout=60)
        if task.seed_files:
            res = self.sb.put_files(task.seed_files, self.workdir, user=uid)
            if res.exit_code != 0:
                raise RuntimeError(f"task {task.name}: seeding {self.workdir} failed: {res.stderr.decode()[-300:]}")
        self.uid = uid
        self.shell = Shell(self.sb, workdir=self.workdir, output_bytes=task.limits.output_bytes, user=uid,
                           home=self.home, own_session=root)
        self.keys: KeystrokeTerminal | None = None
        return task.instruction

    def step(self, command: str, timeout: float | None = None) -> Observation:
        """Run one command in the episode's shell (for at most `timeout`, default the task's step_timeout_s).
        `done` turns true at the turn or wall-clock limit."""
        if self.shell is None or self.task is None:
            raise RuntimeError("TerminalEnv.step called before reset()")
        left = self.task.limits.wall_s - (time.monotonic() - self.started)
        if left <= 0:
            return Observation("[episode wall-clock limit reached]", None, done=True)
        res = self.shell.run(command, timeout=min(timeout or self.task.limits.step_timeout_s, left))
        self.turns += 1
        done = self.turns >= self.task.limits.max_turns or time.monotonic() - self.started >= self.task.limits.wall_s
        return Observation(res.output, res.exit_code, res.truncated, res.timed_out, done)

    def type_keys(self, step: SolutionStep) -> Observation:
        """Type one solution.yaml entry into the episode's terminal (a tmux session beside the command shell)."""
        if self.sb is None or self.task is None:
            raise RuntimeError("TerminalEnv.type_keys called before reset()")
        if self.keys is None:
            self.keys = KeystrokeTerminal(self.sb, self.uid, self.workdir, self.home)
        left = self.task.limits.wall_s - (time.monotonic() - self.started)
        finished = self.keys.send(step.command, step.block, step.min_timeout_s, min(step.max_timeout_s, left),
                                  step.append_enter)
        self.turns += 1
        return Observation(self.keys.screen(), 0 if finished else None, timed_out=not finished)

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
        root = task.agent_user == "root"
        if self.shell is not None:
            self.shell.close()
        if not task.keep_processes:
            sb.exec(["/bin/kill", "-9", "-1"], user=self.uid, timeout=10)  # nothing of the agent keeps running
        judge = "0" if root else str(JUDGE_UID)
        if root:
            hits = tampered_paths(sb.container.diff())
            if hits:
                return TestReport(0, max(static_test_count(task.tests), 1), "ok", {"tampered": "failed"},
                                  log="the agent changed the judge's Python: " + ", ".join(hits[:10]))
            test_apt = self._image(task)[2]
            if test_apt:   # what run-tests.sh would apt-get install before the tests, from the offline mirror
                sb.exec(["apt-get", "install", "-y", "-q", *test_apt], user="0", timeout=task.limits.test_timeout_s,
                        environment={"DEBIAN_FRONTEND": "noninteractive"})
        files = {**task.tests, ".mispo/pytest.ini": b"[pytest]\n"}
        put = sb.put_files(files, "/tests", user=judge)
        if put.exit_code != 0:
            return TestReport(0, 0, "error", log=f"copying tests failed: {put.stderr.decode()[-300:]}")
        targets = [f"/tests/{n}" for n in sorted(task.tests) if n.rsplit("/", 1)[-1].startswith("test")
                   and n.endswith(".py")]
        res = sb.exec(PYTEST + targets, user=judge, workdir=self.workdir, timeout=task.limits.test_timeout_s,
                      environment={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "HOME": "/root" if root else "/tests",
                                   "TEST_DIR": "/tests"})
        log = (res.stdout + res.stderr).decode(errors="replace")[-4000:]
        if res.timed_out:
            return TestReport(0, max(static_test_count(task.tests), 1), "timeout", log=log)
        xml = sb.exec(["/bin/cat", REPORT], user=judge, timeout=30, output_bytes=8 << 20)
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
        self.sb, self.shell, self.keys = None, None, None

    def close(self) -> None:
        if self.sb is not None:
            self._end_episode()
        for pool in self.pools.values():
            pool.close()
        self.pools.clear()
