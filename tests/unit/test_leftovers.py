"""rl/leftovers.py on plain processes (no Ray, no Docker): a dead driver's tagged processes are killed at the next
start of its run dir, a live driver refuses the start, this process and its ancestors are never touched."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from config.errors import ConfigError
from rl import leftovers


@pytest.fixture
def no_docker(monkeypatch):
    monkeypatch.setattr(leftovers, "_reap_containers", lambda: 0)


def _spawn(token: str | None, session: bool = True) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop(leftovers.TOKEN_ENV, None)
    if token:
        env[leftovers.TOKEN_ENV] = token
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env,
                            start_new_session=session)


def _write(run_dir, pid: int, token: str, host: str | None = None) -> None:
    rec = {"host": host or socket.gethostname(), "pid": pid, "pid_start": leftovers._start_time(pid), "token": token}
    (run_dir / leftovers.RECORD).write_text(json.dumps(rec))


def test_record_run_tracks_and_tags_the_children(tmp_path, monkeypatch):
    monkeypatch.delenv(leftovers.TOKEN_ENV, raising=False)
    older = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # not the run's: started before
    time.sleep(0.05)
    rec = leftovers.record_run(tmp_path, interval_s=0.05)
    try:
        assert os.environ[leftovers.TOKEN_ENV] == rec["token"]
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # inherits the token
        try:
            # until the child has exec'd, /proc/<pid>/environ still shows the parent's start-up environment (no
            # token): under a loaded machine that window lasted past the first read
            deadline = time.monotonic() + 10
            while [p for p, _ in leftovers.tagged_processes(rec["token"])] != [child.pid]:
                assert time.monotonic() < deadline, leftovers.tagged_processes(rec["token"])
                time.sleep(0.05)
            while str(child.pid) not in json.loads((tmp_path / "driver.json").read_text())["processes"]:
                assert time.monotonic() < deadline, "the watcher did not record the child"
                time.sleep(0.05)
            saved = json.loads((tmp_path / "driver.json").read_text())
            assert saved["pid"] == os.getpid() and saved["processes"][str(child.pid)][0] == \
                leftovers._start_time(child.pid)
            assert str(older.pid) not in saved["processes"]
        finally:
            child.kill()
            child.wait()
    finally:
        leftovers.stop_recording()
        older.kill()
        older.wait()


def test_recorded_processes_are_killed_even_without_the_token(tmp_path, no_docker):
    """Ray's processes overwrite their /proc environ when they set their title: the pid list is what counts."""
    driver = _spawn(None)
    _write(tmp_path, driver.pid, "tok-gone")
    driver.kill()
    driver.wait()
    untagged, reused = _spawn(None), _spawn(None)
    rec = json.loads((tmp_path / "driver.json").read_text())
    start = leftovers._start_time(untagged.pid)
    rec["processes"] = {str(untagged.pid): [start, "python"], str(reused.pid): [start - 1, "python"]}
    (tmp_path / "driver.json").write_text(json.dumps(rec))
    try:
        out = leftovers.reap_previous_run(tmp_path)
        assert [p for p, _ in out.killed] == [untagged.pid]
        assert untagged.wait(timeout=5) == -9
        assert reused.poll() is None, "a pid whose start time differs (reused) was killed"
    finally:
        reused.kill()
        reused.wait()


def test_a_dead_drivers_processes_are_killed(tmp_path, no_docker):
    driver = _spawn(None)
    _write(tmp_path, driver.pid, "tok-dead")
    driver.kill()
    driver.wait()
    leftover, other = _spawn("tok-dead"), _spawn("tok-other")
    try:
        out = leftovers.reap_previous_run(tmp_path)
        assert [p for p, _ in out.killed] == [leftover.pid] and not out.survivors
        assert leftover.wait(timeout=5) == -9
        assert other.poll() is None, "a process of another run was killed"
        assert "killed 1 leftover process(es) (python" in out.describe()
    finally:
        other.kill()
        other.wait()


def test_a_live_driver_refuses_the_start(tmp_path, no_docker):
    driver = _spawn(None)
    try:
        _write(tmp_path, driver.pid, "tok-live")
        with pytest.raises(ConfigError, match=f"trainer.run_dir: .* in use by a running driver \\(pid {driver.pid}"):
            leftovers.reap_previous_run(tmp_path)
    finally:
        driver.kill()
        driver.wait()


def test_this_process_and_other_hosts_are_spared(tmp_path, no_docker):
    _write(tmp_path, os.getpid(), "tok-self")  # an earlier in-process run of this same process: not a live rival
    assert leftovers.reap_previous_run(tmp_path).killed == []
    _write(tmp_path, 1, "tok-remote", host="elsewhere")
    assert "it ran on host elsewhere" in leftovers.reap_previous_run(tmp_path).describe()


def test_no_record_is_a_fresh_run_dir(tmp_path, no_docker):
    assert leftovers.reap_previous_run(tmp_path).describe() == "no earlier driver recorded"
