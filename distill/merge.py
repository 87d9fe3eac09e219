"""Self-distillation merge: `python -m distill.merge --config distill_merge.yaml [dotted.key=value ...]`.

experts (built with sft.train when missing) -> each generates K samples on its domain's share of the prompt mix
-> quality filters + the domain's verifier reject bad samples -> the student (from the base) is trained with the
SFT trainer on the kept samples -> base, experts, weight average and student are scored on held-out prompts ->
runs/<name>/merge_report.json + merge_report.md. Config parsing happens before torch is imported.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from config.distill import MergeConfig, enabled_domains, used_experts, validate_merge_config
from config.errors import ConfigError
from config.load import load_cli_config, parse_cli, to_yaml
from sft.trainer import quiet_library_progress_bars

log = logging.getLogger("distill.merge")


def run_dir_of(cfg: MergeConfig) -> Path:
    return Path(cfg.run.dir or f"runs/{cfg.run.name}")


def main(argv: list[str] | None = None) -> int:
    args = parse_cli("python -m distill.merge", __doc__, "domains.code.enabled=false", argv)
    from rewards.registry import known_verifiers

    cfg = load_cli_config(MergeConfig, args, lambda c: validate_merge_config(c, known_verifiers()),
                          lambda c: c.logging.level)
    if cfg is None:
        return 2
    if args.dry_run:
        return 0
    quiet_library_progress_bars()
    try:
        merge(cfg)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    print((run_dir_of(cfg) / "merge_report.md").read_text())
    print(f"report: {run_dir_of(cfg) / 'merge_report.json'}")
    return 0


def student_config(cfg: MergeConfig, experts: dict[str, str], train_file: Path, eval_file: Path | None,
                   run_dir: Path):
    """The SFT config of the student: base model, kept samples, the `student` section's settings; with
    student.topk_logits.topk > 0 each sample's teacher (its domain's expert) supplies top-k logits."""
    from config.sft import (
        SFTConfig,
        SFTDataConfig,
        SFTDistillConfig,
        SFTModelConfig,
        SFTTrainerConfig,
        validate_sft_config,
    )

    s, kd = cfg.student, cfg.student.topk_logits
    sft = SFTConfig(
        model=SFTModelConfig(path=cfg.model.base, dtype=s.dtype),
        data=SFTDataConfig(train_files=[str(train_file)], eval_files=[str(eval_file)] if eval_file else [],
                           eval_fraction=0.0, max_seq_len=s.max_seq_len, packing=s.packing, pack_len=s.pack_len,
                           attention=s.attention),
        optim=s.optim,
        trainer=SFTTrainerConfig(epochs=s.epochs, max_steps=s.max_steps, seed=cfg.run.seed,
                                 run_name=f"{cfg.run.name}_student", run_dir=str(run_dir / "student")),
        distill=SFTDistillConfig(topk=kd.topk, alpha=kd.alpha, temperature=kd.temperature, teacher_key="teacher",
                                 teachers=dict(experts) if kd.topk else {}),
        logging=cfg.logging)
    errors = validate_sft_config(sft)
    if errors:
        raise ConfigError("student: " + "; ".join(errors))
    return sft


def write_student_data(cfg: MergeConfig, outcome, run_dir: Path) -> tuple[Path, Path | None]:
    """Kept samples as chat rows: kept.jsonl (all, with domain, teacher, score), the student's train file (each
    domain's rows repeated `domains.<d>.student_repeat` times) and a held-out eval file (student.eval_fraction)."""
    import random

    rows = [{"messages": [{"role": "user", "content": s.prompt.prompt}, {"role": "assistant", "content": s.response}],
             "domain": s.prompt.domain, "teacher": s.teacher, "prompt_id": s.prompt.id, "score": score}
            for s, score in zip(outcome.kept, outcome.scores)]
    order = list(range(len(rows)))
    random.Random(cfg.run.seed).shuffle(order)
    n_eval = int(len(rows) * cfg.student.eval_fraction) if len(rows) > 1 else 0
    held = set(order[:n_eval])
    train = [r for i, r in enumerate(rows) if i not in held for _ in range(cfg.domains[r["domain"]].student_repeat)]
    files = {"kept.jsonl": rows, "student_train.jsonl": train, "student_eval.jsonl": [rows[i] for i in sorted(held)]}
    for name, items in files.items():
        with (run_dir / name).open("w") as f:
            f.writelines(json.dumps(r) + "\n" for r in items)
    return run_dir / "student_train.jsonl", (run_dir / "student_eval.jsonl") if held else None


