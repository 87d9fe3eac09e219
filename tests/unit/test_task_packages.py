"""Reading what a task installs (pip / uv / apt lines), solution.yaml steps, the flat apt index, and the judge's
tamper check: pure parsing, no Docker."""
from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from sandboxes.tasks.deps import dockerfile_run_text, parse_shell
from sandboxes.tasks.mirror import platforms, write_packages_index
from sandboxes.tasks.spec import TaskError, load_task
from sandboxes.tasks.task_image import TB_PYTEST, map_from, requested_python, task_deps
from sandboxes.terminal_env import tampered_paths


def test_apt_lines_with_options_pins_env_and_continuations():
    text = ("apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\\n"
            "  curl jq=1.6-2 -o Dpkg::Options::=--force-confnew git/bookworm; apt install -q -y sqlite3 # comment")
    assert parse_shell(text).apt == ["curl", "jq", "git", "sqlite3"]


def test_pip_uv_forms_indexes_and_skips():
    text = textwrap.dedent("""
        uv add pandas==2.3.0 pyarrow==20.0.0
        python3 -m pip install --no-cache-dir 'numpy<2' -e .[test]
        pip3 install pillow==11.2.1 --break-system-packages
        uv pip install scapy --index-url https://example.invalid/simple
        pip install $PKG ./local_pkg dist/x-1.0-py3-none-any.whl git+https://github.com/a/b
        sudo pip install requests && echo pip install not-a-command-arg
    """)
    deps = parse_shell(text)
    assert deps.pip == ["pandas==2.3.0", "pyarrow==20.0.0", "numpy<2", "pillow==11.2.1", "scapy", "requests"]
    assert deps.indexes == ["https://example.invalid/simple"]
    assert "-e .[test]" in deps.skipped and "$PKG" in deps.skipped and "./local_pkg" in deps.skipped


def test_requirements_file_from_the_build_context():
    assert parse_shell("pip install foo > /dev/null 2>&1; if true; then pip install bar; fi").pip == ["foo", "bar"]
    deps = parse_shell("pip install -r requirements.txt", {"requirements.txt": b"# pinned\nnumpy==2.3.1\nscipy\n"})
    assert deps.pip == ["numpy==2.3.1", "scipy"]
    assert parse_shell("pip install -r missing.txt").skipped == ["-r missing.txt"]
    files = {"app/requirements.txt": b"requests==2.0 --hash=sha256:abc \\\n  --hash=sha256:def\n-r more.txt\n"
                                     b"--index-url https://example.invalid/simple\nflask  # web\n",
             "app/more.txt": b"rich\n"}
    for form in ("pip install -qr /app/requirements.txt", "pip install --requirement=app/requirements.txt",
                 "pip install -r $TEST_DIR/requirements.txt"):
        found = parse_shell(form, files)
        assert found.pip == ["requests==2.0", "rich", "flask"], form
        assert found.indexes == ["https://example.invalid/simple"], form


def test_dockerfile_run_text_joins_continuations_and_exec_form():
    text = dockerfile_run_text('FROM x\nRUN apt-get install -y \\\n  # a comment line inside the RUN\n  tmux\n'
                               'RUN ["pip", "install", "rich"]\nCOPY a b\n')
    deps = parse_shell(text)
    assert (deps.apt, deps.pip) == (["tmux"], ["rich"])


def _tb_task(tmp_path: Path, solution: tuple[str, str], run_tests: str = "") -> Path:
    d = tmp_path / "t"
    (d / "tests").mkdir(parents=True)
    (d / "task.yaml").write_text("instruction: do it\nmax_agent_timeout_sec: 60\n")
    (d / "Dockerfile").write_text("FROM ghcr.io/laude-institute/t-bench/python-3-13:20250620\n"
                                  "RUN apt-get update && apt-get install -y sqlite3\n")
    (d / "run-tests.sh").write_text(run_tests)
    (d / "tests" / "test_outputs.py").write_text("def test_x():\n    assert True\n")
    (d / solution[0]).write_text(solution[1])
    return d


