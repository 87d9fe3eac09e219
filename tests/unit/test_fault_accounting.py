"""The fault bookkeeping of rl/worker_faults.py: the share of a step's samples that failed, the stop past
trainer.max_fault_frac and what its message says, the faults/* metrics, and a dead reward worker's result."""
from __future__ import annotations

import pytest

from rl.worker_faults import FaultCounts, TooManyFaults, check_fault_frac, fault_stats, reward_worker_died


def test_failed_frac_counts_lost_and_failed_samples_over_all_of_them():
    counts = FaultCounts(samples_regenerated=8, samples_lost=4, samples_errored=28, samples=60)
    assert counts.failed_frac == 32 / 64
    assert FaultCounts().failed_frac == 0.0


def test_more_than_max_fault_frac_stops_the_step_with_the_fix():
    counts = FaultCounts(samples_lost=4, samples_errored=28, samples=60)
    check_fault_frac(counts, 0.5)  # exactly at the threshold: trains
    with pytest.raises(TooManyFaults) as err:
        check_fault_frac(counts, 0.4)
    text = str(err.value)
    for part in ("32 of this step's 64 samples (50%)", "lost (4", "failed (28", "trainer.max_fault_frac=0.4",
                 "1.0 never stops", "trainer.resume=auto"):
        assert part in text, (part, text)
    check_fault_frac(FaultCounts(samples_lost=64), 1.0)  # 1.0 disables the check


def test_fault_stats_are_the_documented_keys():
    stats = fault_stats(FaultCounts(samples_regenerated=16, samples=64), 1, 0, 2.5)
    assert stats == {"faults/rollout_worker_restarts": 1.0, "faults/reward_worker_restarts": 0.0,
                     "faults/restart_s": 2.5, "faults/samples_regenerated": 16.0, "faults/samples_lost": 0.0,
                     "faults/samples_errored": 0.0, "faults/failed_frac": 0.0}


def test_a_dead_reward_worker_masks_its_samples():
    res = reward_worker_died(1, RuntimeError("The actor died unexpectedly before finishing this task.\nmore"))
    assert not res.ok and res.status == "error" and res.score == 0.0
    assert res.details["reason"].startswith("reward worker 1 died while scoring")
    assert "more" not in res.details["reason"] and res.details["fault"] == "reward_worker_died"
