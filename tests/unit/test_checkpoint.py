"""Driver-side checkpoint logic (rl/checkpoint.py): atomic commits, a full disk, retention, which checkpoint a
resume picks, the config check, and the metrics files continuing after a kill."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from rl.checkpoint import (
    CheckpointError,
    CheckpointWriter,
    check_compatible,
    complete_checkpoints,
    config_differences,
    find_resume,
    remove_partial,
    truncate_jsonl,
)


def _fill(size: int):
    def fill(tmp: Path) -> None:
        (tmp / "actor").mkdir()
        (tmp / "actor" / "weights.bin").write_bytes(os.urandom(size))
    return fill


def test_commit_is_atomic_and_retention_keeps_the_newest(tmp_path):
    w = CheckpointWriter(tmp_path, keep_last=2)
    for step in (2, 4, 6):
        path = w.write(step, {"version": step, "config": {}}, _fill(100))
        assert path.name == f"step_{step}" and json.loads((path / "meta.json").read_text())["bytes"] == 100
    assert [c.step for c in complete_checkpoints(tmp_path)] == [4, 6]
    assert not list((tmp_path / "checkpoints").glob(".*"))


def test_a_failing_save_leaves_the_previous_checkpoint_and_no_debris(tmp_path):
    w = CheckpointWriter(tmp_path, keep_last=0)
    w.write(1, {"config": {}}, _fill(10))

    def crash(tmp: Path) -> None:
        (tmp / "half").write_bytes(b"x" * 10)
        raise RuntimeError("learner rank 1 died")
    with pytest.raises(CheckpointError, match="step_2 failed .*learner rank 1 died.*trainer.resume=auto"):
        w.write(2, {"config": {}}, crash)
    assert [c.step for c in complete_checkpoints(tmp_path)] == [1]
    assert not (tmp_path / "checkpoints" / ".step_2.tmp").exists()


@pytest.fixture
def small_disk(tmp_path):
    """A real 3 MiB file system (tmpfs), so the disk really fills up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_full_disk_mid_save_keeps_the_previous_checkpoint_and_says_how_much_was_needed(small_disk):
    w = CheckpointWriter(small_disk, keep_last=0)
    w.write(1, {"config": {}}, _fill(1 << 20))
    with pytest.raises(CheckpointError) as err:  # the estimate said it fits; the write finds out it does not
        w.write(2, {"config": {}}, _fill(4 << 20), need_bytes=1 << 20)
    msg = str(err.value)
    assert "disk full" in msg and "needs about" in msg and "GiB free" in msg and "step_1 is intact" in msg, msg
    assert [c.step for c in complete_checkpoints(small_disk)] == [1]
    assert not (small_disk / "checkpoints" / ".step_2.tmp").exists()
    assert (small_disk / "checkpoints" / "step_1" / "actor" / "weights.bin").stat().st_size == 1 << 20
    with pytest.raises(CheckpointError, match="checkpoint not started: it needs about 0.01 GiB"):
        w.write(3, {"config": {}}, _fill(10), need_bytes=10 << 20)  # the pre-save check refuses at once


def test_resume_picks_the_newest_complete_checkpoint(tmp_path):
    w = CheckpointWriter(tmp_path, keep_last=0)
    assert find_resume("auto", tmp_path) is None
    w.write(3, {"config": {}}, _fill(1))
    w.write(5, {"config": {}}, _fill(1))
    (tmp_path / "checkpoints" / "step_9").mkdir()  # no meta.json: never committed
    (tmp_path / "checkpoints" / ".step_7.tmp").mkdir()  # a save that crashed
    assert find_resume("auto", tmp_path).step == 5
    assert find_resume(str(tmp_path / "checkpoints" / "step_3"), tmp_path).step == 3
    with pytest.raises(CheckpointError, match="not a complete mispo checkpoint"):
        find_resume(str(tmp_path / "checkpoints" / "step_9"), tmp_path)
    with pytest.raises(CheckpointError, match="already holds checkpoints .*newest: step_5.*trainer.resume=auto"):
        find_resume("never", tmp_path)
    assert remove_partial(tmp_path) == [".step_7.tmp"]


def test_an_interrupted_swap_puts_the_old_checkpoint_back(tmp_path):
    w = CheckpointWriter(tmp_path, keep_last=0)
    w.write(4, {"config": {}}, _fill(1))
    root = tmp_path / "checkpoints"
    (root / "step_4").rename(root / ".step_4.old")  # killed between the two renames of a re-save
    remove_partial(tmp_path)
    assert [c.step for c in complete_checkpoints(tmp_path)] == [4]


def test_config_check_names_the_differing_keys_and_honours_the_allow_list(tmp_path):
    saved = {"model": {"path": "m"}, "actor": {"lr": 1e-4, "num_workers": 1}, "algo": {"objective": "mispo"},
             "trainer": {"total_steps": 6, "resume": "auto"}, "logging": {"level": "INFO"}}
    current = {"model": {"path": "m"}, "actor": {"lr": 5e-5, "num_workers": 2}, "algo": {"objective": "mispo"},
               "trainer": {"total_steps": 10, "resume": "auto"}, "logging": {"level": "DEBUG"}}
    assert config_differences(saved, current, []) == ["actor.lr: 0.0001 -> 5e-05", "actor.num_workers: 1 -> 2"]
    assert config_differences(saved, current, ["actor.lr"]) == ["actor.num_workers: 1 -> 2"]
    assert config_differences(saved, current, ["actor"]) == []
    w = CheckpointWriter(tmp_path, keep_last=0)
    w.write(2, {"config": saved}, _fill(1))
    with pytest.raises(CheckpointError, match=r"(?s)actor.lr: 0.0001 -> 5e-05.*"
                                              r"resume_allow_changed=\[actor.lr,actor.num_workers\]"):
        check_compatible(find_resume("auto", tmp_path), current, [])
    check_compatible(find_resume("auto", tmp_path), current, ["actor.lr", "actor.num_workers"])


def test_metrics_continue_after_the_checkpoint_step(tmp_path):
    f = tmp_path / "metrics.jsonl"
    f.write_text("".join(json.dumps({"step": s}) + "\n" for s in (1, 2, 3, 4)) + '{"step": 5, "rew')
    assert truncate_jsonl(f, 3) == 2
    assert [json.loads(x)["step"] for x in f.read_text().splitlines()] == [1, 2, 3]
    assert truncate_jsonl(tmp_path / "absent.jsonl", 3) == 0
