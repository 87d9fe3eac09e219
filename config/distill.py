"""Typed configuration of the self-distillation merge (`python -m distill.merge --config distill_merge.yaml`).

Imports nothing heavy (no torch/deepspeed). Every field is documented here and in docs/distill.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection, Optional

from omegaconf import MISSING

from config.common import LoggingConfig
from config.sft import CHOICES as SFT_CHOICES
from config.sft import SFTOptimConfig


@dataclass
class MergeModelConfig:
    base: str = MISSING  # the base checkpoint: the student starts here (HF dir or mispo-tiny)
    dtype: str = "float32"  # engine dtype for generation and evaluation (bfloat16 on GPUs)


@dataclass
class ExpertConfig:
    """One domain expert. With `checkpoint` set, that HF directory is used as is. Otherwise it is built when
    missing (or when its SFT config changed): SFT with `sft_config` (+ `sft_overrides`) from its own model.path,
    then, when `rl_config` is set, domain RL (`python -m rl.train`) starting from the SFT checkpoint."""

    sft_config: Optional[str] = None  # a configs/ name or a path, e.g. sft_math_expert.yaml
    sft_overrides: list[str] = field(default_factory=list)
    rl_config: Optional[str] = None  # optional domain RL after SFT, e.g. mispo_math_code.yaml
    rl_overrides: list[str] = field(default_factory=list)
    checkpoint: Optional[str] = None


@dataclass
class DomainConfig:
    """A domain of the shared prompt mix: its teacher, its verifier, its held-out prompts."""

    expert: str = MISSING  # the name (under `experts`) that generates for this domain's prompts
    verifier: str = MISSING  # a registered verifier name (`math`, `code`, ...) or `pkg.module:Class`
    verifier_options: dict[str, Any] = field(default_factory=dict)
    eval_files: list[str] = MISSING  # held-out prompts (same row format as prompts.files)
    natural_language: bool = True  # the language-mixing filter applies to this domain's responses
    student_repeat: int = 1  # the student trains on each kept sample of this domain this many times per epoch
    enabled: bool = True  # false: the domain's prompts are skipped and its expert is not built


@dataclass
class PromptsConfig:
    """The shared prompt mix (jsonl/parquet rows with a prompt, a reference and a domain); each row goes to its
    domain's expert. Other row fields reach the verifier as metadata (for example `io_pairs` for code)."""

    files: list[str] = MISSING
    prompt_key: str = "prompt"
    reference_key: str = "reference"
    domain_key: str = "domain"
    max_per_domain: int = 0  # > 0: a deterministic subset of at most this many prompts per domain


@dataclass
class GenerateConfig:
    """Sampling of the experts (and of the evaluation, with `eval`'s temperature and count)."""

    engine: str = "hf"  # rollout engine: hf | vllm
    samples_per_prompt: int = 4  # K
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 64
    batch_size: int = 256  # sequences per engine call
    torch_threads: int = 0  # HF engine threads; 0 = the machine's cores
    seed: int = 0


@dataclass
class FilterConfig:
    """Rejection of generated samples. Each rejected sample counts under its first failing reason, in order:
    too_long, repetition, language_mixing, duplicate, verifier_error, low_score."""

    min_score: float = 1.0  # verifier score needed to keep a sample
    max_response_tokens: int = 0  # > 0: longer responses are rejected; truncated responses always are
    repeat_ngram: int = 4
    max_repeat_frac: float = 0.5  # rejected when 1 - distinct/total word n-grams exceeds this
    max_script_mix: float = 0.05  # natural-language domains: rejected when letters outside the main script exceed it
    dedupe: bool = True  # identical responses to one prompt are kept once


@dataclass
class EvalConfig:
    """Held-out score per domain: mean verifier score of low-temperature samples on `domains.<d>.eval_files`."""

    samples_per_prompt: int = 1
    temperature: float = 0.05  # near-greedy (engines sample; must be > 0)
    max_new_tokens: int = 64
    max_prompts_per_domain: int = 0  # > 0: a deterministic subset
    seed: int = 0


@dataclass
class VerifierPoolConfig:
    processes: int = 2
    timeout_s: float = 30.0  # per sample; a timeout is a verifier failure (rejection reason verifier_error)
    memory_mb: Optional[int] = 4096


@dataclass
class TopkLogitsConfig:
    """Token-level distillation on the experts' top-k logits (off while topk = 0): at every response position the
    student also matches the top-k next-token distribution of the sample's teacher, the expert of its domain.
    Per position: loss = (1 - alpha) * NLL + alpha * cross-entropy(teacher top-k softmax, student), at temperature."""

    topk: int = 0
    alpha: float = 0.5
    temperature: float = 1.0


@dataclass
class StudentConfig:
    """The merged student: SFT (sft/ trainer) from model.base on the kept samples."""

    epochs: int = 4
    max_steps: int = 0
    max_seq_len: int = 256
    pack_len: int = 512
    packing: bool = True
    attention: str = "position_ids"
    eval_fraction: float = 0.05
    dtype: str = "auto"
    optim: SFTOptimConfig = field(default_factory=SFTOptimConfig)
    topk_logits: TopkLogitsConfig = field(default_factory=TopkLogitsConfig)


@dataclass
class OnPolicyConfig:
    """On-policy distillation after the student's SFT (off while steps = 0): the student samples, the expert of
    each prompt's domain scores the sampled tokens, and the student follows the per-token reverse-KL signal
    log p_teacher - log p_student (policy gradient). The report's `student` is then the refined model."""

    steps: int = 0
    prompts_per_step: int = 16
    samples_per_prompt: int = 2
    temperature: float = 1.0
    max_new_tokens: int = 64
    lr: float = 1e-4
    micro_batch_size: int = 32
    torch_threads: int = 0


