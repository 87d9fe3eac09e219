"""Evaluate any HF checkpoint (ours or a user's) on the config's held-out files, through the same engines and
verifiers as training: `python -m rl.evaluate --config mispo_math_code.yaml --checkpoint PATH [key=value ...]`.
Prints a table (greedy pass@1, sampled pass@k, response length, truncation, verifier errors per domain) and, with
`--out FILE`, writes the metrics as JSON."""
from __future__ import annotations

import argparse
import json
import sys

from config.errors import ConfigError
from config.load import load_config
from config.rl import RLConfig, validate_rl_config


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rl.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="YAML path or a file name under configs/ (its eval: section)")
    p.add_argument("--checkpoint", required=True, help="HF model directory (e.g. runs/NAME/checkpoints/final)")
    p.add_argument("--out", default=None, help="write the metrics as JSON here")
    p.add_argument("overrides", nargs="*", help="dotted.key=value overrides, e.g. eval.files.math=data/math_test.jsonl")
    args = p.parse_args(argv)
    try:
        cfg = load_config(RLConfig, args.config, [*args.overrides, "trainer.total_steps=1"], validate_rl_config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    if not cfg.eval.files:
        print("config error: eval.files is empty; name held-out files, e.g. eval.files.math=data/math_test.jsonl",
              file=sys.stderr)
        return 2
    metrics = evaluate(cfg, args.checkpoint)
    from rl.evaluation import format_table

    print(format_table(metrics))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(metrics, f, indent=1)
    return 0


def evaluate(cfg: RLConfig, checkpoint: str) -> dict[str, float]:
    """Start rollout and reward workers on `checkpoint`, run the evaluation once, shut down."""
    import ray
    from transformers import AutoTokenizer

    from rl.evaluation import Evaluator, load_eval_sets
    from rl.ray_session import start_ray, stop_ray
    from rl.roles import start_reward_workers, start_rollout_workers

    sets = load_eval_sets(cfg.eval, cfg.data, AutoTokenizer.from_pretrained(checkpoint))
    own_ray = start_ray(cfg.ray)
    try:
        rollout_workers = start_rollout_workers(cfg.rollout, checkpoint, cfg.model.dtype)
        reward_workers = start_reward_workers(cfg.rewards, set(sets))
        evaluator = Evaluator(sets, cfg.eval, cfg.rollout.max_new_tokens, cfg.rollout.stream_chunk_prompts)
        metrics = evaluator.collect(evaluator.start(rollout_workers, 0), reward_workers)
        ray.get([w.close.remote() for w in [*reward_workers, *rollout_workers]], timeout=60)
        return metrics
    finally:
        stop_ray(own_ray)


if __name__ == "__main__":
    sys.exit(main())
