"""Async training with and without partial rollouts, same config, same run: how long the driver waits for the
weight sync (time/sync_s), the step time, the share of trajectories that span two policy versions and the
per-token staleness.

    python scripts/bench/partial_rollouts.py --config mispo_terminal.yaml --steps 4 [KEY=VALUE ...]

Without partial rollouts the sync queues behind the whole in-flight rollout; with them it lands between two
segments (single-turn) or turns (agent episodes), so the tail of the rollout uses the newer weights. Partial
rollouts pay for it with re-prefilling the prefix at each segment (HF engine; vLLM's prefix cache hides most).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def run(config: str, steps: int, partial: bool, run_dir: Path, overrides: list[str]) -> dict:
    cmd = [sys.executable, "-m", "rl.train", "--config", config, f"trainer.total_steps={steps}",
           f"trainer.run_dir={run_dir}", "rollout.mode=async", f"rollout.partial_rollouts={str(partial).lower()}",
           "logging.wandb.mode=disabled", "logging.progress_bar=false", *overrides]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"rl.train failed (partial={partial}):\n{proc.stderr[-3000:]}")
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()][1:]
    if not rows:
        raise SystemExit("--steps must be >= 2: step 1 has no rollout overlapping an update")

    def mean(key: str) -> float:
        return sum(r.get(key, 0.0) for r in rows) / len(rows)

    return {"partial_rollouts": partial, "steps_measured": len(rows), "sync_s": round(mean("time/sync_s"), 3),
            "step_s": round(mean("time/step_s"), 3), "rollout_wait_s": round(mean("time/rollout_and_reward_s"), 3),
            "partial_frac": round(mean("rollout/partial_frac"), 3),
            "staleness_token_mean": round(mean("policy/staleness_token_mean"), 3),
            "keep_frac": round(mean("mispo/keep_frac"), 3), "reward": round(mean("reward/mean"), 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="mispo_math_code.yaml")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--segment-tokens", type=int, default=16)
    p.add_argument("overrides", nargs="*", help="extra KEY=VALUE config overrides for both runs")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for partial in (False, True):
            extra = args.overrides + ([f"rollout.segment_tokens={args.segment_tokens}"] if partial else [])
            rows.append(run(args.config, args.steps, partial, Path(tmp) / f"partial_{partial}", extra))
            print(json.dumps(rows[-1]), flush=True)
    base, part = rows
    print(json.dumps({"sync_wait_ratio_partial_vs_full": round(part["sync_s"] / max(base["sync_s"], 1e-9), 3),
                      "step_time_ratio_partial_vs_full": round(part["step_s"] / max(base["step_s"], 1e-9), 3)}))


if __name__ == "__main__":
    main()