def test_task_packages_by_phase_and_the_default_pytest_pin(tmp_path):
    d = _tb_task(tmp_path, ("solution.sh", "pip install tabulate==0.9.0\napt-get install -y jq\n"),
                 "source $TEST_DIR/setup-uv-pytest.sh\nuv add numpy==2.3.1\n")
    found = task_deps(load_task(d))
    assert found.build.apt == ["sqlite3"]
    assert found.tests.pip == [TB_PYTEST, "numpy==2.3.1"]
    assert (found.solution.pip, found.solution.apt) == (["tabulate==0.9.0"], ["jq"])
    pinned = _tb_task(tmp_path / "p", ("solution.sh", "true\n"), "uv add pytest==8.3.5\n")
    assert task_deps(load_task(pinned)).tests.pip == ["pytest==8.3.5"]


def test_solution_yaml_steps_keep_block_and_waits(tmp_path):
    steps = ("- command: python3\n  min_timeout_sec: 1\n  block: false\n  append_enter: true\n"
             "- command: make\n  block: true\n  max_timeout_sec: 30\n")
    task = load_task(_tb_task(tmp_path, ("solution.yaml", steps)))
    first, second = task.solution
    assert (first.command, first.block, first.min_timeout_s, first.keystrokes) == ("python3", False, 1.0, True)
    assert (second.block, second.max_timeout_s) == (True, 30.0)
    assert task.agent_user == "root" and task.keep_processes is True
    bad = _tb_task(tmp_path / "b", ("solution.yaml", "- command: ls\n  wait: 3\n"))
    with pytest.raises(TaskError, match="unknown keys \\['wait'\\]"):
        load_task(bad)


def test_image_map_conventions():
    assert map_from("ghcr.io/laude-institute/t-bench/python-3-13:20250620", {"ghcr.io/laude-institute/t-bench/"
                    "python-3-13*": "terminal-py313"}).spec.python == "3.13"
    assert requested_python("python:3.9-slim-bookworm") == "3.9"
    assert requested_python("ghcr.io/laude-institute/t-bench/python-3-13:latest") == "3.13"
    with pytest.raises(TaskError, match="--image-map 'quay.io/x\\*=terminal'"):
        map_from("quay.io/x:1", {"python:*": "terminal"})
    assert platforms("trixie")[0] == "manylinux_2_41_x86_64" and "manylinux2014_x86_64" in platforms("bookworm")


