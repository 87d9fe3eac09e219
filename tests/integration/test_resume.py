"""Exact resume: a 4-step run, and a run killed (SIGKILL of its whole process group) right after its step-2
checkpoint then resumed for 2 more, give the same per-step metrics and the same final weights. Real Ray, real
DeepSpeed (actor + critic, ZeRO-1), the HF engine, math and code verifiers (Docker), fp32 on CPU."""
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
COMPARED = ["reward/mean", "reward/math/mean", "loss/actor", "actor/grad_norm", "actor/entropy",
            "mispo/token_keep_frac", "mispo/traj_keep_frac", "mispo/keep_frac", "critic/value_loss",
            "critic/grad_norm", "algo/advantage_mean", "policy/version"]


def _args(run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rl.train", "--config", "mispo_math_code.yaml", "trainer.total_steps=4",
            "trainer.save_every=2", "trainer.keep_last=2", f"trainer.run_dir={run_dir}",
            "rollout.prompts_per_step=4", "rollout.samples_per_prompt=4", "rollout.stream_chunk_prompts=2",
            "actor.micro_batch_size=4", "actor.mini_batches=2", "critic.micro_batch_size=4",
            "critic.mini_batches=2", "logging.progress_bar=false", "logging.wandb.mode=offline", *extra]


def _run(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _kill_after_checkpoint(args: list[str], ckpt: Path, timeout: float = 600) -> None:
    log = ckpt.parents[2] / "killed_run.log"
    with log.open("w") as f:
        proc = subprocess.Popen(args, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not (ckpt / "meta.json").is_file():
        assert proc.poll() is None, f"the run ended (rc {proc.returncode}) before writing {ckpt}: " + \
            log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no {ckpt} within {timeout} s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_killed_and_resumed_run_equals_the_uninterrupted_run(tmp_path):
    import torch
    from safetensors.torch import load_file

    full, cut = tmp_path / "full", tmp_path / "cut"
    _run(_args(full))
    _kill_after_checkpoint(_args(cut), cut / "checkpoints" / "step_2")
    assert not (cut / "checkpoints" / "final").exists()
    out = _run(_args(cut, "trainer.resume=auto"))
    assert "resuming from" in out.stdout and "(step 2 of 4)" in out.stdout

    a, b = _rows(full), _rows(cut)
    assert [r["step"] for r in a] == [1, 2, 3, 4]
    assert [r["step"] for r in b] == [1, 2, 3, 4], "metrics.jsonl must continue without gaps or repeats"
    assert b[2]["checkpoint/resumed_from_step"] == 2.0
    worst = 0.0
    for ra, rb in zip(a, b):
        for key in COMPARED:
            assert (ra[key] is None) == (rb[key] is None), (ra["step"], key)
            if ra[key] is not None:
                worst = max(worst, abs(ra[key] - rb[key]))
                assert ra[key] == pytest.approx(rb[key], abs=1e-6), (ra["step"], key, ra[key], rb[key])
    wa = load_file(full / "checkpoints" / "final" / "model.safetensors")
    wb = load_file(cut / "checkpoints" / "final" / "model.safetensors")
    weight_diff = max((wa[k] - wb[k]).abs().max().item() for k in wa)
    print(f"max abs metric difference {worst:.3g}, max abs weight difference {weight_diff:.3g}")
    assert weight_diff <= 1e-6
    runs = sorted((cut / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and len({r.name.rsplit("-", 1)[1] for r in runs}) == 1, "wandb must resume the same run id"
    # retention: keep_last=2 keeps step_2 and step_4 (the last step is always checkpointed); both are complete
    steps = sorted(p.name for p in (cut / "checkpoints").iterdir())
    assert steps == ["final", "step_2", "step_4"], steps
    meta = json.loads((cut / "checkpoints" / "step_4" / "meta.json").read_text())
    assert meta["step"] == 4 and meta["version"] == 4 and meta["bytes"] > 0
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(cut / "checkpoints" / "step_4" / "hf")
    assert torch.equal(hf.state_dict()["model.embed_tokens.weight"], wb["model.embed_tokens.weight"])
    # a finished run resumed again has nothing to do; a changed config is refused with the differing keys
    again = _run(_args(cut, "trainer.resume=auto"))
    assert "nothing to do" in again.stdout
    changed = subprocess.run(_args(cut, "trainer.total_steps=5", "actor.lr=0.5"), cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
    assert changed.returncode == 2 and "actor.lr: 0.0001 -> 0.5" in changed.stderr, changed.stderr[-2000:]
    assert "trainer.resume_allow_changed=[actor.lr]" in changed.stderr


def test_async_resume_draws_the_same_prompts_and_regenerates_the_in_flight_batch(tmp_path):
    """Async mode: the batch in flight at the checkpoint (generated by the previous policy) is not saved; the
    resumed run draws the same prompts with the same seeds and generates them with the checkpoint's weights.
    Identical: every step before the checkpoint, the prompts of every later step, the policy versions and the step
    sequence. Not identical: the trajectories (and so rewards, losses) from the first resumed step on, whose
    staleness is 0 instead of 1 for that one batch (counted as checkpoint/regenerated_samples)."""
    extra = ("rollout.mode=async", "algo.advantage=grpo", "trainer.total_steps=4", "trainer.save_every=2")
    full, cut = tmp_path / "full", tmp_path / "cut"
    _run(_args(full, *extra))
    _kill_after_checkpoint(_args(cut, *extra), cut / "checkpoints" / "step_2")
    _run(_args(cut, *extra, "trainer.resume=auto"))
    a, b = _rows(full), _rows(cut)
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    for ra, rb in zip(a[:2], b[:2]):
        for key in ("reward/mean", "loss/actor", "actor/grad_norm", "mispo/keep_frac"):
            assert ra[key] == pytest.approx(rb[key], abs=1e-6), (ra["step"], key)
    assert [r["policy/version"] for r in a] == [r["policy/version"] for r in b]
    assert a[2]["policy/staleness_mean"] == 1.0 and b[2]["policy/staleness_mean"] == 0.0
    assert b[2]["checkpoint/regenerated_samples"] == 16.0

    def prompts(run: Path) -> list[tuple[int, str]]:
        rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
        return [(r["step"], r["prompt"]) for r in rows]
    assert prompts(full) == prompts(cut)
