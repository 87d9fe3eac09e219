"""rl.report on metrics.jsonl files written here: two runs overlaid, a key one run lacks, null/NaN gaps, eval rows
merged into their step, a run dir without metrics.jsonl."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rl.report import ReportError, load_rows, main, write_report

PHASES = ["time/rollout_and_reward_s", "time/batch_s", "time/old_logprob_s", "time/update_s", "time/sync_s"]


def _train_row(step: int, critic: bool) -> dict:
    row = {"step": step, "reward/mean": 0.1 * step, "reward/math/mean": 0.1 * step, "reward/code/mean": 0.9,
           "reward/error_frac": 0.0, "reward/timeout_frac": 0.05, "faults/samples_errored": 1.0,
           "mispo/token_keep_frac": 0.99, "mispo/traj_keep_frac": 0.8, "mispo/keep_frac": 0.79,
           "actor/kl_ref": 0.001 * step, "actor/entropy": 0.5, "actor/grad_norm": 0.3,
           "response/length_mean": 20.0, "response/length_max": 32.0, "response/truncated_frac": 0.0,
           "policy/staleness_mean": 0.0, "time/step_s": 2.0, **{k: 0.3 for k in PHASES}}
    if critic:
        row["critic/grad_norm"] = 1.5
    return row


def _write(path: Path, rows: list[dict]) -> Path:
    path.mkdir(parents=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    rows_a = [_train_row(s, critic=True) for s in range(1, 7)]
    rows_a[2]["actor/entropy"] = None  # how MetricsLogger writes NaN
    rows_a[3]["actor/entropy"] = float("nan")  # json.dumps writes NaN, json.loads reads it back
    rows_a[5]["reward/mean"] = None  # last step null: `last` falls back to step 5
    evals = [{"step": s, "eval/math/pass@1": 0.2 + 0.1 * s, "eval/math/pass@k": 0.5,
              "eval/math/mean_response_len": 18.0, "eval/math/truncated_frac": 0.0, "time/eval_s": 1.0}
             for s in (0, 3, 6)]
    a = _write(tmp_path / "run_a", rows_a + evals)  # eval rows of their own, steps 3 and 6 shared with training
    b = _write(tmp_path / "run_b", [_train_row(s, critic=False) for s in range(1, 5)])
    return a, b


def test_rows_of_one_step_are_merged(two_runs):
    a, _ = two_runs
    rows = load_rows(a)
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4, 5, 6]
    step3 = rows[3]
    assert step3["eval/math/pass@1"] == pytest.approx(0.5) and step3["reward/mean"] == pytest.approx(0.3)
    assert math.isnan(step3["actor/entropy"])
    assert set(rows[0]) == {"step", "eval/math/pass@1", "eval/math/pass@k", "eval/math/mean_response_len",
                            "eval/math/truncated_frac", "time/eval_s"}


def test_null_does_not_hide_a_value_of_the_same_step(tmp_path):
    run = _write(tmp_path / "r", [{"step": 1, "x/y": 2.0}, {"step": 1, "x/y": None, "eval/d/pass@1": 0.5}])
    assert load_rows(run) == [{"step": 1, "x/y": 2.0, "eval/d/pass@1": 0.5}]


def test_report_files_panels_and_table(two_runs, tmp_path):
    a, b = two_runs
    out = tmp_path / "out"
    figures = write_report([a, b], out, last_n=3)
    expected = {"reward.png", "eval.png", "mispo_keep.png", "kl_entropy.png", "grad_norm.png", "response_length.png",
                "staleness.png", "verifier_errors.png", "time_per_phase.png"}
    assert set(figures) == expected
    for name in expected:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    assert figures["reward.png"] == ["reward/mean", "reward/code/mean", "reward/math/mean"]
    assert figures["eval.png"] == ["eval/math/pass@1", "eval/math/pass@k", "eval/math/mean_response_len",
                                   "eval/math/truncated_frac"]
    assert figures["grad_norm.png"] == ["actor/grad_norm", "critic/grad_norm"]
    assert figures["staleness.png"] == ["policy/staleness_mean"]  # staleness_token_mean: in no run, no panel
    assert figures["verifier_errors.png"] == ["reward/error_frac", "reward/timeout_frac", "faults/samples_errored"]
    assert figures["time_per_phase.png"] == ["run_a", "run_b"]

    md = (out / "report.md").read_text()
    for name in expected:
        assert f"]({name})" in md
    assert "| metric | run_a last | run_a mean | run_b last | run_b mean |" in md
    assert "| `reward/mean` | 0.5 (step 5) | 0.4 | 0.4 | 0.3 |" in md  # run_a's step 6 is null
    assert "| `eval/math/pass@1` | 0.8 | 0.5 | - | - |" in md
    assert "| `critic/grad_norm` | 1.5 | 1.5 | - | - |" in md
    assert "- `critic/grad_norm`: not in `run_b`" in md
    assert "- `policy/staleness_token_mean`: in no run" in md
    assert not (a / "report").exists()


def test_absent_plots_are_not_written_and_named(tmp_path):
    run = _write(tmp_path / "only_reward", [{"step": s, "reward/mean": 0.5, "reward/math/mean": 0.5} for s in (1, 2)])
    stale = run / "report"
    stale.mkdir()
    (stale / "eval.png").write_bytes(b"old")  # an earlier report's plot that has no data now
    assert main([str(run)]) == 0
    assert sorted(p.name for p in stale.iterdir()) == ["report.md", "reward.png"]
    md = (stale / "report.md").read_text()
    assert "- `eval/<domain>/*` (held-out evaluation): in no run" in md
    assert "- `actor/kl_ref`: in no run" in md and "- `time/update_s`: in no run" in md
    assert md.count("Not drawn: no run logged any of its keys") == 8


def test_missing_metrics_file_names_the_path(tmp_path, capsys):
    empty = tmp_path / "not_a_run"
    empty.mkdir()
    with pytest.raises(ReportError, match=str(empty / "metrics.jsonl")):
        write_report([empty])
    assert main([str(empty)]) == 2
    assert f"error: {empty / 'metrics.jsonl'} not found" in capsys.readouterr().err


def test_config_resolves_the_train_run_dir(tmp_path):
    run = _write(tmp_path / "cfg_run", [{"step": 1, "reward/mean": 0.5}])
    assert main(["--config", "mispo_math_code.yaml", f"trainer.run_dir={run}"]) == 0
    assert (run / "report" / "report.md").is_file()
