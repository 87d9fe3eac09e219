"""A learner killed mid-run: the run stops cleanly (non-zero exit, one line saying how to resume, Ray shut down,
sandbox containers removed) and `trainer.resume=auto` finishes it from the last checkpoint."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _args(run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rl.train", "--config", "mispo_math_code.yaml", "trainer.total_steps=4",
            "trainer.save_every=1", f"trainer.run_dir={run_dir}", "rollout.prompts_per_step=4",
            "rollout.samples_per_prompt=4", "actor.micro_batch_size=4", "actor.mini_batches=2",
            "critic.micro_batch_size=4", "critic.mini_batches=2", "logging.progress_bar=false",
            "logging.wandb.mode=disabled", "algo.advantage=grpo", *extra]  # no critic: a learner fault is the subject


def _pids(pattern: str, session: int) -> list[int]:
    """Processes matching `pattern` in the run's session (the driver's: its Ray processes inherit it), not another
    test's."""
    out = subprocess.run(["pgrep", "-s", str(session), "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _sandboxes_of(pid: int) -> list[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", "label=mispo.sandbox",
                          "--filter", f"label=mispo.owner={os.uname().nodename}:{pid}"],
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_killed_learner_stops_the_run_cleanly_and_resume_finishes_it(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(_args(run_dir), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 400
    while not (run_dir / "checkpoints" / "step_2" / "meta.json").is_file():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    learners = _pids("ray::Learner", proc.pid)
    assert learners, "no learner process found"
    killed_at = time.monotonic()
    for pid in learners:
        os.kill(pid, signal.SIGKILL)
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    stopped_s = time.monotonic() - killed_at
    assert proc.returncode == 1, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "trainer.resume=auto" in lines[0] and "checkpoints/step_" in lines[0], err[-3000:]
    print(f"learner killed -> run stopped in {stopped_s:.1f} s: {lines[0][:200]}")
    assert not _sandboxes_of(proc.pid), "sandbox containers of the stopped run are left behind"

    done = subprocess.run(_args(run_dir, "trainer.resume=auto"), cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert (run_dir / "checkpoints" / "final" / "config.json").is_file()

