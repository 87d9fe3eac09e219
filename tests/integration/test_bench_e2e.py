"""The end-to-end bench against TRL (scripts/bench/e2e_vs_trl.py) runs 2 small steps on CPU with the tiny model, so
neither side of the comparison can rot between measurements; the other settings' overrides are checked by a dry
run. TRL comes from the `bench` extra, which `dev` (and so `make test`) installs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--steps", "2", "--prompts", "4", "--group", "4", "--max-new-tokens", "16", "--mini-batches", "2",
         "--micro-batch", "8"]


def test_e2e_bench_reports_both_sides():
    out = subprocess.run([sys.executable, "scripts/bench/e2e_vs_trl.py", *SMALL, "--settings", "grpo"], cwd=ROOT,
                         capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    ours, trl = result["ours"]["grpo"], result["trl"]
    for side in (ours, trl):
        assert side["steps"] == 2 and side["measured_steps"] == 1
        assert side["s_per_step"] > 0 and side["generated_tokens_per_s"] > 0 and side["trained_tokens_per_s"] > 0
        assert side["trained_tokens_per_s"] > side["generated_tokens_per_s"]  # prompt tokens are trained too
    assert ours["features"]["critic"] is False and ours["features"]["kl"] is False
    assert trl["features"]["trl"] == "1.16.0"
    assert result["ratios"]["grpo"]["speedup_s_per_step"] > 0
    assert "ours/grpo vs TRL" in out.stdout


def test_e2e_bench_settings_validate(tmp_path):
    """Every setting's overrides are accepted by rl.train (a dry run: config only, instant)."""
    sys.path.insert(0, str(ROOT))
    from scripts.bench.e2e_vs_trl import SETTINGS, parse_args, setting_overrides, shared_overrides

    args = parse_args(SMALL)
    for setting in SETTINGS:
        cmd = [sys.executable, "-m", "rl.train", "--config", "mispo_math_code.yaml", "--dry-run",
               "trainer.total_steps=2", f"trainer.run_dir={tmp_path / setting}", *shared_overrides(args), *setting_overrides(args, setting)]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"{setting}: {out.stderr[-2000:]}"