def test_flat_apt_index_lists_each_deb(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text("Package: mispo-demo\nVersion: 1.0\nArchitecture: all\n"
                                            "Maintainer: m <m@example.invalid>\nDescription: demo\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["dpkg-deb", "--build", str(pkg), str(repo / "mispo-demo_1.0_all.deb")], check=True,
                   capture_output=True)
    write_packages_index(repo)
    index = (repo / "Packages").read_text()
    assert "Package: mispo-demo" in index and "Filename: ./mispo-demo_1.0_all.deb" in index
    assert "SHA256: " in index and "Size: " in index


def test_tamper_check_flags_the_judges_python_not_site_dirs():
    diff = [{"Path": p, "Kind": k} for p, k in [
        ("/usr", 0), ("/usr/lib", 0), ("/usr/lib/python3.13", 0), ("/usr/lib/python3.13/json", 0),
        ("/usr/lib/python3.13/json/__init__.py", 0),
        ("/usr/local/lib/python3.13/dist-packages/tabulate.py", 1),
        ("/usr/lib/python3/dist-packages/_pytest/main.py", 0),
        ("/opt/mispo-judge/site/_pytest/runner.py", 0), ("/app/out.txt", 1), ("/usr/bin/python3.13", 0)]]
    assert tampered_paths(diff) == ["/opt/mispo-judge/site/_pytest/runner.py", "/usr/bin/python3.13",
                                    "/usr/lib/python3.13/json/__init__.py"]
    assert tampered_paths([{"Path": "/app/x", "Kind": 1}]) == [] and tampered_paths(None) == []
    legit = [{"Path": "/usr/lib/python3.11/EXTERNALLY-MANAGED", "Kind": 2},
             {"Path": "/usr/lib/python3.11/ensurepip/__init__.py", "Kind": 1},
             {"Path": "/usr/bin/python3.11-config", "Kind": 1}, {"Path": "/usr/lib/python3", "Kind": 0},
             {"Path": "/usr/lib/python3.11", "Kind": 0}, {"Path": "/usr/lib/python3.11/ensurepip", "Kind": 1}]
    assert tampered_paths(legit) == []
    assert tampered_paths([{"Path": "/usr/bin/pyvenv.cfg", "Kind": 1}, {"Path": "/etc/ld.so.preload", "Kind": 1},
                           {"Path": "/usr/lib/python3.11/os.py", "Kind": 2}]) == [
        "/etc/ld.so.preload", "/usr/bin/pyvenv.cfg", "/usr/lib/python3.11/os.py"]


def test_compose_build_context_is_where_the_dockerfile_lives(tmp_path):
    d = _tb_task(tmp_path, ("solution.sh", "true\n"))
    (d / "Dockerfile").unlink()
    (d / "client").mkdir()
    (d / "client" / "Dockerfile").write_text("FROM ghcr.io/laude-institute/t-bench/ubuntu-24-04:20250624\n"
                                             "COPY data.txt .\n")
    (d / "client" / "data.txt").write_text("x\n")
    (d / "docker-compose.yaml").write_text("services:\n  client:\n    build:\n      context: client\n"
                                           "      dockerfile: Dockerfile\n")
    from sandboxes.tasks.spec import build_context_files

    task = load_task(d)
    assert task.context == "client" and "COPY data.txt" in task.dockerfile
    assert set(build_context_files(task)) == {"data.txt"}
    (d / "docker-compose.yaml").write_text("services:\n  client:\n    build:\n      context: ../elsewhere\n")
    with pytest.raises(TaskError, match="outside the task directory"):
        load_task(d)


def test_uv_use_is_detected_in_build_and_solution_only(tmp_path):
    uses = _tb_task(tmp_path / "a", ("solution.sh", "curl -LsSf https://astral.sh/uv/0.7.13/install.sh | sh\n"
                                                    "source $HOME/.local/bin/env\nuv init\nuv add flask\n"))
    found = task_deps(load_task(uses))
    assert found.uv and found.solution.pip == ["flask"]
    tests_only = _tb_task(tmp_path / "b", ("solution.sh", "echo 42 > /app/answer.txt\n"), "uv add numpy\n")
    assert not task_deps(load_task(tests_only)).uv   # the judge replaces the test run's uv


def test_dockerfile_heredocs_become_context_files():
    from sandboxes.tasks.task_image import expand_heredocs

    text = ("FROM x\nCOPY <<EOT /app/notes.txt\nfirst $HOME\nEOT\nRUN <<EOF\napt-get install -y jq\nEOF\n"
            "RUN python3 - <<'PY' && echo done\nprint('hey')\nPY\nRUN cat <<-END > /app/t\n\tindented\n\tEND\n")
    out, files, scripts = expand_heredocs(text)
    assert "COPY .mispo-heredoc/0 /app/notes.txt" in out and files[".mispo-heredoc/0"] == b"first $HOME\n"
    assert "RUN /bin/sh /tmp/.mispo-heredoc-1" in out and "apt-get install -y jq\n" in scripts
    assert "RUN python3 - < /tmp/.mispo-heredoc-2 && echo done" in out
    assert files[".mispo-heredoc/3"] == b"indented\n" and "RUN cat < /tmp/.mispo-heredoc-3 > /app/t" in out
    assert "EOT" not in out.split("\n") and "PY" not in out.split("\n")
    with pytest.raises(TaskError, match="never closed"):
        expand_heredocs("FROM x\nRUN <<EOF\necho\n")
