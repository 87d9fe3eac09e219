"""Held-out evaluation through the training engines and verifiers (sandboxes included): greedy pass@1, sampled
pass@k (the unbiased estimator 1 - C(n-c, k) / C(n, k) of Chen et al. 2021 from n samples), mean response length,
truncation and verifier-error rates per domain.

`start(workers)` queues the generation on the rollout workers and returns at once; `collect(pending)` waits and
scores. In async mode the trainer collects at the next step, so the evaluation runs while the learner updates.
Samples whose verifier failed (status error/timeout) are left out of pass@k and counted in `error_frac`.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

from config.rl import DataConfig, EvalConfig
from rl.data import PromptRecord, load_prompt_file
from rl.rollout_dispatch import PendingRollout, collect_and_score, start_rollout
from rollout.types import SamplingParams

EVAL_SEED = 7_777_777  # evaluation draws its own sampling seeds, independent of the training rollouts


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c of them correct) is correct."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def load_eval_sets(cfg: EvalConfig, data: DataConfig, tokenizer: Any) -> dict[str, list[PromptRecord]]:
    """domain -> its held-out prompts (rows read with the training data's field names; the domain is the file's)."""
    sets = {}
    for domain, path in cfg.files.items():
        records, _ = load_prompt_file({"path": path, "domain": domain}, data, tokenizer, key=f"eval.files.{domain}")
        sets[domain] = records[: cfg.max_prompts] if cfg.max_prompts else records
    return sets


@dataclass
class PendingEval:
    greedy: PendingRollout
    sampled: PendingRollout
    domains: list[str]  # domain of each prompt, by group id
    started: float
    at_step: int


class Evaluator:
    def __init__(self, sets: dict[str, list[PromptRecord]], cfg: EvalConfig, max_new_tokens: int,
                 chunk_prompts: int) -> None:
        self.sets, self.cfg, self.chunk = sets, cfg, chunk_prompts
        tokens = cfg.max_new_tokens or max_new_tokens
        self.greedy = SamplingParams(n=1, temperature=0.0, max_new_tokens=tokens)
        self.sampled = SamplingParams(n=cfg.n, temperature=cfg.temperature, max_new_tokens=tokens)
        self.prompts = [p for recs in sets.values() for p in recs]
        self.domains = [p.domain for p in self.prompts]

    def start(self, rollout_workers: Sequence[Any], at_step: int) -> PendingEval:
        """Queue greedy and sampled generation of every held-out prompt (the same seeds at every evaluation)."""
        return PendingEval(start_rollout(rollout_workers, self.prompts, self.greedy, self.chunk, EVAL_SEED, 0),
                           start_rollout(rollout_workers, self.prompts, self.sampled, self.chunk, EVAL_SEED, 1),
                           self.domains, time.perf_counter(), at_step)

    def collect(self, pending: PendingEval, reward_workers: Any) -> dict[str, float]:
        """Wait for both generations, score them, and return the eval/* metrics."""
        greedy = collect_and_score(pending.greedy, reward_workers)
        sampled = collect_and_score(pending.sampled, reward_workers)
        out = summarize(pending.domains, greedy, sampled, self.cfg)
        out["eval/time_s"] = time.perf_counter() - pending.started
        out["eval/at_step"] = float(pending.at_step)
        return out


def summarize(domains: list[str], greedy, sampled, cfg: EvalConfig) -> dict[str, float]:
    """eval/<domain>/* from the greedy and sampled (trajectories, results) of prompts whose group id indexes
    `domains`."""
    rows: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for mode, (trajs, results) in (("greedy", greedy), ("sampled", sampled)):
        per_prompt: dict[int, list[bool]] = defaultdict(list)
        for t, r in zip(trajs, results):
            d = rows[domains[t.group_id]]
            d["length"].append(t.num_response_tokens)
            d["truncated"].append(float(t.truncated))
            d["error"].append(float(r.status != "ok"))
            if r.status == "ok":
                per_prompt[t.group_id].append(r.score >= cfg.correct_threshold)
        for gid, solved in per_prompt.items():
            d = rows[domains[gid]]
            if mode == "greedy":
                d["pass@1"].append(float(solved[0]))
            else:
                for k in cfg.k:
                    if len(solved) >= k:
                        d[f"pass@{k}" if k > 1 else "pass@1_sampled"].append(pass_at_k(len(solved), sum(solved), k))
    out: dict[str, float] = {}
    for domain, d in rows.items():
        for key, values in d.items():
            name = {"length": "mean_response_len", "truncated": "truncated_frac", "error": "error_frac"}.get(key, key)
            out[f"eval/{domain}/{name}"] = sum(values) / len(values) if values else float("nan")
    return out


def format_table(metrics: dict[str, float]) -> str:
    """The eval/<domain>/* metrics as a text table, one row per domain."""
    domains = sorted({k.split("/")[1] for k in metrics if k.count("/") == 2})
    cols = sorted({k.split("/")[2] for k in metrics if k.count("/") == 2},
                  key=lambda c: (not c.startswith("pass@"), c))
    lines = ["domain".ljust(12) + "".join(c.rjust(20) for c in cols)]
    for d in domains:
        lines.append(d.ljust(12) + "".join(f"{metrics.get(f'eval/{d}/{c}', float('nan')):20.4f}" for c in cols))
    return "\n".join(lines)
