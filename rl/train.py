"""RL training entry point: `python -m rl.train --config mispo_math_code.yaml [dotted.key=value ...]`.

The loop below reads like the algorithm: generate -> score -> pi_old -> advantages -> learn -> sync -> log ->
checkpoint. Config parsing and validation happen before torch/ray are imported (`--dry-run` is instant).
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from config.errors import ConfigError
from config.load import load_cli_config, parse_cli, to_yaml
from config.rl import RLConfig, validate_rl_config
from rl.checkpoint import Checkpoint, CheckpointError, check_compatible, complete_checkpoints, find_resume
from rl.run_summary import format_summary

log = logging.getLogger("rl.train")


def run_dir_of(cfg: RLConfig) -> Path:
    return Path(cfg.trainer.run_dir or f"runs/{cfg.trainer.run_name}")


def main(argv: list[str] | None = None) -> int:
    args = parse_cli("python -m rl.train", __doc__, "trainer.total_steps=5", argv)
    cfg = load_cli_config(RLConfig, args, validate_rl_config, lambda c: c.logging.level)
    if cfg is None:
        return 2
    print(format_summary(cfg))
    run_dir = run_dir_of(cfg)
    try:
        ckpt = find_resume(cfg.trainer.resume, run_dir)
        if ckpt is not None:
            check_compatible(ckpt, config_dict(cfg), list(cfg.trainer.resume_allow_changed))
    except CheckpointError as exc:
        print(f"resume error: {exc}", file=sys.stderr)
        return 2
    if ckpt is not None:
        print(f"resuming from {ckpt.path} (step {ckpt.step} of {cfg.trainer.total_steps})")
        if ckpt.step >= cfg.trainer.total_steps:
            print(f"nothing to do: the run already reached step {ckpt.step}; raise trainer.total_steps to continue it")
            return 0
    if args.dry_run:
        return 0
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(to_yaml(cfg))
    (run_dir / "batch_arithmetic.txt").write_text(format_summary(cfg) + "\n")
    from rewards.registry import PreflightError, preflight

    try:
        preflight(cfg.rewards.verifier_specs({d for d, w in cfg.data.domain_weights.items() if w > 0}))
        train(cfg, run_dir, ckpt)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except PreflightError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (RunStopped, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


class RunStopped(RuntimeError):
    """A part the run cannot continue without failed (a learner died, too many samples lost); the message says
    from which checkpoint `trainer.resume=auto` will continue."""


def config_dict(cfg: RLConfig) -> dict:
    """The resolved config as plain JSON values (what wandb and the checkpoints record)."""
    import dataclasses
    import json

    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def _resume_hint(run_dir: Path) -> str:
    found = complete_checkpoints(run_dir)
    where = f"from {found[-1].path} (step {found[-1].step})" if found else "from the start (no checkpoint yet)"
    return (f"Continue with the same command plus trainer.resume=auto: it resumes {where}; set trainer.save_every "
            "to checkpoint more often")


def _prompt_sampler(cfg: RLConfig, model_path: str):
    """Validated prompts (chat template applied) and the per-domain sampler; also the tokenizer's pad id."""
    from transformers import AutoTokenizer

    from rl.data import PromptSampler, load_prompts

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    by_domain, report = load_prompts(cfg.data, tokenizer)
    log.info("dataset: %s", report.summary())
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return PromptSampler(by_domain, dict(cfg.data.domain_weights), cfg.trainer.seed), pad_id


def _write_samples(f, step: int, scored, n: int) -> None:
    """A few decoded samples of the trained batch per step to samples.jsonl (what the policy writes, what it was
    scored, and whether it was masked out of the loss: verifier failure, overlong mask, dynamic-sampling filler)."""
    import json

    for t, r, v in list(zip(scored.trajs, scored.results, scored.valid.tolist()))[:n]:
        f.write(json.dumps({"step": step, "group": t.group_id, "prompt": t.prompt_text, "response": t.response_text,
                            "reward": r.score, "status": r.status, "masked": v == 0, "details": r.details},
                           default=str) + "\n")
    f.flush()


