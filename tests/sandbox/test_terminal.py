"""Terminal tasks in real containers: our format and Terminal-Bench 0.2.x (oracle = 1, noop = 0), the shell
protocol, the CLI, and attacks on the hidden-test harness."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sandboxes.tasks.__main__ import run_episode
from sandboxes.tasks.spec import load_task

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]
TASKS = sorted([*(ROOT / "data/terminal_tasks/mispo").glob("*"), *(ROOT / "data/terminal_tasks/tbench").glob("*")])


@pytest.fixture(scope="module")
def env(terminal_image):
    from sandboxes.terminal_env import TerminalEnv

    e = TerminalEnv()
    yield e
    e.close()


def test_ships_three_tasks_per_format():
    formats = [load_task(p).format for p in TASKS]
    assert formats.count("mispo") >= 3 and formats.count("terminal-bench") >= 3


@pytest.mark.parametrize("path", TASKS, ids=[p.name for p in TASKS])
def test_oracle_scores_one_noop_scores_zero(env, path):
    task = load_task(path)
    oracle = run_episode(env, task, "oracle")
    assert (oracle["reward"], oracle["status"], oracle["passed"]) == (1.0, "ok", oracle["total"]), oracle
    noop = run_episode(env, task, "noop")
    assert noop["reward"] == 0.0 and noop["status"] == "ok" and noop["passed"] < noop["total"], noop


def test_cli_prints_one_json_object():
    res = subprocess.run([sys.executable, "-m", "sandboxes.tasks", "run", str(TASKS[0]), "--agent", "oracle"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert {"reward", "passed", "total", "status"} <= set(out) and out["reward"] == 1.0


def test_shell_keeps_state_reports_exit_codes_and_survives_timeouts(env):
    env.reset(load_task(ROOT / "data/terminal_tasks/mispo/hello-file"))
    try:
        assert env.step("cd /tmp && export FOO=bar && mkdir d").exit_code == 0
        obs = env.step("pwd; echo $FOO; cat")  # `cat` reads stdin: must not swallow the protocol
        assert obs.output.split() == ["/tmp", "bar"] and obs.exit_code == 0
        assert env.step("false").exit_code == 1
        assert env.step("exit 7").exit_code is None  # the shell itself exited: restarted
        big = env.step("head -c 200000 /dev/zero | tr '\\0' x; echo END")
        assert big.truncated and big.output.rstrip().endswith("END") and len(big.output) < 6000
        slow = env.shell.run("sleep 30", timeout=1.0)
        assert slow.timed_out and slow.exit_code is None
        assert env.step("echo alive").output.strip() == "alive"
    finally:
        env.finish()


def _task(tmp_path: Path, tests: str, instruction: str = "Do nothing.") -> Path:
    d = tmp_path / "task"
    (d / "tests").mkdir(parents=True)
    (d / "task.yaml").write_text(f"instruction: {instruction}\nlimits: {{max_turns: 8, step_timeout_s: 10}}\n")
    (d / "solution.sh").write_text("true\n")
    (d / "tests" / "test_outputs.py").write_text(textwrap.dedent(tests))
    return d


def test_skipped_xfailed_errored_and_uncollected_tests_count_as_failed(env, tmp_path):
    tests = """
        import pytest

        def test_passes():
            assert True

        @pytest.mark.skip(reason="no")
        def test_skipped():
            assert False

        @pytest.mark.xfail
        def test_xfailed():
            assert False

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture error")

        def test_errored(broken):
            pass

        class TestNotCollected:
            def __init__(self):
                pass

            def test_hidden(self):
                assert True
    """
    task = load_task(_task(tmp_path, tests))
    env.reset(task)
    rep = env.finish()
    assert rep.status == "ok" and rep.passed == 1 and rep.total == 5 and rep.reward == 0.0, rep


HACKS = {
    "conftest_skips_everything": "cat > /app/conftest.py <<'E'\nimport pytest\ndef pytest_collection_modifyitems(items):\n"
                                 "    for i in items: i.add_marker(pytest.mark.skip)\nE",
    "conftest_forces_pass": "cat > /app/conftest.py <<'E'\nimport pytest\n@pytest.hookimpl(hookwrapper=True)\n"
                            "def pytest_runtest_makereport(item, call):\n    o = yield\n    r = o.get_result()\n"
                            "    r.outcome = 'passed'\nE",
    "pytest_ini_in_app": "printf '[pytest]\\naddopts = -p no:junitxml\\n' > /app/pytest.ini",
    "sitecustomize_in_app": "echo 'import os; os._exit(0)' > /app/sitecustomize.py",
    "fake_pytest_module": "mkdir -p /app/pytest && echo 'raise SystemExit(0)' > /app/pytest/__init__.py",
    "write_into_tests_dir": "mkdir -p /tests/.mispo; echo '<testsuite/>' > /tests/.mispo/report.xml",
    "background_tamperer": "nohup sh -c 'while true; do cp /dev/null /tests/.mispo/report.xml 2>/dev/null; "
                           "echo hacked > /app/answer.txt; sleep 0.05; done' >/dev/null 2>&1 &",
    "fake_pass_output": "echo '1 passed in 0.01s'; echo 'PASSED'",
    "fork_bomb": "bomb() { bomb | bomb & }; bomb",
}


@pytest.mark.parametrize("name", sorted(HACKS))
def test_agent_cannot_hack_the_hidden_tests(env, tmp_path, name):
    tests = """
        from pathlib import Path

        def test_answer():
            assert Path("/app/answer.txt").read_text().strip() == "42"
    """
    task = load_task(_task(tmp_path, tests, "Write 42 to /app/answer.txt."))
    env.reset(task)
    env.step(HACKS[name])
    rep = env.finish()
    assert rep.reward == 0.0 and rep.passed == 0, (name, rep)
    # the environment is healthy afterwards: a real solution still scores 1
    env.reset(task)
    env.step("echo 42 > /app/answer.txt")
    assert env.finish().reward == 1.0, name