@dataclass
class RunConfig:
    name: str = "distill_merge"
    dir: Optional[str] = None  # default runs/<name>
    seed: int = 0
    weight_average: bool = True  # also evaluate a plain parameter average of the experts (the baseline)


@dataclass
class MergeConfig:
    model: MergeModelConfig = field(default_factory=MergeModelConfig)
    experts: dict[str, ExpertConfig] = MISSING
    domains: dict[str, DomainConfig] = MISSING
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    verifiers: VerifierPoolConfig = field(default_factory=VerifierPoolConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    on_policy: OnPolicyConfig = field(default_factory=OnPolicyConfig)
    run: RunConfig = field(default_factory=RunConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)


def enabled_domains(cfg: MergeConfig) -> dict[str, DomainConfig]:
    return {d: dc for d, dc in cfg.domains.items() if dc.enabled}


def used_experts(cfg: MergeConfig) -> list[str]:
    """Experts that teach at least one enabled domain, in config order."""
    teachers = {dc.expert for dc in enabled_domains(cfg).values()}
    return [name for name in cfg.experts if name in teachers]


def _check_domains(cfg: MergeConfig, known: Collection[str] | None, errors: list[str]) -> None:
    if not enabled_domains(cfg):
        errors.append("domains: none enabled; enable at least one (domains.<name>.enabled=true)")
    for d, dc in enabled_domains(cfg).items():
        if dc.expert not in cfg.experts:
            errors.append(f"domains.{d}.expert: {dc.expert!r} is not under experts (have {sorted(cfg.experts)}); "
                          f"add experts.{dc.expert} or pick one of those")
        if known is not None and dc.verifier not in known and ":" not in dc.verifier:
            errors.append(f"domains.{d}.verifier: {dc.verifier!r} is not registered (known: {sorted(known)}); "
                          f"install it, use 'pkg.module:Class', or skip the domain with domains.{d}.enabled=false")
        if dc.student_repeat < 1:
            errors.append(f"domains.{d}.student_repeat: must be >= 1, got {dc.student_repeat}")
        if not dc.eval_files:
            errors.append(f"domains.{d}.eval_files: empty; list held-out prompt files for domain {d}")


def validate_merge_config(cfg: MergeConfig, known_verifiers: Collection[str] | None = None) -> list[str]:
    """Checks types cannot express; one message per problem (empty list = valid). known_verifiers: the names the
    verifier registry knows (distill.merge passes them; config/ never imports rewards/); None skips that check."""
    errors: list[str] = []
    _check_domains(cfg, known_verifiers, errors)
    for name in used_experts(cfg):
        e = cfg.experts[name]
        if not e.checkpoint and not e.sft_config:
            errors.append(f"experts.{name}: set sft_config (to build it) or checkpoint (an existing HF directory)")
    if cfg.generate.engine not in ("hf", "vllm"):
        errors.append(f"generate.engine: {cfg.generate.engine!r} is not one of ['hf', 'vllm']; set generate.engine=hf")
    g = cfg.generate
    positive = {"generate.samples_per_prompt": g.samples_per_prompt, "generate.temperature": g.temperature,
                "generate.max_new_tokens": g.max_new_tokens,
                "generate.batch_size": g.batch_size, "eval.samples_per_prompt": cfg.eval.samples_per_prompt,
                "eval.temperature": cfg.eval.temperature, "eval.max_new_tokens": cfg.eval.max_new_tokens,
                "filters.repeat_ngram": cfg.filters.repeat_ngram, "verifiers.processes": cfg.verifiers.processes,
                "verifiers.timeout_s": cfg.verifiers.timeout_s, "student.epochs": cfg.student.epochs,
                "student.optim.lr": cfg.student.optim.lr}
    errors += [f"{k}: must be > 0, got {v}" for k, v in positive.items() if v <= 0]
    op = cfg.on_policy
    if op.steps < 0:
        errors.append(f"on_policy.steps: must be >= 0 (0 = off), got {op.steps}")
    if op.steps:
        errors += [f"on_policy.{k}: must be > 0, got {v}" for k, v in (
            ("prompts_per_step", op.prompts_per_step), ("samples_per_prompt", op.samples_per_prompt),
            ("temperature", op.temperature), ("max_new_tokens", op.max_new_tokens), ("lr", op.lr),
            ("micro_batch_size", op.micro_batch_size)) if v <= 0]
    if not 0 < cfg.generate.top_p <= 1:
        errors.append(f"generate.top_p: must be in (0, 1], got {cfg.generate.top_p}")
    for key, value in (("filters.max_repeat_frac", cfg.filters.max_repeat_frac),
                       ("filters.max_script_mix", cfg.filters.max_script_mix)):
        if not 0 <= value <= 1:
            errors.append(f"{key}: must be in [0, 1], got {value}")
    for key, choice in (("student.attention", "data.attention"), ("student.dtype", "model.dtype")):
        value = getattr(cfg.student, key.split(".")[1])
        if value not in SFT_CHOICES[choice]:
            errors.append(f"{key}: {value!r} is not one of {list(SFT_CHOICES[choice])}")
    if cfg.student.packing and cfg.student.pack_len < cfg.student.max_seq_len:
        errors.append(f"student.pack_len: {cfg.student.pack_len} < student.max_seq_len={cfg.student.max_seq_len}; "
                      f"raise student.pack_len")
    if not cfg.prompts.files:
        errors.append("prompts.files: empty; list the shared prompt mix (jsonl/parquet)")
    return errors
