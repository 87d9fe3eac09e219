"""The learner bench (scripts/bench/learner.py) runs on CPU with the tiny model and reports both paths, so the
GPU measurement cannot rot between device sessions."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_learner_bench_reports_padded_and_packed():
    out = subprocess.run([sys.executable, "scripts/bench/learner.py", "--max-len", "96", "--seqs", "4", "--prompt",
                          "16", "--warmup", "1", "--reps", "1", "--port", "29533"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(result["variants"]) == {"padded", "packed"}
    for v in result["variants"].values():
        assert v["tokens_per_s"] > 0 and v["mfu_vs_matmul"] > 0
    assert result["real_tokens"] < result["padded_tokens"]
