"""RL training entry point: `python -m rl.train --config mispo_math_code.yaml [dotted.key=value ...]`.

The loop below reads like the algorithm: generate -> score -> pi_old -> advantages -> learn -> sync -> log ->
checkpoint. Config parsing and validation happen before torch/ray are imported (`--dry-run` is instant).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from rl.config_load import ConfigError, load_config, to_yaml
from rl.config_schema import RLConfig, validate_rl_config
from rl.run_summary import format_summary

log = logging.getLogger("rl.train")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m rl.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="YAML path or a file name under configs/")
    p.add_argument("--dry-run", action="store_true", help="validate, print the plan, write nothing, exit")
    p.add_argument("overrides", nargs="*", help="dotted.key=value overrides, e.g. trainer.total_steps=5")
    return p.parse_args(argv)


def run_dir_of(cfg: RLConfig) -> Path:
    return Path(cfg.trainer.run_dir or f"runs/{cfg.trainer.run_name}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(RLConfig, args.config, args.overrides, validate_rl_config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=cfg.logging.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(to_yaml(cfg))
    print(format_summary(cfg))
    if args.dry_run:
        return 0
    run_dir = run_dir_of(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(to_yaml(cfg))
    (run_dir / "batch_arithmetic.txt").write_text(format_summary(cfg) + "\n")
    try:
        train(cfg, run_dir)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    return 0


def train(cfg: RLConfig, run_dir: Path) -> None:
    import json

    import ray
    import torch
    from tqdm import tqdm
    from transformers import AutoTokenizer

    from rewards.base import VerifyRequest
    from rl.algos.advantages import group_baseline
    from rl.batch import build_batch
    from rl.data import PromptSampler, load_prompts
    from rl.learner_group import LearnerGroup
    from rl.metrics import MetricsLogger
    from rl.roles import check_resources, start_reward_workers, start_rollout_workers
    from rl.run_summary import resource_plan
    from rl.step_stats import filter_telemetry, reward_stats
    from rl.tiny_model.build import resolve_model_path
    from rollout.types import RolloutRequest, SamplingParams

    torch.manual_seed(cfg.trainer.seed)
    model_path = resolve_model_path(cfg.model.path)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    by_domain, report = load_prompts(cfg.data, tokenizer)
    log.info("dataset: %s", report.summary())
    sampler = PromptSampler(by_domain, dict(cfg.data.domain_weights), cfg.trainer.seed)
    sampling = SamplingParams(n=cfg.rollout.samples_per_prompt, temperature=cfg.rollout.temperature,
                              top_p=cfg.rollout.top_p, max_new_tokens=cfg.rollout.max_new_tokens)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    ray.init(address=cfg.ray.address, num_cpus=cfg.ray.num_cpus, include_dashboard=False,
             log_to_driver=True, ignore_reinit_error=True)
    metrics = None
    try:
        check_resources(resource_plan(cfg))
        rollout_workers = start_rollout_workers(cfg.rollout, cfg.model, model_path)
        reward_workers = start_reward_workers(cfg.rewards)
        batch_size = cfg.rollout.prompts_per_step * cfg.rollout.samples_per_prompt
        learners = LearnerGroup(model_path, cfg.model, cfg.actor, cfg.algo, cfg.rollout.temperature, batch_size,
                                cfg.trainer.seed)
        metrics = MetricsLogger(run_dir, cfg.logging.wandb, cfg.trainer.run_name, json.loads(
            json.dumps(__import__("dataclasses").asdict(cfg), default=str)))
        samples_file = (run_dir / "samples.jsonl").open("a")
        version = 0
        bar = tqdm(range(1, cfg.trainer.total_steps + 1), desc="rl", unit="step", disable=not cfg.logging.progress_bar)
        for step in bar:
            t0 = time.perf_counter()
            # 1. generate: prompts -> trajectories (split over rollout workers)
            prompts = sampler.sample(cfg.rollout.prompts_per_step)
            requests = [RolloutRequest(group_id=i, domain=p.domain, prompt_text=p.prompt_text,
                                       prompt_ids=p.prompt_ids, reference=p.reference, metadata=p.metadata)
                        for i, p in enumerate(prompts)]
            n_w = len(rollout_workers)
            futures = [w.rollout.remote(requests[i::n_w], sampling) for i, w in enumerate(rollout_workers)]
            trajs = [t for part in ray.get(futures) for t in part]
            t_gen = time.perf_counter()

            # 2. score: verifiers in reward workers; failures (error/timeout) are masked, never scored 0
            items = [(t.domain, VerifyRequest(t.prompt_text, t.response_text, t.reference, t.metadata)) for t in trajs]
            n_r = len(reward_workers)
            parts = ray.get([w.score.remote(items[i::n_r]) for i, w in enumerate(reward_workers)])
            results = [None] * len(items)
            for i, part in enumerate(parts):
                results[i::n_r] = part
            t_rew = time.perf_counter()

            # 3. advantages from rewards (critic-free group baseline in this slice)
            valid = torch.tensor([1.0 if r.ok else 0.0 for r in results])
            rewards = torch.tensor([r.score if r.ok else 0.0 for r in results])
            group_ids = torch.tensor([t.group_id for t in trajs])
            adv = group_baseline(rewards, group_ids, valid, normalize_std=cfg.algo.advantage == "grpo")
            batch = build_batch(trajs, adv, valid, pad_id)

            # 4. pi_old on the learner (before the update), then MIS-PO filter telemetry
            old, old_stats = learners.compute_old_logprobs(batch)
            batch = batch.with_old_logprobs(old)
            t_old = time.perf_counter()

            # 5. learn: one epoch of mini-batch updates
            upd = learners.update(batch)
            t_upd = time.perf_counter()

            # 6. sync weights learner -> rollout engines through the object store; version += 1
            version += 1
            ref = learners.weights_ref()
            ray.get([w.update_weights.remote(ref, version) for w in rollout_workers])
            t_sync = time.perf_counter()

            # 7. log
            n_tokens = sum(t.num_response_tokens for t in trajs)
            step_s = t_sync - t0
            row = {**reward_stats(trajs, results), **filter_telemetry(batch, trajs, cfg.algo),
                   "loss/actor": upd["loss"], "actor/grad_norm": upd["grad_norm"], "actor/lr": upd["lr"],
                   "actor/entropy": old_stats["entropy"], "policy/version": float(version),
                   "time/rollout_s": t_gen - t0, "time/reward_s": t_rew - t_gen, "time/old_logprob_s": t_old - t_rew,
                   "time/update_s": t_upd - t_old, "time/sync_s": t_sync - t_upd, "time/step_s": step_s,
                   "throughput/tokens_per_s": n_tokens / step_s}
            metrics.log(step, row)
            for t, r in list(zip(trajs, results))[: cfg.trainer.log_samples]:
                samples_file.write(json.dumps({"step": step, "prompt": t.prompt_text, "response": t.response_text,
                                               "reward": r.score, "status": r.status}) + "\n")
            samples_file.flush()
            bar.set_postfix(reward=f"{row['reward/mean']:.3f}", keep=f"{row['mispo/keep_frac']:.3f}")

            # 8. checkpoint
            if cfg.trainer.save_every and step % cfg.trainer.save_every == 0 and step < cfg.trainer.total_steps:
                learners.save(str(run_dir / "checkpoints" / f"step_{step}"))
        final = learners.save(str(run_dir / "checkpoints" / "final"))
        log.info("final checkpoint: %s", final)
        samples_file.close()
    finally:
        if metrics is not None:
            metrics.close()
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
