"""Off-policy ablation: MIS-PO (fixed and adaptive trajectory band) vs PPO-clip vs truncated IS vs IcePop vs plain PG
under a controlled rollout/learner mismatch.

    python scripts/ablate_offpolicy.py [--steps 20] [--seeds 0 1] [--engine-dtype bfloat16] [--sync-interval 4]
    python scripts/ablate_offpolicy.py --from-raw docs/results/offpolicy_ablation_raw.jsonl   # tables/plot only

Mismatch: the rollout engine samples with a lower-precision copy of the policy (`rollout.dtype`) and receives
new weights only every `--sync-interval` updates, so its trajectories are up to k-1 policy versions stale.
Everything else (task, model, advantages, LR, batch) is identical across objectives. Writes, under docs/results/:
offpolicy_ablation.md (tables), offpolicy_ablation.png (reward, actor grad norm, grad norm per trained-token
fraction and MIS-PO keep fraction per step, mean over seeds) and offpolicy_ablation_raw.jsonl (every per-step,
per-seed value behind the tables and the plot; `--from-raw` rebuilds both from it). Runs stay under
runs/ablate_offpolicy/.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
OBJECTIVES = ["mispo", "mispo_adaptive", "ppo_clip", "tis", "icepop", "pg"]
VARIANTS = {"mispo_adaptive": ["algo.objective=mispo", "algo.adaptive_traj_bounds=true"]}  # name -> overrides
# per-step metrics kept in the raw file (docs/metrics.md defines each)
RAW_KEYS = ["reward/mean", "reward/error_frac", "reward/timeout_frac", "actor/grad_norm", "loss/actor",
            "actor/entropy", "mispo/keep_frac", "mispo/token_keep_frac", "mispo/traj_keep_frac", "mispo/ratio_max",
            "mispo/ratio_min", "mispo/ratio_mean", "mispo/rollout_kl_k1", "mispo/traj_bound_lo",
            "mispo/traj_bound_hi", "policy/staleness_mean", "policy/version", "time/step_s"]


# the ablation is about off-policy correction on math; it also runs where Docker is absent (GPU machines)
MATH_ONLY = ["data.train_files=[data/math_train.jsonl]", "data.domain_weights.code=0"]


def run_one(objective: str, seed: int, args: argparse.Namespace, out_root: Path) -> list[dict]:
    from rl.train import main

    run_dir = out_root / f"{objective}_seed{seed}"
    metrics = run_dir / "metrics.jsonl"
    if metrics.is_file() and len(metrics.read_text().splitlines()) == args.steps and not args.force:
        print(f"[ablate] reuse {run_dir}")
    else:
        if metrics.is_file():
            metrics.unlink()
        overrides = [
            *VARIANTS.get(objective, [f"algo.objective={objective}"]), f"trainer.seed={seed}",
            f"trainer.total_steps={args.steps}",
            f"trainer.run_dir={run_dir}", f"trainer.run_name=ablate_{objective}_s{seed}",
            f"rollout.dtype={args.engine_dtype}", f"rollout.sync_interval={args.sync_interval}",
            f"rollout.max_staleness={args.sync_interval - 1}",
            f"algo.advantage={args.advantage}", f"actor.lr={args.lr}", "logging.wandb.mode=disabled",
            "logging.progress_bar=false", "actor.torch_threads=2",
            *MATH_ONLY,
        ]
        start = time.time()
        rc = main(["--config", "mispo_math_code.yaml", *overrides])
        if rc != 0:
            raise SystemExit(f"run {objective} seed {seed} failed with exit code {rc}")
        print(f"[ablate] {objective} seed {seed}: {time.time() - start:.0f}s")
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    errors = max(r.get("reward/error_frac") or 0.0 for r in rows)
    if errors > 0:  # a verifier bug: those rewards are masked out and the reward curves are not comparable
        raise SystemExit(f"run {objective} seed {seed}: up to {errors:.0%} of a step's verifications failed with "
                         f"status error (see {run_dir}); fix the verifier and rerun with --force")
    return rows


def _num(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _mean(xs: list) -> float:
    xs = [x for x in map(_num, xs) if x is not None]
    return sum(xs) / len(xs) if xs else float("nan")


def trained_frac(objective: str, row: dict) -> float | None:
    """Fraction of valid response tokens the objective's loss trains on: MIS-PO's keep fraction (both filters,
    the band actually used) for the MIS-PO variants, 1 for the others (PPO clipping and IcePop's band are not
    counted: their gradients are not logged per token)."""
    return _num(row.get("mispo/keep_frac")) if objective.startswith("mispo") else 1.0


def grad_per_trained(objective: str, row: dict) -> float | None:
    """actor/grad_norm / trained fraction. The token_mean loss divides by all N valid tokens, filtered ones too, so
    MIS-PO's gradient is (keep fraction) x (mean gradient over kept tokens): this undoes that scale. None when
    nothing was trained on or the norm is missing."""
    g, f = _num(row.get("actor/grad_norm")), trained_frac(objective, row)
    return g / f if g is not None and f else None


def raw_rows(runs: dict[str, list[list[dict]]], seeds: list[int]) -> list[dict]:
    """One row per (objective, seed, step): RAW_KEYS plus the derived trained fraction and grad norm ratio."""
    out = []
    for obj, per_seed in runs.items():
        for seed, rows in zip(seeds, per_seed):
            for r in rows:
                out.append({"objective": obj, "seed": seed, "step": r["step"], **{k: r.get(k) for k in RAW_KEYS},
                            "derived/trained_frac": trained_frac(obj, r),
                            "derived/grad_norm_per_trained_frac": grad_per_trained(obj, r)})
    return out


def write_raw(runs: dict[str, list[list[dict]]], meta: dict, path: Path) -> None:
    lines = [json.dumps({"meta": meta})] + [json.dumps(r) for r in raw_rows(runs, meta["seeds"])]
    path.write_text("\n".join(lines) + "\n")


def read_raw(path: Path) -> tuple[dict[str, list[list[dict]]], dict]:
    """Inverse of write_raw: ({objective: [rows of seed 0, rows of seed 1, ...]}, meta)."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    meta = lines[0]["meta"]
    runs: dict[str, list[list[dict]]] = {}
    for r in lines[1:]:
        per_seed = runs.setdefault(r["objective"], [[] for _ in meta["seeds"]])
        per_seed[meta["seeds"].index(r["seed"])].append(r)
    return runs, meta