def train(cfg: RLConfig, run_dir: Path, ckpt: Checkpoint | None = None) -> None:
    """The RL loop; `ckpt`: the checkpoint to continue from (rl/checkpoint.py), None for a fresh run."""
    import ray
    import torch
    from tqdm import tqdm

    from rl.algos.adaptive_bounds import AdaptiveTrajBounds
    from rl.algos.mispo import mispo_filters
    from rl.batch import build_batch
    from rl.checkpoint import CheckpointWriter
    from rl.learner_group import CriticGroup, LearnerGroup
    from rl.metrics import MetricsLogger
    from rl.model_source import resolve_model_path
    from rl.placement import check_resources
    from rl.roles import start_reward_workers, start_rollout_workers
    from rl.rollout_dispatch import RolloutStream
    from rl.run_state import DriverState, global_rngs
    from rl.run_summary import format_perf_summary, resource_plan
    from rl.step_advantages import step_advantages
    from rl.step_rewards import overlong_stats
    from rl.step_stats import filter_telemetry, reward_stats, staleness_stats
    from rl.weight_sync import make_weight_sync
    from rl.worker_faults import TooManyFaults, WorkerLost
    from rollout.types import SamplingParams

    torch.manual_seed(cfg.trainer.seed)
    model_path = resolve_model_path(cfg.model.path)
    sampler, pad_id = _prompt_sampler(cfg, model_path)
    sampling = SamplingParams(n=cfg.rollout.samples_per_prompt, temperature=cfg.rollout.temperature,
                              top_p=cfg.rollout.top_p, max_new_tokens=cfg.rollout.max_new_tokens)
    use_critic = cfg.algo.advantage == "gae"
    adaptive = AdaptiveTrajBounds(tuple(cfg.algo.traj_bounds), cfg.algo.adaptive_target_keep,
                                  cfg.algo.adaptive_smoothing) if cfg.algo.adaptive_traj_bounds else None

    from rl.leftovers import reap_previous_run, record_run
    from rl.ray_session import start_ray, stop_ray

    reap_previous_run(run_dir)  # what a SIGKILLed earlier driver of this run dir left: Ray processes, containers
    record_run(run_dir)  # run_dir/driver.json: this driver and the processes it starts, for the next start
    own_ray = start_ray(cfg.ray)
    metrics = None
    try:
        check_resources(resource_plan(cfg))
        restart_s = cfg.trainer.worker_restart_timeout_s  # a killed worker's replacement must be up within this
        rollout_workers = start_rollout_workers(cfg.rollout, model_path, cfg.model.dtype, restart_s)
        reward_workers = start_reward_workers(cfg.rewards, restart_timeout_s=restart_s)
        batch_size = cfg.rollout.prompts_per_step * cfg.rollout.samples_per_prompt
        actor = LearnerGroup(model_path, cfg.model, cfg.actor, cfg.algo, cfg.rollout.temperature, batch_size,
                             cfg.trainer.seed)
        critic = CriticGroup(model_path, cfg.model, cfg.critic, batch_size, cfg.trainer.seed) if use_critic else None
        perf = _setup_perf(cfg, model_path, actor, run_dir)
        state = DriverState.load(ckpt.path) if ckpt is not None else None
        _continue_logs(run_dir, ckpt.step if ckpt is not None else 0)
        metrics = MetricsLogger(run_dir, cfg.logging.wandb, cfg.trainer.run_name, config_dict(cfg),
                                run_id=state.wandb_id if state is not None else None)
        samples_file = (run_dir / "samples.jsonl").open("a")
        sync_weights = make_weight_sync(cfg.rollout, actor, rollout_workers)
        version = 0
        async_mode = cfg.rollout.mode == "async"

        # a killed rollout worker is replaced, synced to the current weights by sync_weights and its chunk
        # regenerated; more than trainer.max_fault_frac lost/failed samples stop the step (rl/worker_faults.py)
        rollouts = RolloutStream(rollout_workers, reward_workers, sampler, sampling, cfg.rollout, cfg.algo.overlong,
                                 cfg.algo.dynamic_sampling, cfg.trainer.seed, weights=sync_weights,
                                 max_fault_frac=cfg.trainer.max_fault_frac,
                                 hang_timeout_s=cfg.trainer.rollout_hang_timeout_s)
        start_step, resumed_row = 0, {}
        if state is not None:
            version = _restore(state, ckpt, sampler, rollouts, actor, critic, adaptive, sync_weights)
            start_step = state.step
            resumed_row = {"checkpoint/resumed_from_step": float(state.step),
                           "checkpoint/regenerated_samples": float(cfg.rollout.prompts_per_step
                                                                   * cfg.rollout.samples_per_prompt)}
        writer = CheckpointWriter(run_dir, cfg.trainer.keep_last)
        resume_point: dict = {}

        def start_next():
            """Start the next step's rollout, remembering where the sampler was (a checkpoint taken while it is in
            flight resumes by drawing the same prompts again: rl/run_state.py)."""
            resume_point.update(sampler=sampler.state_dict(), started=rollouts.started)
            return rollouts.start()

        # held-out evaluation (rl/evaluation.py): before step 1, every eval.every steps, after the last step; in
        # async mode collected one step later, so it runs while the learner updates
        # rows of their own ({"step": the step whose weights were evaluated, "eval/...": ...})
        evaluator = _setup_eval(cfg, model_path)
        eval_rows: list[tuple[int, dict]] = []
        eval_pending = None
        if evaluator is not None and start_step == 0:
            metrics.log(0, _collect_eval(evaluator, evaluator.start(rollout_workers, 0), reward_workers))

        pending, perf_rows = start_next(), []
        bar = tqdm(range(start_step + 1, cfg.trainer.total_steps + 1), desc="rl", unit="step",
                   initial=start_step, total=cfg.trainer.total_steps, disable=not cfg.logging.progress_bar)
        for step in bar:
            t0 = time.perf_counter()
            # 1-2. generate (token ids, rollout logprobs, policy version) and score, streamed chunk by chunk;
            #      verifier failures (error/timeout) are masked out of the loss, never scored 0; overlong shaping.
            #      Dynamic sampling: more rounds of fresh prompts (current weights) until the batch is full of
            #      groups with reward variance (rl/dynamic_sampling.py)
            drawn = rollouts.draw(pending, version)
            scored, generated = drawn.batch, drawn.generated
            if cfg.rollout.release_memory:  # sync: the engines idle until the next step; a colocated learner gets it
                drawn.stats.update(rollouts.release_memory())
            if async_mode and step < cfg.trainer.total_steps:
                pending = start_next()  # generated by this policy while the learner updates (staleness 1)
            if not len(scored):
                raise RuntimeError(f"step {step}: every trajectory was older than rollout.max_staleness="
                                   f"{cfg.rollout.max_staleness} versions; raise it or lower rollout.sync_interval")
            trajs = scored.trajs
            t_gen = time.perf_counter()
            batch = build_batch(trajs, scored.valid, pad_id)
            width = batch.rollout_logprobs.shape[1]
            t_rew = time.perf_counter()

            # 3. pi_old (+ reference) on the actor and V(s_t) on the critic, in parallel, before any update
            old_futs = actor.compute_old_logprobs_async(batch)
            val_futs = critic.compute_values_async(batch) if critic else None
            olds = LearnerGroup.gather_old_logprobs(ray.get(old_futs), width)
            batch = batch.with_(old_logprobs=olds.old, ref_logprobs=olds.ref)
            last_values = None
            if critic:
                values = CriticGroup.gather_values(ray.get(val_futs), width)
                batch, last_values = batch.with_(values=values.values), values.last
            t_old = time.perf_counter()

            # 4. advantages (GAE on the critic, or a group baseline) and the MIS-PO filter band for this step
            batch, adv_stats = step_advantages(cfg.algo, batch, scored.rewards, scored.valid, scored.group_ids,
                                               scored.truncated, last_values)
            traj_bounds = tuple(cfg.algo.traj_bounds)
            if adaptive is not None:
                f = mispo_filters(batch.old_logprobs, batch.rollout_logprobs, batch.response_mask)
                nonempty = batch.response_mask.sum(-1) > 0
                traj_bounds = adaptive.update(torch.log(f.traj_ratio[nonempty]))

            # 5. learn: one epoch of mini-batch updates for the actor (after the critic warm-up) and the critic
            train_actor = step > cfg.critic.actor_freeze_steps or not critic
            act_futs = actor.update_async(batch, traj_bounds) if train_actor else []
            crit_futs = critic.update_async(batch) if critic else []
            upd = ray.get(act_futs)[0] if act_futs else None
            crit = ray.get(crit_futs)[0] if crit_futs else None
            t_upd = time.perf_counter()

            # 6. sync weights learner -> rollout engines (object store or NCCL); version += 1
            if train_actor:
                version += 1
                if version % cfg.rollout.sync_interval == 0:
                    sync_weights(version)
            last = step == cfg.trainer.total_steps
            if eval_pending is not None:  # async: started after the last sync, ran while the learner updated
                eval_rows.append((eval_pending.at_step, _collect_eval(evaluator, eval_pending, reward_workers)))
                eval_pending = None
            if evaluator is not None and (last or (cfg.eval.every and step % cfg.eval.every == 0)):
                eval_pending = evaluator.start(rollout_workers, step)
                if not async_mode or last:
                    eval_rows.append((step, _collect_eval(evaluator, eval_pending, reward_workers)))
                    eval_pending = None
            if not async_mode and step < cfg.trainer.total_steps:
                pending = start_next()
            t_sync = time.perf_counter()

            # 7. log
            n_tokens = sum(t.num_response_tokens for t in trajs)
            step_s = t_sync - t0
            nan = float("nan")
            tokens = max(olds.tokens, 1.0)
            row = {**reward_stats(generated.trajs, generated.results), **drawn.stats,
                   **filter_telemetry(batch, trajs, cfg.algo, traj_bounds), **adv_stats,
                   **overlong_stats(scored, cfg.algo.overlong.mode), "loss/actor": upd.loss if upd else nan,
                   "actor/grad_norm": upd.grad_norm if upd else nan, "actor/lr": upd.lr if upd else nan,
                   "actor/entropy": olds.entropy_sum / tokens, "actor/kl_ref": olds.kl_sum / tokens,
                   "actor/updated": float(train_actor), "policy/version": float(version),
                   "rollout/dropped_stale": float(generated.n_stale),
                   "time/rollout_and_reward_s": t_gen - t0, "time/batch_s": t_rew - t_gen,
                   "time/old_logprob_s": t_old - t_rew,
                   "time/update_s": t_upd - t_old, "time/sync_s": t_sync - t_upd, "time/step_s": step_s,
                   "throughput/tokens_per_s": n_tokens / step_s}
            row.update(staleness_stats(trajs, version - 1 if train_actor else version))
            row.update(perf.step(batch.attention_mask.sum(-1).tolist(), train_actor,
                                 (t_old - t_rew) + (t_upd - t_old if train_actor else 0.0),
                                 sum(sum(t.loss_mask) for t in generated.trajs), step_s))
            if upd is not None and upd.peak_memory_gib == upd.peak_memory_gib:  # CUDA only (NaN on CPU)
                row["actor/peak_memory_gib"] = upd.peak_memory_gib
            if crit:
                row.update({"critic/value_loss": crit.value_loss, "critic/grad_norm": crit.grad_norm,
                            "critic/lr": crit.lr})
            row.update(resumed_row)
            resumed_row = {}

            # 8. checkpoint (staged before the step's metrics are logged, published after: a checkpoint of step N
            #    always has its metrics row, and a resume drops rows written after its checkpoint)
            staged = None
            if cfg.trainer.save_every and (step % cfg.trainer.save_every == 0 or last):
                driver = DriverState(
                    step=step, version=version,
                    rollouts_started=resume_point["started"] if not last else rollouts.started,
                    sampler=resume_point["sampler"] if not last else sampler.state_dict(),
                    dataset_sizes=sampler.sizes(), actor_split=actor.split_step(),
                    critic_split=critic.split_step() if critic else None,
                    adaptive=(adaptive.log_lo, adaptive.log_hi) if adaptive is not None else None,
                    wandb_id=metrics.run_id, rng=global_rngs())
                staged, save_s, size = writer.stage(step, {"version": version, "config": config_dict(cfg)},
                                                    lambda tmp: _fill_checkpoint(tmp, driver, actor, critic),
                                                    actor.state_bytes() + (critic.state_bytes() if critic else 0))
                row.update({"checkpoint/save_s": save_s, "checkpoint/size_mb": size / 2**20})
            for at, ev in [e for e in eval_rows if e[0] < step]:
                metrics.log(at, ev)
            metrics.log(step, row)
            for at, ev in [e for e in eval_rows if e[0] == step]:
                metrics.log(at, ev)
            eval_rows = []
            perf_rows.append(row)
            _write_samples(samples_file, step, scored, cfg.trainer.log_samples)
            if staged is not None:
                log.info("checkpoint: %s", writer.commit(step, staged))
            bar.set_postfix(reward=f"{row['reward/mean']:.3f}", keep=f"{row['mispo/keep_frac']:.3f}")
        log.info("final checkpoint: %s", actor.save(str(run_dir / "checkpoints" / "final")))
        print(format_perf_summary(perf_rows))
        samples_file.close()
    except (WorkerLost, TooManyFaults) as exc:
        raise RunStopped(f"step {locals().get('step', 0)}: {exc}. {_resume_hint(run_dir)}") from exc
    except ray.exceptions.RayActorError as exc:
        # a learner (or a worker the rollout side could not replace) is gone: stop cleanly, say how to go on
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise RunStopped(f"a Ray actor died at step {locals().get('step', 0)} ({first}); the run stopped. "
                         + _resume_hint(run_dir)) from exc
    finally:
        if metrics is not None:
            metrics.close()
        _close_workers(locals().get("reward_workers"), locals().get("rollout_workers"))
        stop_ray(own_ray)


