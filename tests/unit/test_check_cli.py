"""`python -m rewards.check`: every input line comes back scored; bad rows are errors, not crashes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_check_cli_scores_file(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([
        json.dumps({"id": 1, "response": "so \\boxed{5}", "reference": "5"}),
        json.dumps({"id": 2, "response": "so \\boxed{6}", "reference": "5"}),
        json.dumps({"id": 3, "reference": "5"}),  # no response
        "{not json",
        json.dumps({"id": 5, "response": "\\boxed{2^{2^{2^{2^{2}}}}}", "reference": "5"}),
    ]) + "\n")
    out = tmp_path / "out.jsonl"
    res = subprocess.run([sys.executable, "-m", "rewards.check", "--verifier", "math", "--input", str(src),
                          "--output", str(out), "--workers", "1", "--timeout", "5"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["status"], r["score"]) for r in rows] == [("ok", 1.0), ("ok", 0.0), ("error", 0.0), ("error", 0.0),
                                                       ("ok", 0.0)]
    assert rows[0]["id"] == 1 and rows[0]["details"]["reason"] == "match"
    assert rows[4]["details"]["reason"] == "power_tower"
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["samples"] == 5 and summary["status"] == {"ok": 3, "error": 2}
    assert summary["mean_score"] == 1 / 3 and summary["samples_per_s"] > 0


def test_check_cli_bad_arguments(tmp_path):
    missing = subprocess.run([sys.executable, "-m", "rewards.check", "--verifier", "math", "--input",
                              str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o.jsonl")],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    (tmp_path / "in.jsonl").write_text("{}\n")
    unknown = subprocess.run([sys.executable, "-m", "rewards.check", "--verifier", "nope", "--input",
                              str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "o.jsonl")],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "known verifiers" in unknown.stderr