def summarize(runs: dict[str, list[list[dict]]]) -> list[dict]:
    """One row per objective. Per-seed figures first, then mean (and spread) over seeds."""
    table = []
    for obj, seeds in runs.items():
        last = [_mean([r["reward/mean"] for r in rows[-5:]]) for rows in seeds]
        gmax = [max((_num(r["actor/grad_norm"]) or 0.0) for r in rows) for rows in seeds]
        table.append({
            "objective": obj, "seeds": len(seeds),
            "reward_first5": _mean([_mean([r["reward/mean"] for r in rows[:5]]) for rows in seeds]),
            "reward_last5": _mean(last), "reward_last5_sd": statistics.pstdev(last) if len(last) > 1 else 0.0,
            "grad_norm_mean": _mean([_mean([r["actor/grad_norm"] for r in rows]) for rows in seeds]),
            "grad_norm_seedmax_mean": _mean(gmax), "grad_norm_seedmax_lo": min(gmax), "grad_norm_seedmax_hi": max(gmax),
            "trained_frac": _mean([_mean([trained_frac(obj, r) for r in rows]) for rows in seeds]),
            "grad_norm_per_trained": _mean([_mean([grad_per_trained(obj, r) for r in rows]) for rows in seeds]),
            "mispo_keep_frac": _mean([_mean([r["mispo/keep_frac"] for r in rows]) for rows in seeds]),
            "ratio_max": max(_num(r["mispo/ratio_max"]) or 1.0 for rows in seeds for r in rows),
            "timeout_frac_max": max(_num(r.get("reward/timeout_frac")) or 0.0 for rows in seeds for r in rows),
        })
    return table


def by_staleness(runs: dict[str, list[list[dict]]], adaptive: str = "mispo_adaptive") -> dict[int, dict]:
    """Per batch staleness (policy/staleness_mean, rounded), over every step of every seed at that staleness:
    MIS-PO keep fraction per objective as (mean, min, max, step count); mean actor grad norm and mean grad norm /
    trained fraction per objective; the largest pi_old/pi_rollout; the mean per-token KL estimate; and the mean
    band (lo, hi) of the adaptive objective."""
    out: dict[int, dict] = {}
    for obj, seeds in runs.items():
        for r in (r for rows in seeds for r in rows):
            s = round(_num(r.get("policy/staleness_mean")) or 0.0)
            cell = out.setdefault(s, {"keep": {}, "grad": {}, "grad_per_trained": {}, "ratio_max": 1.0, "kl": [],
                                      "band": ([], [])})
            cell["keep"].setdefault(obj, []).append(_num(r["mispo/keep_frac"]))
            cell["grad"].setdefault(obj, []).append(r["actor/grad_norm"])
            cell["grad_per_trained"].setdefault(obj, []).append(grad_per_trained(obj, r))
            cell["ratio_max"] = max(cell["ratio_max"], _num(r["mispo/ratio_max"]) or 1.0)
            cell["kl"].append(_num(r.get("mispo/rollout_kl_k1")))
            if obj == adaptive:
                cell["band"][0].append(r.get("mispo/traj_bound_lo"))
                cell["band"][1].append(r.get("mispo/traj_bound_hi"))
    for cell in out.values():
        cell["keep"] = {o: (_mean(v), min((x for x in v if x is not None), default=float("nan")),
                            max((x for x in v if x is not None), default=float("nan")), len(v))
                        for o, v in cell["keep"].items()}
        for key in ("grad", "grad_per_trained"):
            cell[key] = {o: _mean(v) for o, v in cell[key].items()}
        cell["kl"] = _mean(cell["kl"])
        cell["band"] = (_mean(cell["band"][0]), _mean(cell["band"][1])) if cell["band"][0] else None
    return dict(sorted(out.items()))