def _setup_eval(cfg: RLConfig, model_path: str):
    """The held-out evaluator of `eval.files` (None without files)."""
    if not cfg.eval.files:
        return None
    from transformers import AutoTokenizer

    from rl.evaluation import Evaluator, load_eval_sets

    sets = load_eval_sets(cfg.eval, cfg.data, AutoTokenizer.from_pretrained(model_path))
    log.info("eval: %s", ", ".join(f"{d}: {len(p)} prompts" for d, p in sets.items()))
    return Evaluator(sets, cfg.eval, cfg.rollout.max_new_tokens, cfg.rollout.stream_chunk_prompts)


def _collect_eval(evaluator, pending, reward_workers) -> dict:
    from rl.evaluation import format_table

    out = evaluator.collect(pending, reward_workers)
    print(f"eval after step {pending.at_step}:\n{format_table(out)}", flush=True)
    return out


def _continue_logs(run_dir: Path, last_step: int) -> None:
    """metrics.jsonl and samples.jsonl continue from `last_step` (0: a fresh run starts them empty): rows written
    after the checkpoint by a run that was then killed are dropped, so no step is duplicated or missing."""
    from rl.checkpoint import remove_partial, truncate_jsonl

    for name in ("metrics.jsonl", "samples.jsonl"):
        dropped = truncate_jsonl(run_dir / name, last_step)
        if dropped:
            log.info("%s: dropped %d row(s) after step %d", name, dropped, last_step)
    for gone in remove_partial(run_dir):
        log.info("removed the unfinished checkpoint %s", gone)