def _on_policy(cfg: MergeConfig, student: str, experts: dict[str, str], routed: dict, run_dir: Path) -> Path:
    import dataclasses

    from distill.on_policy import on_policy_distill
    from rl.metrics import MetricsLogger

    out_dir = run_dir / "on_policy"
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = MetricsLogger(out_dir, cfg.logging.wandb, f"{cfg.run.name}_on_policy",
                            json.loads(json.dumps(dataclasses.asdict(cfg), default=str)))
    try:
        teacher_of = {d: dc.expert for d, dc in enabled_domains(cfg).items()}
        rows = [r for rs in routed.values() for r in rs]
        return on_policy_distill(student, experts, teacher_of, rows, cfg.on_policy, out_dir, cfg.run.seed, metrics,
                                 cfg.logging.progress_bar, cfg.model.dtype)
    finally:
        metrics.close()


def merge(cfg: MergeConfig) -> dict:
    """Run the whole merge; returns the report (also written to the run directory)."""
    from distill.evaluate import evaluate_checkpoint
    from distill.experts import ensure_expert
    from distill.filters import filter_samples
    from distill.generate import generate_for_experts, load_prompt_rows, route, subsample
    from distill.report import build_report, write_report
    from distill.weight_average import weight_average
    from rewards.process_pool import VerifierProcessPool
    from rl.model_source import resolve_model_path
    from sft.trainer import train_sft

    run_dir = run_dir_of(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(to_yaml(cfg))
    domains, names, seconds = enabled_domains(cfg), used_experts(cfg), {}
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        seconds[phase] = time.perf_counter() - clock
        clock = time.perf_counter()

    # 1. experts (built when missing) and the base
    experts = {n: str(ensure_expert(n, cfg.experts[n])) for n in names}
    base = resolve_model_path(cfg.model.base)
    lap("experts")
    # 2. the prompt mix, routed by domain to each domain's teacher; the held-out prompts
    rows = subsample(load_prompt_rows(list(cfg.prompts.files), cfg.prompts), cfg.prompts.max_per_domain, cfg.run.seed)
    routed, unrouted = route(rows, cfg.domains)
    eval_rows = {d: subsample(load_prompt_rows(list(dc.eval_files), cfg.prompts, f"domains.{d}.eval_files"),
                              cfg.eval.max_prompts_per_domain, cfg.run.seed) for d, dc in domains.items()}
    pool_domains = {d: (dc.verifier, dict(dc.verifier_options)) for d, dc in domains.items()}
    v = cfg.verifiers
    with VerifierProcessPool(pool_domains, v.processes, v.timeout_s, v.memory_mb) as pool:
        # 3. generate, 4. reject
        samples = generate_for_experts(routed, experts, cfg.generate, cfg.model.dtype)
        lap("generate")
        outcome = filter_samples(samples, cfg.filters, {d: dc.natural_language for d, dc in domains.items()},
                                 pool.score)
        lap("filter")
        log.info("samples: %d generated, %d kept, rejected %s", outcome.generated, len(outcome.kept),
                 dict(outcome.rejected))
        if not outcome.kept:
            raise RuntimeError(f"no sample survived the filters (rejected: {dict(outcome.rejected)}); lower "
                               "filters.min_score, raise generate.samples_per_prompt, or check the experts")
        # 5. the student, from the base, on the kept samples (the SFT trainer)
        student = str(train_sft(student_config(cfg, experts, *write_student_data(cfg, outcome, run_dir), run_dir)))
        lap("student")
        models = {"base": base, **experts, "student": student}
        if cfg.on_policy.steps:  # 5b. on-policy distillation: the refined model becomes the report's student
            models["student_sft"] = student
            models["student"] = str(_on_policy(cfg, student, experts, routed, run_dir))
            lap("on_policy")
        if cfg.run.weight_average and len(experts) > 1:
            models["weight_average"] = str(weight_average(list(experts.values()), run_dir / "weight_average"))
        # 6. held-out scores
        scores = {m: evaluate_checkpoint(p, m, eval_rows, cfg.generate, cfg.eval, cfg.model.dtype, pool.score)
                  for m, p in models.items()}
        lap("evaluate")
    report = build_report(list(domains), names, scores, outcome)
    details = {
        "teachers": {d: dc.expert for d, dc in domains.items()}, "checkpoints": models,
        "prompts_per_teacher": {n: len(r) for n, r in routed.items()}, "unrouted_prompts": dict(unrouted),
        "samples_per_domain": {d: dict(c) for d, c in outcome.per_domain.items()},
        "rejected_examples": {r: {"domain": s.prompt.domain, "prompt": s.prompt.prompt, "response": s.response}
                              for r, s in outcome.examples.items()},
        "eval": {m: {d: vars(s) for d, s in per.items()} for m, per in scores.items()},
        "seconds": seconds,
    }
    path = write_report(run_dir, report, details)
    log.info("merge report: %s (%.0fs)", path, sum(seconds.values()))
    return report


if __name__ == "__main__":
    sys.exit(main())
