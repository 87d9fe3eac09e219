"""The driver killed with SIGKILL mid-run, as its whole process group and then as the driver pid alone: after the
next start of the same run dir, nothing of the killed run is left (no process of its session, no sandbox
container of its verifier processes). Real Ray (a local cluster started by the driver), real Docker sandboxes
(the code verifier), the tiny model; rl/leftovers.py is what cleans up."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from proc_helpers import session_procs

pytestmark = [pytest.mark.ray, pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HOST = socket.gethostname()


def _args(run_dir: Path, steps: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rl.train", "--config", "mispo_math_code.yaml", f"trainer.total_steps={steps}",
            f"trainer.run_dir={run_dir}", "rollout.prompts_per_step=4", "rollout.samples_per_prompt=4",
            "actor.micro_batch_size=4", "actor.mini_batches=2", "critic.micro_batch_size=4",
            "critic.mini_batches=2", "logging.progress_bar=false", "logging.wandb.mode=disabled",
            "algo.advantage=grpo", *extra]  # no critic: one learner group is enough to leave processes behind


def _containers() -> dict[str, str]:
    """Sandbox containers on this engine: id -> owner label (host:pid)."""
    out = subprocess.run(["docker", "ps", "-a", "--filter", "label=mispo.sandbox", "--format",
                          '{{.ID}} {{.Label "mispo.owner"}}'], capture_output=True, text=True, check=True).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def _owned_by(pids) -> set[str]:
    owners = {f"{HOST}:{p}" for p in pids}
    return {cid for cid, owner in _containers().items() if owner in owners}


class Runs:
    """The test's driver processes, each in its own session; the finalizer kills what is left of them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.procs, self.owner_pids = tmp, [], set()

    def start(self, args: list[str], name: str) -> tuple[subprocess.Popen, Path]:
        log = self.tmp / f"{name}.log"
        with log.open("w") as f:
            proc = subprocess.Popen(args, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc, log

    def cleanup(self) -> None:
        for proc in self.procs:
            for pid in session_procs(proc.pid):
                self.owner_pids.add(pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if proc.poll() is None:
                proc.wait(timeout=30)
        stale = _owned_by(self.owner_pids)
        if stale:
            subprocess.run(["docker", "rm", "-f", *stale], capture_output=True)


@pytest.fixture
def runs(tmp_path):
    r = Runs(tmp_path)
    yield r
    r.cleanup()


def _wait(cond, what: str, proc: subprocess.Popen, log: Path, timeout: float = 240.0):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        assert proc.poll() is None, f"the run ended (rc {proc.returncode}) before {what}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def _mid_run(runs: Runs, proc: subprocess.Popen, log: Path) -> tuple[dict[int, str], set[str]]:
    """Wait until the run scores code samples in its sandboxes; its processes and their containers."""
    def state():
        procs = session_procs(proc.pid)
        boxes = _owned_by(procs)
        return (procs, boxes) if boxes and any("RolloutWorker" in c for c in procs.values()) else None

    procs, boxes = _wait(state, "sandbox containers", proc, log)
    runs.owner_pids.update(procs)
    return procs, boxes


def _reaped_line(proc: subprocess.Popen, log: Path) -> str:
    """The next start's report of what it removed (rl/leftovers.py logs it before ray.init)."""
    def line():
        return next((x for x in log.read_text().splitlines() if "leftovers of this run dir" in x), None)

    return _wait(line, "leftovers report", proc, log, timeout=120)


def _assert_gone(sid: int, boxes: set[str], after: str) -> None:
    left = session_procs(sid)
    assert not left, f"processes of the killed run (session {sid}) still alive after {after}: {left}"
    still = boxes & set(_containers())
    assert not still, f"sandbox containers of the killed run still exist after {after}: {still}"


def test_sigkilled_driver_leaves_nothing_after_the_next_start(runs, tmp_path):
    run_dir = tmp_path / "run"
    t0 = time.monotonic()

    # 1. the whole process group killed mid-run
    first, log1 = runs.start(_args(run_dir, 50), "first")
    procs1, boxes1 = _mid_run(runs, first, log1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    time.sleep(2)
    print(f"\nprocess group killed; 2 s later: processes {sorted(session_procs(first.pid).values())}, "
          f"containers {len(boxes1 & set(_containers()))}/{len(boxes1)}")

    # 2. the next start removes what is left, before it starts Ray; then only its driver pid is killed mid-run
    second, log2 = runs.start(_args(run_dir, 50), "second")
    report = _reaped_line(second, log2)
    print(report.split("rl.leftovers: ")[-1])
    assert f"earlier driver pid {first.pid}" in report
    _assert_gone(first.pid, boxes1, "the next start")
    procs2, boxes2 = _mid_run(runs, second, log2)
    os.kill(second.pid, signal.SIGKILL)
    second.wait(timeout=30)
    time.sleep(2)
    left2 = session_procs(second.pid)
    print(f"driver pid killed; 2 s later: processes {sorted(left2.values())}, "
          f"containers {len(boxes2 & set(_containers()))}/{len(boxes2)}")

    # 3. the next start (math only: it starts no sandbox pool of its own, whose reaper would hide ours)
    third, log3 = runs.start(_args(run_dir, 1, "data.domain_weights.code=0", "data.train_files=[data/math_train.jsonl]"),
                             "third")
    report = _reaped_line(third, log3)
    print(report.split("rl.leftovers: ")[-1])
    assert f"earlier driver pid {second.pid}" in report
    _assert_gone(second.pid, boxes2, "the next start")
    assert third.wait(timeout=240) == 0, log3.read_text()[-3000:]
    deadline = time.monotonic() + 15  # a clean exit (ray.shutdown) leaves nothing either
    while (left3 := session_procs(third.pid)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left3, f"processes left after a clean exit: {left3}"
    print(f"three starts in {time.monotonic() - t0:.0f} s")