def _fill_checkpoint(tmp: Path, driver, actor, critic) -> None:
    """Every part of a resumable checkpoint into the staging directory (rl/checkpoint.py layout)."""
    driver.save(tmp)
    actor.save_state(str(tmp / "actor"))
    if critic is not None:
        critic.save_state(str(tmp / "critic"))
    actor.save(str(tmp / "hf"))


def _restore(state, ckpt: Checkpoint, sampler, rollouts, actor, critic, adaptive, sync_weights) -> int:
    """Put a fresh run where the checkpoint's run was: learners' engines, sampler, counters, RNGs, the adaptive
    band, and the engines' weights (synced from the restored actor). Returns the policy version."""
    from rl.run_state import set_global_rngs

    if state.dataset_sizes != sampler.sizes():
        raise CheckpointError(f"the training data changed since {ckpt.path} was written (rows per domain "
                              f"{state.dataset_sizes} -> {sampler.sizes()}); resuming would not continue that run. "
                              "Restore the data files, or start a new run")
    actor.load_state(str(ckpt.path / "actor"))
    if critic is not None:
        critic.load_state(str(ckpt.path / "critic"))
        critic.set_split_step(state.critic_split)
    actor.set_split_step(state.actor_split)
    sampler.load_state_dict(state.sampler)
    rollouts.started = state.rollouts_started
    if adaptive is not None and state.adaptive is not None:
        adaptive.log_lo, adaptive.log_hi = state.adaptive
    set_global_rngs(state.rng)
    if state.version > 0:
        sync_weights(state.version)  # with sync_interval > 1 the engines get the checkpoint's (newest) weights
    log.info("resumed from %s: step %d, policy version %d", ckpt.path, state.step, state.version)
    return state.version


def _setup_perf(cfg: RLConfig, model_path: str, actor, run_dir: Path):
    """The constants of the perf/ metrics (rl/perf.py); prints what perf/mfu_actor divides by and appends it to
    batch_arithmetic.txt."""
    from rl.perf import setup_actor_perf
    from rl.run_summary import format_perf_plan

    perf = setup_actor_perf(model_path, actor.actors[0], cfg.actor.num_workers, cfg.trainer.peak_tflops,
                            1 + int(cfg.algo.kl_coef > 0))
    plan = format_perf_plan(perf, cfg.data.max_prompt_tokens + cfg.rollout.max_new_tokens)
    print(plan)
    with (run_dir / "batch_arithmetic.txt").open("a") as f:
        f.write(plan + "\n")
    return perf


def _close_workers(*groups) -> None:
    """Let verifier processes and environments exit cleanly so their sandbox containers are removed."""
    import ray

    try:
        ray.get([w.close.remote() for workers in groups for w in workers or []], timeout=60)
    except Exception as exc:  # noqa: BLE001 - shutdown must not mask the run's own error
        log.warning("closing reward workers: %s", exc)


if __name__ == "__main__":
    sys.exit(main())
