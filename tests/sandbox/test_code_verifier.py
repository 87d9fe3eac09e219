"""The `code` verifier end to end: registry -> reward process pool -> warm sandbox pool, and the check CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "data" / "code_samples.jsonl"


def test_rewards_check_scores_code_samples(tmp_path, python_image):
    out = tmp_path / "scored.jsonl"
    res = subprocess.run([sys.executable, "-m", "rewards.check", "--verifier", "code", "--input", str(SAMPLES),
                          "--output", str(out), "--timeout", "30"], capture_output=True, text=True, timeout=600,
                         cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    for line in out.read_text().splitlines():
        row = json.loads(line)
        if "expect_status" in row:
            assert row["status"] == row["expect_status"], row
        else:
            assert row["status"] == "ok" and row["score"] == row["expect_score"], row
            assert row["details"]["all_passed"] == (row["expect_score"] == 1.0)


def test_code_verifier_through_process_pool(python_image):
    from rewards.base import VerifyRequest
    from rewards.process_pool import VerifierProcessPool

    pool = VerifierProcessPool({"code": ("code", {"pool_size": 1})}, processes=1, timeout_s=30)
    try:
        spec = {"fn": "double", "cases": [{"args": [3], "expected": 6}]}
        items = [("code", VerifyRequest("p", r, None, {"io_pairs": spec}))
                 for r in ("def double(x):\n    return 2 * x\n", "def double(x):\n    return x\n", "while True: pass")]
        scores = [r.score for r in pool.score(items)]
        assert scores == [1.0, 0.0, 0.0]
    finally:
        pool.close()


def test_hanging_program_is_a_prompt_wrong_answer(python_image):
    """A program that hangs (at its top level, or on every input) scores ok / 0 / "timeout" after about one case
    timeout: a wrong answer, never a masked sandbox timeout after wall_s (8 s) with a reload per case."""
    import time

    from rewards.base import VerifyRequest
    from rewards.process_pool import VerifierProcessPool

    options = {"pool_size": 1, "wall_s": 8.0, "case_timeout_s": 2.0}
    pool = VerifierProcessPool({"code": ("code", options)}, processes=1, timeout_s=30)
    io_spec = {"fn": "double", "cases": [{"args": [i], "expected": 2 * i} for i in range(5)]}
    stdio_spec = {"cases": [{"input": f"{i}\n", "output": str(2 * i)} for i in range(5)]}
    hang = "import time\ntime.sleep(3600)\ndef double(x):\n    return 2 * x\n"
    try:
        good = VerifyRequest("p", "def double(x):\n    return 2 * x\n", None, {"io_pairs": io_spec})
        assert pool.score([("code", good)])[0].score == 1.0  # warm: the container is up
        for tests in ({"io_pairs": io_spec}, {"stdio": stdio_spec}):
            start = time.monotonic()
            (res,) = pool.score([("code", VerifyRequest("p", hang, None, tests))])
            seconds = time.monotonic() - start
            assert (res.status, res.score, res.details["reason"]) == ("ok", 0.0, "timeout"), res
            assert seconds < 2.0 + 2.5, (tests, seconds)
    finally:
        pool.close()


def test_bad_options_are_clear():
    from rewards.registry import setup_verifier

    with pytest.raises(ValueError, match="case_timeout_s"):
        setup_verifier("code", {"case_timeout_s": 20, "wall_s": 5})
