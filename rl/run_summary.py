"""Batch arithmetic and resource plan of a run, printed at start and saved beside the config (no torch)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from config.rl import RLConfig


def batch_arithmetic(cfg: RLConfig) -> dict[str, object]:
    r, a = cfg.rollout, cfg.actor
    traj = r.prompts_per_step * r.samples_per_prompt
    mb = traj // a.mini_batches
    shard = mb // a.num_workers
    return {
        "prompts_per_step": r.prompts_per_step,
        "samples_per_prompt": r.samples_per_prompt,
        "trajectories_per_step": traj,
        "max_response_tokens_per_step": traj * r.max_new_tokens,
        "max_tokens_per_step": traj * (r.max_new_tokens + cfg.data.max_prompt_tokens),
        "actor_mini_batches": a.mini_batches,
        "trajectories_per_mini_batch": mb,
        "trajectories_per_rank_per_mini_batch": shard,
        "micro_batch_size": a.micro_batch_size,
        "grad_accum_steps": math.ceil(shard / a.micro_batch_size),
        "optimizer_steps_total": a.mini_batches * cfg.trainer.total_steps,
        "critic": (f"{cfg.critic.mini_batches} mini-batches of {traj // cfg.critic.mini_batches}"
                   if cfg.algo.advantage == "gae" else "none (critic-free advantage)"),
        "domain_weights": dict(cfg.data.domain_weights),
        "dynamic_sampling": (f"up to {cfg.algo.dynamic_sampling.max_rounds} rounds, at most "
                             f"{r.prompts_per_step * cfg.algo.dynamic_sampling.max_rounds} prompts generated per step"
                             if cfg.algo.dynamic_sampling.enabled else "off"),
    }


def resource_plan(cfg: RLConfig) -> dict[str, dict[str, Any]]:
    """Per role: workers, CPUs and GPUs per worker, and the custom Ray resources each worker asks for
    (`<role>.resources`, node placement). rl/placement.py checks it against the cluster."""
    plan: dict[str, dict[str, Any]] = {
        "rollout": {"workers": cfg.rollout.num_workers, "cpus_each": cfg.rollout.num_cpus_per_worker,
                    "gpus_each": cfg.rollout.num_gpus_per_worker, "resources": dict(cfg.rollout.resources)},
        "actor": {"workers": cfg.actor.num_workers, "cpus_each": cfg.actor.num_cpus_per_worker,
                  "gpus_each": cfg.actor.num_gpus_per_worker, "resources": dict(cfg.actor.resources)},
        "rewards": {"workers": cfg.rewards.num_workers, "cpus_each": cfg.rewards.num_cpus_per_worker,
                    "gpus_each": 0.0, "resources": dict(cfg.rewards.resources)},
    }
    if cfg.algo.advantage == "gae":
        plan["critic"] = {"workers": cfg.critic.num_workers, "cpus_each": cfg.critic.num_cpus_per_worker,
                          "gpus_each": cfg.critic.num_gpus_per_worker, "resources": dict(cfg.critic.resources)}
    return plan


def format_role_resources(plan: dict[str, Any]) -> str:
    """`2 x (1.0 CPU, 0.0 GPU)`, with the custom resources appended: `2 x (1.0 CPU, 0.0 GPU, rollout_node 1)`."""
    parts = [f"{plan['cpus_each']} CPU", f"{plan['gpus_each']} GPU"]
    parts += [f"{k} {v:g}" for k, v in sorted(plan.get("resources", {}).items())]
    return f"{plan['workers']} x ({', '.join(parts)})"


def advice(cfg: RLConfig) -> list[str]:
    """Valid settings that measured poorly together (docs/design.md has the numbers)."""
    out = []
    stale = cfg.rollout.mode == "async" or cfg.rollout.sync_interval > 1
    if stale and cfg.algo.objective == "mispo" and not cfg.algo.adaptive_traj_bounds:
        out.append("trajectories are a policy version old (rollout.mode=async or sync_interval>1) and the MIS-PO "
                   "trajectory band is fixed: in our runs it then kept only 14-45% of tokens. Consider "
                   "algo.adaptive_traj_bounds=true, or rollout.partial_rollouts=true for long (agent) rollouts")
    if cfg.rollout.partial_rollouts and cfg.rollout.engine == "hf" and not cfg.rollout.agent.domains:
        out.append("partial rollouts with the hf engine re-prefill each segment (1.5x slower steps measured when "
                   "generation was shorter than the update); they pay off when rollouts outlast the update")
    return out


def format_summary(cfg: RLConfig) -> str:
    lines = ["batch arithmetic:"]
    lines += [f"  {k:<40} {v}" for k, v in batch_arithmetic(cfg).items()]
    lines.append("resources per role:")
    for role, plan in resource_plan(cfg).items():
        lines.append(f"  {role:<10} {format_role_resources(plan)}")
    notes = advice(cfg)
    if notes:
        lines.append("advice:")
        lines += [f"  - {n}" for n in notes]
    return "\n".join(lines)


def format_perf_plan(perf: Any, seq_len: int) -> str:
    """What perf/mfu_actor divides by (`perf` is an rl.perf.ActorPerf), with FLOPs per token at `seq_len` tokens."""
    peak = f"{perf.peak:g} TFLOP/s" if perf.peak else "unknown (perf/mfu_actor is NaN)"
    f = perf.flops
    return "\n".join([
        "perf (rl/perf.py):",
        f"  {'actor device':<40} {perf.device} x {perf.ranks} rank(s)",
        f"  {'peak bf16 per device':<40} {peak}; {perf.peak_source}",
        f"  {'matmul params N (no input embedding)':<40} {f.matmul_params:,}",
        f"  {'layers x attention width':<40} {f.layers} x {f.attn_dim}",
        f"  {f'train FLOPs/token at {seq_len} tokens':<40} {f.per_token(seq_len):.4g} (6N + 12 L d s)",
        (f"  {f'forward FLOPs/token at {seq_len} tokens':<40} {f.per_token(seq_len, train=False):.4g} "
         f"x {perf.forward_passes} pass(es) per step"),
    ])


def format_perf_summary(rows: Sequence[dict[str, float]]) -> str:
    """Means of the perf/ metrics over the run's steps, the first (warm-up) left out when there are more."""
    rows = list(rows[1:] if len(rows) > 1 else rows)
    keys = ("perf/mfu_actor", "perf/tokens_per_s_trained", "perf/tokens_per_s_generated")
    parts = []
    for k in keys:
        vals = [r[k] for r in rows if k in r and math.isfinite(r[k])]
        parts.append(f"{k} {sum(vals) / len(vals):.4g}" if vals else f"{k} n/a")
    return f"perf over {len(rows)} step(s): " + ", ".join(parts)
