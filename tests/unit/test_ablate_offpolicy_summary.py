"""The off-policy ablation's summary figures (scripts/ablate_offpolicy.py) on hand-made metric rows: each table
column computes what its label says, and the raw file reproduces the tables."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ablate_offpolicy.py"
spec = importlib.util.spec_from_file_location("ablate_offpolicy", SCRIPT)
ab = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ab)


def rows(rewards, grads, keeps, stale, ratio=2.0):
    return [{"step": i + 1, "reward/mean": r, "actor/grad_norm": g, "mispo/keep_frac": k, "mispo/ratio_max": ratio,
             "policy/staleness_mean": float(s), "mispo/rollout_kl_k1": 0.001 * s}
            for i, (r, g, k, s) in enumerate(zip(rewards, grads, keeps, stale))]


STALE = [0, 1, 2, 3, 0, 1]
RUNS = {
    "mispo": [rows([0.1] * 6, [0.1, 0.4, 0.1, 0.1, 0.1, 0.1], [0.8, 0.2, 0.1, 0.0, 0.8, 0.2], STALE, ratio=300.0),
              rows([0.3] * 6, [0.2, 0.2, 0.2, 0.2, 0.2, 0.2], [0.8, 0.4, 0.1, 0.05, 0.8, 0.4], STALE)],
    "mispo_adaptive": [rows([0.3] * 6, [0.3] * 6, [0.9] * 6, STALE), rows([0.3] * 6, [0.3] * 6, [0.9] * 6, STALE)],
    "pg": [rows([0.4] * 6, [0.5] * 6, [0.3] * 6, STALE), rows([0.4] * 6, [0.7, None, 0.5, 0.5, 0.5, 0.5], [0.3] * 6,
                                                               STALE)],
}


def by_name(table):
    return {r["objective"]: r for r in table}


def test_max_grad_norm_is_the_mean_over_seeds_of_per_seed_maxima():
    t = by_name(ab.summarize(RUNS))
    assert t["mispo"]["grad_norm_seedmax_mean"] == pytest.approx((0.4 + 0.2) / 2)
    assert (t["mispo"]["grad_norm_seedmax_lo"], t["mispo"]["grad_norm_seedmax_hi"]) == (0.2, 0.4)
    assert t["pg"]["grad_norm_seedmax_mean"] == pytest.approx((0.5 + 0.7) / 2)
    assert t["pg"]["grad_norm_mean"] == pytest.approx((0.5 + (0.7 + 0.5 * 4) / 5) / 2)  # a missing norm is skipped


def test_grad_norm_per_trained_fraction_undoes_the_token_mean_scale():
    t = by_name(ab.summarize(RUNS))
    seed0 = [0.1 / 0.8, 0.4 / 0.2, 0.1 / 0.1, 0.1 / 0.8, 0.1 / 0.2]  # keep 0 at step 4: no ratio, skipped
    seed1 = [0.2 / k for k in (0.8, 0.4, 0.1, 0.05, 0.8, 0.4)]
    assert t["mispo"]["grad_norm_per_trained"] == pytest.approx((sum(seed0) / 5 + sum(seed1) / 6) / 2)
    assert t["pg"]["trained_frac"] == 1.0 and t["pg"]["grad_norm_per_trained"] == t["pg"]["grad_norm_mean"]
    assert t["mispo_adaptive"]["trained_frac"] == pytest.approx(0.9)


def test_keep_by_staleness_reports_ranges_not_zero():
    stale = ab.by_staleness(RUNS)
    mean, lo, hi, n = stale[1]["keep"]["mispo"]
    assert (lo, hi, n) == (0.2, 0.4, 4) and mean == pytest.approx(0.3)
    assert stale[3]["keep"]["mispo"][1:3] == (0.0, 0.05)
    assert stale[0]["ratio_max"] == 300.0 and stale[2]["kl"] == pytest.approx(0.002)
    assert stale[1]["grad"]["mispo"] == pytest.approx((0.4 + 0.1 + 0.2 + 0.2) / 4)
    assert stale[1]["grad_per_trained"]["mispo"] == pytest.approx((0.4 / 0.2 + 0.1 / 0.2 + 0.2 / 0.4 + 0.2 / 0.4) / 4)


def test_gap_recovery():
    # last-5 reward: mispo 0.2, adaptive 0.3, pg 0.4 -> the adaptive band closes half of the gap to pg
    assert ab.gap_recovery(ab.summarize(RUNS)) == {"pg": pytest.approx(0.5)}


def test_raw_file_reproduces_tables_and_labels_say_what_is_computed(tmp_path):
    meta = {"engine_dtype": "bfloat16", "sync_interval": 4, "steps": 6, "seeds": [0, 1], "advantage": "grpo",
            "lr": 1e-4}
    ab.write_raw(RUNS, meta, tmp_path / "raw.jsonl")
    runs, meta2 = ab.read_raw(tmp_path / "raw.jsonl")
    assert meta2 == meta
    assert ab.summarize(runs) == ab.summarize(RUNS)
    ab.write_markdown(ab.summarize(runs), ab.by_staleness(runs), meta, tmp_path / "t.md")
    text = (tmp_path / "t.md").read_text()
    assert "per-seed max, mean over seeds (range)" in text and "grad norm / trained fraction" in text
    assert "pg 50%" in text