def gap_recovery(table: list[dict], fixed: str = "mispo", adaptive: str = "mispo_adaptive") -> dict[str, float]:
    """Share of the last-5-step reward gap between the fixed-band MIS-PO and each objective that beat it which the
    adaptive band closes: (adaptive - fixed) / (other - fixed)."""
    rows = {r["objective"]: r["reward_last5"] for r in table}
    if fixed not in rows or adaptive not in rows:
        return {}
    base = rows[fixed]
    return {o: (rows[adaptive] - base) / (v - base) for o, v in rows.items()
            if o not in (fixed, adaptive) and v > base}


def _table_lines(table: list[dict]) -> list[str]:
    lines = [
        ("| objective | reward, first 5 steps | reward, last 5 steps (± sd over seeds) | actor grad norm, mean over "
        "steps | actor grad norm: per-seed max, mean over seeds (range) | trained-token fraction, mean | grad norm "
        "/ trained fraction, mean over steps | MIS-PO keep frac, mean | max pi_old/pi_rollout (any step, seed) |"),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        lines.append(
            f"| {r['objective']} | {r['reward_first5']:.3f} | {r['reward_last5']:.3f} ± {r['reward_last5_sd']:.3f} | "
            f"{r['grad_norm_mean']:.3f} | {r['grad_norm_seedmax_mean']:.3f} ({r['grad_norm_seedmax_lo']:.3f}–"
            f"{r['grad_norm_seedmax_hi']:.3f}) | {r['trained_frac']:.3f} | {r['grad_norm_per_trained']:.3f} | "
            f"{r['mispo_keep_frac']:.3f} | {r['ratio_max']:.2f} |")
    return lines


def _staleness_lines(stale: dict[int, dict], objectives: list[str]) -> list[str]:
    lines = [
        "| batch staleness (versions) | steps per objective | " + " | ".join(f"keep: {o}" for o in objectives)
        + " | mispo_adaptive band, mean | max pi_old/pi_rollout | mean per-token KL(rollout ‖ old), k1 |",
        "|---|---|" + "---|" * len(objectives) + "---|---|---|",
    ]
    for s, cell in stale.items():
        n = max(v[3] for v in cell["keep"].values())
        keeps = [f"{cell['keep'][o][0]:.3f} ({cell['keep'][o][1]:.3f}–{cell['keep'][o][2]:.3f})"
                 if o in cell["keep"] else "–" for o in objectives]
        band = f"[{cell['band'][0]:.3f}, {cell['band'][1]:.3f}]" if cell["band"] else "–"
        lines.append(f"| {s} | {n} | " + " | ".join(keeps) + f" | {band} | {cell['ratio_max']:.2f} | "
                     f"{cell['kl']:.2e} |")
    lines += ["", ("Actor grad norm by the batch's staleness: mean `actor/grad_norm` / mean grad norm per trained "
              "fraction, over every step of every seed at that staleness."), "",
              "| batch staleness (versions) | " + " | ".join(objectives) + " |",
              "|---|" + "---|" * len(objectives)]
    for s, cell in stale.items():
        lines.append(f"| {s} | " + " | ".join(f"{cell['grad'][o]:.3f} / {cell['grad_per_trained'][o]:.3f}"
                                              if o in cell["grad"] else "–" for o in objectives) + " |")
    return lines


def write_markdown(table: list[dict], stale: dict[int, dict], meta: dict, path: Path) -> None:
    objectives = [r["objective"] for r in table]
    gaps = gap_recovery(table)
    lines = [
        "# Off-policy ablation (generated by scripts/ablate_offpolicy.py)", "",
        (f"Mismatch: rollout engine in `{meta['engine_dtype']}` (learner fp32), weights pushed to the engine every "
        f"{meta['sync_interval']} updates (trajectories up to {meta['sync_interval'] - 1} versions stale); "
        f"{meta['steps']} steps, seeds {meta['seeds']}, advantage `{meta['advantage']}`, actor LR {meta['lr']}, "
        "tiny model on CPU. Raw per-step, per-seed values: `offpolicy_ablation_raw.jsonl` (first line: this setup); "
        "`python scripts/ablate_offpolicy.py --from-raw docs/results/offpolicy_ablation_raw.jsonl` rebuilds this "
        "file and the plot from it."), "",
        *_table_lines(table), "",
        "Columns, exactly:",
        ("- reward: `reward/mean` averaged over the first / last 5 steps of each seed, then over seeds; ± is the "
        "population sd of the per-seed last-5 means."),
        ("- actor grad norm: `actor/grad_norm` (global norm before clipping, mean over the step's mini-batches). "
        "*Mean over steps* averages every step of a seed, then the seeds. *Per-seed max* is each seed's largest "
        "step value, averaged over seeds, with the smallest and largest of those per-seed maxima in brackets."),
        ("- trained-token fraction: share of valid response tokens the loss trains on: `mispo/keep_frac` for the "
        "MIS-PO rows, 1 for the others (PPO clipping and IcePop's band are not counted)."),
        ("- grad norm / trained fraction: per step, then averaged. With `token_mean` the loss is divided by all "
        "valid tokens, filtered ones included, so MIS-PO's gradient is its keep fraction times the mean gradient "
        "of the kept tokens: a smaller raw grad norm is partly this scale. The ratio removes the scale (using the "
        "whole batch's keep fraction for every mini-batch), but a mean over fewer tokens is itself noisier, so "
        "the corrected figure for a small keep fraction leans high."),
        ("- MIS-PO keep frac: `mispo/keep_frac`, both MIS-PO filters on pi_old/pi_rollout, computed for every "
        "objective (fixed band, except `mispo_adaptive` which logs its adaptive band); only the MIS-PO rows "
        "train on that subset."),
        "", ("MIS-PO keep fraction by the batch's staleness (`policy/staleness_mean`): mean (min–max) over every "
        "step of every seed at that staleness."), "",
        *_staleness_lines(stale, objectives), "",
    ]
    lines += ["Verifier failures: none with status error (the script refuses such runs); largest per-step share of "
              "timed-out verifications: " + ", ".join(f"{r['objective']} {r['timeout_frac_max']:.1%}" for r in table)
              + " (timed-out samples are masked out of reward and loss).", ""]
    if gaps:
        lines.append("Share of the last-5-step reward gap between fixed-band `mispo` and each objective that beat it "
                     "closed by `mispo_adaptive`: " + ", ".join(f"{o} {v:.0%}" for o, v in gaps.items()) + ".")
    path.write_text("\n".join(lines) + "\n")


def plot(runs: dict[str, list[list[dict]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("reward", lambda o, r: r["reward/mean"]), ("actor grad norm", lambda o, r: r["actor/grad_norm"]),
              ("grad norm / trained-token fraction", grad_per_trained),
              ("MIS-PO keep frac", lambda o, r: r["mispo/keep_frac"])]
    fig, axes = plt.subplots(1, len(panels), figsize=(20, 4))
    for obj, seeds in runs.items():
        steps = [r["step"] for r in seeds[0]]
        for ax, (title, value) in zip(axes, panels):
            ys = [_mean([value(obj, rows[i]) for rows in seeds]) for i in range(len(steps))]
            ax.plot(steps, ys, label=obj)
            ax.set_title(f"{title} (mean over seeds)")
            ax.set_xlabel("step")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_results(runs: dict[str, list[list[dict]]], meta: dict, results: Path, raw: bool = True) -> None:
    results.mkdir(parents=True, exist_ok=True)
    if raw:
        write_raw(runs, meta, results / "offpolicy_ablation_raw.jsonl")
    write_markdown(summarize(runs), by_staleness(runs), meta, results / "offpolicy_ablation.md")
    plot(runs, results / "offpolicy_ablation.png")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--objectives", nargs="+", default=OBJECTIVES)
    p.add_argument("--engine-dtype", default="bfloat16")
    p.add_argument("--sync-interval", type=int, default=4)
    p.add_argument("--advantage", default="grpo")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--out", type=Path, default=REPO / "runs" / "ablate_offpolicy")
    p.add_argument("--results", type=Path, default=REPO / "docs" / "results")
    p.add_argument("--force", action="store_true", help="rerun even when a finished run exists")
    p.add_argument("--from-raw", type=Path, help="rebuild the tables and plot from a raw file; runs nothing")
    args = p.parse_args()
    start = time.time()
    if args.from_raw:
        runs, meta = read_raw(args.from_raw)
    else:
        runs = {obj: [run_one(obj, s, args, args.out) for s in args.seeds] for obj in args.objectives}
        meta = {"engine_dtype": args.engine_dtype, "sync_interval": args.sync_interval, "steps": args.steps,
                "seeds": args.seeds, "advantage": args.advantage, "lr": args.lr, "objectives": args.objectives,
                "wall_s": round(time.time() - start)}
    write_results(runs, meta, args.results, raw=not args.from_raw)
    print((args.results / "offpolicy_ablation.md").read_text())
    print(f"[ablate] total {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
