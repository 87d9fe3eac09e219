"""Terminal-Bench conventions in real containers: the root agent, packages resolved offline at build time,
`validate` naming what cannot be resolved, and the judge's guard against a root agent changing its Python."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sandboxes.tasks.spec import load_task

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]


def _tb_task(tmp_path: Path, name: str, dockerfile: str, run_tests: str = "", answer_test: bool = True) -> Path:
    d = tmp_path / name
    (d / "tests").mkdir(parents=True)
    (d / "task.yaml").write_text("instruction: Write 42 to /app/answer.txt.\nmax_agent_timeout_sec: 120\n"
                                 "max_test_timeout_sec: 60\n")
    (d / "Dockerfile").write_text(textwrap.dedent(dockerfile).lstrip())
    (d / "run-tests.sh").write_text(run_tests or "#!/bin/bash\nbash $TEST_DIR/run-uv-pytest.sh\n")
    (d / "solution.sh").write_text("echo 42 > /app/answer.txt\n")
    test = ('from pathlib import Path\n\n\ndef test_answer():\n'
            '    assert Path("/app/answer.txt").read_text().strip() == "42"\n')
    (d / "tests" / "test_outputs.py").write_text(test if answer_test else "def test_x():\n    assert True\n")
    return d


@pytest.fixture(scope="module")
def env(terminal_image):
    from sandboxes.terminal_env import TerminalEnv

    e = TerminalEnv()
    yield e
    e.close()


def _validate(*paths: Path) -> tuple[int, list[dict]]:
    res = subprocess.run([sys.executable, "-m", "sandboxes.tasks", "validate", *map(str, paths)],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    rows = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    return res.returncode, rows


def test_validate_names_unresolvable_python_and_debian_packages(tmp_path):
    py = _tb_task(tmp_path, "bad-pip", "FROM ghcr.io/laude-institute/t-bench/python-3-13:20250620\n",
                  "#!/bin/bash\nuv add mispo-no-such-package-xyz==9.9.9\n")
    deb = _tb_task(tmp_path, "bad-apt", "FROM ghcr.io/laude-institute/t-bench/ubuntu-24-04:20250624\n"
                   "RUN apt-get update && apt-get install -y mispo-no-such-deb\n")
    code, rows = _validate(py, deb)
    assert code == 1 and [r["ok"] for r in rows] == [False, False], rows
    assert "mispo-no-such-package-xyz==9.9.9" in rows[0]["error"] and "CPython 3.13" in rows[0]["error"]
    assert "mispo-no-such-deb" in rows[1]["error"] and "bookworm" in rows[1]["error"]


def test_root_agent_workdir_and_offline_mirror(env, tmp_path):
    task = load_task(_tb_task(tmp_path, "conventions", """
        FROM ghcr.io/laude-institute/t-bench/python-3-13:20250620
        RUN apt-get update && apt-get install -y sqlite3 && pip install tabulate==0.9.0
        """))
    env.reset(task)
    try:
        obs = env.step("id -u; pwd; python --version; sqlite3 -version | cut -d' ' -f1; "
                       "python -c 'import tabulate; print(tabulate.__version__)'")
        uid, cwd, pyver, sqlite, tab = obs.output.split("\n")[:5]
        assert (uid, cwd, tab) == ("0", "/app", "0.9.0") and pyver.startswith("Python 3.13") and sqlite[0] == "3"
        # the network is off; apt and pip still work for what the mirror holds, and say so for the rest
        assert env.step("python -c \"import urllib.request as u; u.urlopen('http://deb.debian.org', timeout=3)\""
                        ).exit_code != 0
        assert env.step("apt-get update -q && apt-get install -y -q sqlite3").exit_code == 0
        assert env.step("python -c \"import socket; print(socket.getaddrinfo('localhost', 80)[0][4][0])\""
                        ).output.strip() in ("127.0.0.1", "::1")   # loopback and localhost, as TB has them
        assert env.step("pip install mispo-not-in-mirror").exit_code != 0
        assert env.step("echo 42 > answer.txt").exit_code == 0
    finally:
        rep = env.finish()
    assert rep.reward == 1.0, rep


TAMPER = {
    "judge_site": "echo 'raise SystemExit(0)' > $(ls -d /opt/mispo-judge/site/_pytest)/__init__.py",
    "stdlib": "echo 'import os; os._exit(0)' >> /usr/lib/python3.13/json/__init__.py",
    "interpreter": "cp /bin/true /usr/bin/python3.13",
    "pyvenv_cfg": "mkdir -p /tmp/evil/lib/python3.13 && printf 'home = /tmp/evil/bin\\n' > /usr/bin/pyvenv.cfg",
}
HARMLESS = {
    "pth_file": "echo 'import os; os._exit(0)' > /usr/local/lib/python3.13/dist-packages/zz.pth",
    "sitecustomize": "echo 'import os; os._exit(0)' > /usr/local/lib/python3.13/dist-packages/sitecustomize.py",
    "conftest": "printf 'import pytest\\ndef pytest_collection_modifyitems(items):\\n    items.clear()\\n' "
                "> /app/conftest.py",
}


@pytest.mark.parametrize("name", sorted(TAMPER) + sorted(HARMLESS))
def test_root_agent_cannot_fake_the_tests(env, tmp_path, name):
    task = load_task(_tb_task(tmp_path, "tamper", "FROM ghcr.io/laude-institute/t-bench/python-3-13:20250620\n"))
    env.reset(task)
    env.step(TAMPER.get(name) or HARMLESS[name])
    rep = env.finish()
    assert rep.reward == 0.0 and rep.passed == 0, (name, rep)
    if name in TAMPER:
        assert rep.outcomes == {"tampered": "failed"} and "changed the judge" in rep.log, rep
    else:   # not needed: -I -S and --noconftest keep these out; the test ran and failed on its own
        assert rep.outcomes == {"test_outputs::test_answer": "failed"}, rep


def test_processes_the_agent_started_serve_the_tests(env):
    task = load_task(ROOT / "data/terminal_tasks/tbench/serve-status-page")
    env.reset(task)
    env.step("echo \"ok $(hostname)\" > /app/site/status.txt")
    env.step("nohup python -m http.server 8080 --bind 127.0.0.1 --directory /app/site >/dev/null 2>&1 &")
    env.step("sleep 1")
    assert env.finish().reward == 1.0


def test_a_timed_out_command_restarts_the_shell_but_spares_the_agents_daemons(env, tmp_path):
    task = load_task(_tb_task(tmp_path, "daemons", "FROM ghcr.io/laude-institute/t-bench/ubuntu-24-04:20250624\n"))
    env.reset(task)
    try:
        env.step("setsid sleep 1001 </dev/null >/dev/null 2>&1 & sleep 1002 </dev/null >/dev/null 2>&1 &")
        assert env.step("sleep 60", timeout=2).timed_out       # the shell is killed and reopened
        alive = env.step("ps -eo args | grep '^sleep 100' | sort").output.split("\n")
        assert "sleep 1001" in alive and "sleep 1002" not in alive, alive   # its own job died, the daemon lives
        assert env.step("pwd").output.strip() == "/app"
    finally:
        env.finish()
