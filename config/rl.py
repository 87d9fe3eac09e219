"""Typed configuration of an RL run (`python -m rl.train`): data, algorithm, learners, trainer, and the
sections of the other parts it composes (rollout, rewards, model, logging, Ray).

Imports nothing heavy (no torch/ray/vllm/deepspeed) so that `--help`, validation and dry runs are instant.
Every field is documented here and in docs/config.md; `config.load` merges YAML + CLI overrides on top of
these dataclasses with strict keys and types, then `validate_rl_config()` checks values that types cannot express.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING

from config.common import (
    DTYPES,
    LearnerRoleConfig,
    LoggingConfig,
    ModelConfig,
    RayConfig,
    check_choices,
    check_learner_role,
    check_positive,
)
from config.errors import ConfigError
from config.rewards import RewardsConfig, validate_rewards
from config.rollout import RolloutConfig, validate_rollout

# The paper's MIS-PO bands (Step 3.5 Flash, Sec. 5.2); the one place these defaults are written.
MISPO_TOKEN_BOUNDS: tuple[float, float] = (0.5, 2.0)
MISPO_TRAJ_BOUNDS: tuple[float, float] = (0.996, 1.001)

# Allowed values for enumerated string fields, used by validation and by error messages.
CHOICES: dict[str, tuple[str, ...]] = {
    "model.dtype": DTYPES,
    "algo.objective": ("mispo", "pg", "ppo_clip", "tis", "icepop", "gspo", "gspo_mispo"),
    "algo.advantage": ("gae", "grpo", "group_mean", "rloo"),
    "algo.loss_agg": ("token_mean", "seq_mean_token_sum", "seq_mean_token_mean"),
    "algo.overlong.mode": ("none", "mask", "penalty"),
    "logging.wandb.mode": ("offline", "online", "disabled"),
}


@dataclass
class DataConfig:
    """Prompt datasets, read through HF `datasets` (rl/data.py). `train_files` entries are paths (a .jsonl/.json file,
    a .parquet file, or a directory written by `datasets.save_to_disk`) or mappings `{path, domain, prompt_key,
    answer_key, domain_key, split}` that override the keys below for one file. Each row needs a prompt and a domain
    (a file's fixed `domain`, else the row's `domain_key` field mapped through `domain_map`, else `default_domain`);
    rows missing either are reported and skipped. Keys are dotted paths into nested fields
    (`reward_model.ground_truth`).
    Formats, the field map and a verl parquet example: docs/config.md (data)."""

    train_files: list[Any] = MISSING  # each a path or {path, domain, prompt_key, answer_key, domain_key, split}
    domain_weights: dict[str, float] = MISSING  # sampling weight per domain in each step's prompt batch
    prompt_key: str = "prompt"  # a string (chat template applied) or a list of chat messages [{role, content}]
    answer_key: str = "reference"  # ground truth handed to the verifier (a file without it: reference None)
    domain_key: str = "domain"
    domain_map: dict[str, str] = field(default_factory=dict)  # a domain_key value -> our domain ('openai/gsm8k': math)
    default_domain: Optional[str] = None  # used when a row has no domain field
    max_prompt_tokens: int = 256  # prompt budget (chat template included)
    overlong_prompt: str = "drop"  # drop | truncate (cut the last user message's text from the left: its end stays)
    apply_chat_template: bool = True


DATA_FILE_KEYS = ("path", "domain", "prompt_key", "answer_key", "domain_key", "split")


@dataclass
class DataFile:
    """One entry of `data.train_files` (or an eval file) with every field resolved against `DataConfig`."""

    path: str
    prompt_key: str
    answer_key: str
    domain_key: str
    domain: Optional[str] = None  # fixed domain of every row (the row's domain_key field is then not read)
    split: Optional[str] = None  # save_to_disk directories holding several splits: which one (default: train)


def data_file(entry: Any, data: DataConfig, key: str = "data.train_files") -> DataFile:
    """Resolve one file entry (a path string or a mapping with DATA_FILE_KEYS); raises ConfigError naming `key`."""
    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{key}: expected a path or a mapping {{path, domain, prompt_key, answer_key, domain_key}}, "
                          f"got {entry!r}")
    entry = dict(entry)
    unknown = sorted(set(entry) - set(DATA_FILE_KEYS))
    if unknown:
        raise ConfigError(f"{key}: unknown key(s) {unknown}; allowed keys of a file entry: {list(DATA_FILE_KEYS)}")
    bad = [k for k, v in entry.items() if v is not None and not (isinstance(v, str) and v.strip())]
    if bad or not entry.get("path"):
        problem = f"{bad} must be non-empty strings" if bad else "path is required"
        raise ConfigError(f"{key}: {problem}, e.g. {{path: data/train.parquet, domain: math}}; got {entry!r}")
    if entry.get("domain") and entry.get("domain_key"):
        raise ConfigError(f"{key}: give either domain (fixed for the file) or domain_key (read per row), not both")
    return DataFile(path=entry["path"], prompt_key=entry.get("prompt_key") or data.prompt_key,
                    answer_key=entry.get("answer_key") or data.answer_key,
                    domain_key=entry.get("domain_key") or data.domain_key, domain=entry.get("domain"),
                    split=entry.get("split"))


@dataclass
class DynamicSamplingConfig:
    """DAPO-style dynamic sampling: groups (the samples of one prompt) whose valid rewards all agree carry no
    group-relative signal; drop them and generate more prompts until the batch holds `rollout.prompts_per_step`
    informative groups or `max_rounds` generation rounds (the first included) were used. Short after that, the
    batch is filled with zero-variance groups masked out of the loss (rl/dynamic_sampling.py)."""

    enabled: bool = False
    max_rounds: int = 3  # generation rounds per step, the first one included


@dataclass
class OverlongConfig:
    """Shaping of long responses (rl/algos/overlong.py). `mask`: truncated responses leave the loss (DAPO's overlong
    filtering). `penalty`: DAPO's soft overlong punishment added to the reward, 0 up to L_max - buffer_tokens, then
    linear down to -penalty at L_max (L_max: rollout.max_new_tokens; agent domains: rollout.agent.max_total_tokens).
    With algo.advantage=gae, the truncation bootstrap is the default; the two are exclusive (see docs/mispo.md)."""

    mode: str = "none"  # none | mask | penalty
    buffer_tokens: int = 16  # penalty: length of the soft zone before L_max
    penalty: float = 1.0  # penalty: the reward subtracted at L_max


@dataclass
class AlgoConfig:
    """MIS-PO (DESIGN.md section 3). Filters keep a token when token_bounds[0] <= pi_old/pi_rollout <=
    token_bounds[1] and a trajectory when its geometric-mean ratio lies inside traj_bounds."""

    objective: str = "mispo"  # mispo | pg | ppo_clip | tis | icepop | gspo | gspo_mispo (baselines, docs/mispo.md)
    advantage: str = "gae"  # gae (critic) | grpo (group-normalised) | group_mean | rloo
    gamma: float = 1.0
    lam: float = 1.0
    truncation_bootstrap: bool = True  # a response cut by the length limit gets R = V(s_T) (gae only)
    token_bounds: list[float] = field(default_factory=lambda: list(MISPO_TOKEN_BOUNDS))
    traj_bounds: list[float] = field(default_factory=lambda: list(MISPO_TRAJ_BOUNDS))
    adaptive_traj_bounds: bool = False  # widen the trajectory band to keep adaptive_target_keep of trajectories
    adaptive_target_keep: float = 0.9
    adaptive_smoothing: float = 0.5
    loss_agg: str = "token_mean"
    clip_eps: list[float] = field(default_factory=lambda: [0.2, 0.2])  # ppo_clip / tis / icepop
    tis_cap: float = 2.0
    # icepop: [alpha, beta]; the IS weight pi_old/pi_rollout is kept inside the band and zeroed outside (IcePop's
    # own defaults, not token_bounds)
    icepop_bounds: list[float] = field(default_factory=lambda: [0.5, 5.0])
    gspo_eps: list[float] = field(default_factory=lambda: [3e-4, 4e-4])  # gspo: sequence-ratio clip, GSPO paper
    # gspo_mispo: sequence-ratio clip (low, high) of the Step 3.5 Flash GSPO baseline (with MIS-PO's filters)
    gspo_mispo_eps: list[float] = field(default_factory=lambda: [1e-4, 1e-4])
    kl_coef: float = 0.0  # k3 KL to a frozen reference, corrected by pi_theta/pi_old (paper: 0.001, final stage)
    dynamic_sampling: DynamicSamplingConfig = field(default_factory=DynamicSamplingConfig)
    overlong: OverlongConfig = field(default_factory=OverlongConfig)


@dataclass
class LoraOptions:
    """LoRA adapters for the actor (rl/lora.py, peft). r = 0: full fine-tuning."""

    r: int = 0
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                                 "up_proj", "down_proj"])
    save_merged: bool = True  # checkpoints/final and step HF exports: the merged model besides adapter/


@dataclass
class ActorConfig(LearnerRoleConfig):
    """The policy learner."""

    lora: LoraOptions = field(default_factory=LoraOptions)


@dataclass
class CriticConfig(LearnerRoleConfig):
    """The value model (LM backbone + scalar head), used when algo.advantage == gae."""

    lr: float = 5e-6
    mini_batches: int = 12
    value_clip: Optional[float] = None  # clipped value loss when set (e.g. 0.2)
    actor_freeze_steps: int = 0  # critic warm-up: RL steps in which only the critic trains
    num_cpus_per_worker: float = 0.5


@dataclass
class TrainerConfig:
    total_steps: int = MISSING
    seed: int = 0
    run_name: str = "mispo"
    run_dir: Optional[str] = None  # default runs/<run_name>
    save_every: int = 0  # resumable checkpoint every N steps (and at the last step); 0: only the final HF model
    keep_last: int = 3  # resumable checkpoints kept (older ones deleted after a save); 0 = keep all
    resume: str = "auto"  # auto (newest complete checkpoint of the run dir, if any) | never | PATH of a checkpoint
    resume_allow_changed: list[str] = field(default_factory=list)  # config keys that may differ from the checkpoint's
    max_fault_frac: float = 0.5  # stop when more than this share of a step's samples were lost or errored
    worker_restart_timeout_s: float = 300.0  # a replacement rollout/reward worker must be up within this
    rollout_hang_timeout_s: Optional[float] = None  # a rollout chunk running longer is treated as a dead worker
    log_samples: int = 2  # decoded samples written to samples.jsonl per step
    peak_tflops: Optional[float] = None  # per-device peak for perf/mfu_actor; null = rl/perf.py's table (GPU only)


@dataclass
class EvalConfig:
    """Held-out evaluation through the training engines and verifiers (rl/evaluation.py): before step 1, every
    `every` steps and after the last step. pass@1 is greedy; pass@k is the unbiased estimator over `n` samples at
    `temperature`."""

    files: dict[str, str] = field(default_factory=dict)  # domain -> held-out file (same formats as data.train_files)
    every: int = 0  # also every N steps (0: only before step 1 and after the last step)
    n: int = 4  # sampled completions per prompt for pass@k
    k: list[int] = field(default_factory=lambda: [4])  # pass@k values reported (each <= n)
    temperature: float = 1.0  # of the sampled completions (pass@1 is greedy)
    max_new_tokens: Optional[int] = None  # null: rollout.max_new_tokens
    max_prompts: Optional[int] = None  # per domain: the first N prompts of its file (null: all)
    correct_threshold: float = 1.0  # a sample counts as solved when its score >= this


@dataclass
class RLConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    rewards: RewardsConfig = field(default_factory=RewardsConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    actor: ActorConfig = field(default_factory=ActorConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def _check_bounds(name: str, bounds: list[float], errors: list[str]) -> None:
    if len(bounds) != 2 or not (0 < bounds[0] <= bounds[1]):
        errors.append(f"{name}: expected [low, high] with 0 < low <= high, got {list(bounds)}")


def _validate_algo(cfg: RLConfig) -> list[str]:
    errors: list[str] = []
    _check_bounds("algo.token_bounds", cfg.algo.token_bounds, errors)
    _check_bounds("algo.traj_bounds", cfg.algo.traj_bounds, errors)
    _check_bounds("algo.icepop_bounds", cfg.algo.icepop_bounds, errors)
    if len(cfg.algo.icepop_bounds) == 2 and not cfg.algo.icepop_bounds[0] <= 1.0 <= cfg.algo.icepop_bounds[1]:
        errors.append(f"algo.icepop_bounds: [alpha, beta] must contain 1 (on-policy tokens), got "
                      f"{list(cfg.algo.icepop_bounds)}; IcePop's defaults are [0.5, 5.0]")
    for key in ("gspo_eps", "gspo_mispo_eps"):
        eps = getattr(cfg.algo, key)
        if len(eps) != 2 or not all(0 <= e < 1 for e in eps):
            errors.append(f"algo.{key}: expected [low, high] with 0 <= eps < 1, got {list(eps)}")
    if not 0 < cfg.algo.adaptive_target_keep <= 1:
        errors.append(f"algo.adaptive_target_keep: must be in (0, 1], got {cfg.algo.adaptive_target_keep}")
    if not (0 <= cfg.algo.gamma <= 1 and 0 <= cfg.algo.lam <= 1):
        errors.append(f"algo.gamma / algo.lam: must be in [0, 1], got {cfg.algo.gamma} / {cfg.algo.lam}")
    if cfg.algo.kl_coef < 0:
        errors.append(f"algo.kl_coef: must be >= 0, got {cfg.algo.kl_coef}")
    for role in ("actor", "critic"):
        if getattr(cfg, role).lr <= 0:
            errors.append(f"{role}.lr: must be > 0, got {getattr(cfg, role).lr}")
        errors += check_learner_role(role, getattr(cfg, role))
        if getattr(cfg, role).master_weights == "flat" and cfg.model.dtype != "bfloat16":
            errors.append(f"{role}.master_weights: flat keeps fp32 master weights for bf16 compute; set "
                          f"model.dtype=bfloat16, or {role}.master_weights=auto")
    return errors


def _validate_shaping(cfg: RLConfig) -> list[str]:
    """Dynamic sampling, overlong shaping, and their joints with the critic's truncation bootstrap."""
    errors: list[str] = []
    ds, ov = cfg.algo.dynamic_sampling, cfg.algo.overlong
    if ds.max_rounds < 1:
        errors.append(f"algo.dynamic_sampling.max_rounds: must be >= 1 (rounds per step, the first included), "
                      f"got {ds.max_rounds}")
    if ds.enabled and cfg.rollout.samples_per_prompt < 2:
        errors.append("algo.dynamic_sampling.enabled: a group of one sample never has reward variance; set "
                      "rollout.samples_per_prompt >= 2 or algo.dynamic_sampling.enabled=false")
    if ov.mode == "penalty":
        budgets = {"rollout.max_new_tokens": cfg.rollout.max_new_tokens}
        if cfg.rollout.agent.domains:
            budgets["rollout.agent.max_total_tokens"] = cfg.rollout.agent.max_total_tokens
        for key, budget in budgets.items():
            if not 0 < ov.buffer_tokens <= budget:
                errors.append(f"algo.overlong.buffer_tokens: must be in [1, {key}={budget}], got {ov.buffer_tokens}")
        if ov.penalty < 0:
            errors.append(f"algo.overlong.penalty: must be >= 0 (the reward subtracted at L_max), got {ov.penalty}")
    if ov.mode != "none" and cfg.algo.advantage == "gae" and cfg.algo.truncation_bootstrap:
        errors.append(f"algo.overlong.mode: {ov.mode} and algo.truncation_bootstrap (GAE) both decide what a truncated "
                      "response's return is; set algo.truncation_bootstrap=false to shape with the critic, or "
                      "algo.overlong.mode=none to keep the bootstrap (the GAE default)")
    if cfg.trainer.peak_tflops is not None and cfg.trainer.peak_tflops <= 0:
        errors.append(f"trainer.peak_tflops: must be > 0 (per-device peak TFLOP/s) or null, got "
                      f"{cfg.trainer.peak_tflops}")
    return errors


def _validate_data(cfg: RLConfig) -> list[str]:
    errors: list[str] = []
    d = cfg.data
    if not d.train_files:
        errors.append("data.train_files: empty; list at least one jsonl/parquet file or save_to_disk directory")
    if not d.domain_weights:
        errors.append("data.domain_weights: empty; give each domain to sample a weight, e.g. {math: 1.0}")
    configured = sorted(cfg.rewards.domains)

    def need_verifier(key: str, domain: str) -> None:
        if domain not in cfg.rewards.domains:
            errors.append(f"{key}: no verifier configured for domain {domain!r}; add rewards.domains.{domain}.verifier "
                          f"(configured domains: {configured})")

    for domain, weight in d.domain_weights.items():
        if weight < 0:
            errors.append(f"data.domain_weights.{domain}: must be >= 0, got {weight}")
        need_verifier(f"data.domain_weights.{domain}", domain)
    if d.domain_weights and sum(d.domain_weights.values()) <= 0:
        errors.append("data.domain_weights: weights sum to 0; give at least one domain a positive weight")
    for i, entry in enumerate(d.train_files or []):
        try:
            spec = data_file(entry, d, f"data.train_files[{i}]")
        except ConfigError as exc:
            errors.append(str(exc))
            continue
        if spec.domain is not None and spec.domain not in d.domain_weights:
            errors.append(f"data.train_files[{i}].domain: {spec.domain!r} is not in data.domain_weights, so every row "
                          f"of {spec.path} would be skipped; add data.domain_weights.{spec.domain}: 1.0"
                          + ("" if spec.domain in cfg.rewards.domains else
                             f" and rewards.domains.{spec.domain}.verifier"))
    for value, domain in d.domain_map.items():
        need_verifier(f"data.domain_map[{value!r}]", domain)
    if d.default_domain is not None:
        need_verifier("data.default_domain", d.default_domain)
    for name in ("prompt_key", "answer_key", "domain_key"):
        if not getattr(d, name).strip():
            errors.append(f"data.{name}: empty; name a field of the rows (a dotted path for a nested one, e.g. "
                          "reward_model.ground_truth)")
    if d.overlong_prompt not in ("drop", "truncate"):
        errors.append(f"data.overlong_prompt: expected drop or truncate, got {d.overlong_prompt!r}")
    for domain in cfg.rollout.agent.domains:
        verifier = cfg.rewards.domains.get(domain)
        if verifier is None or verifier.verifier != "env":
            errors.append(f"rollout.agent.domains.{domain}: the environment scores this domain; set "
                          f"rewards.domains.{domain}.verifier: env")
    return errors


def _validate_placement(cfg: RLConfig) -> list[str]:
    """Checks that join the rollout section with the learners and the data (weight sync, context length)."""
    errors: list[str] = []
    ro = cfg.rollout
    if ro.weight_sync == "nccl" and (ro.num_gpus_per_worker < 1 or cfg.actor.num_gpus_per_worker <= 0):
        errors.append("rollout.weight_sync: nccl needs the actor on a GPU and each rollout worker on its own GPU "
                      "(rollout.num_gpus_per_worker=1); colocated engines use cuda_ipc, CPU ones gloo or object_store")
    if ro.weight_sync == "cuda_ipc" and (ro.num_gpus_per_worker <= 0 or cfg.actor.num_gpus_per_worker <= 0
                                         or cfg.actor.num_workers != 1):
        errors.append("rollout.weight_sync: cuda_ipc needs the actor (one rank) and the rollout workers sharing "
                      "one GPU (fractional num_gpus_per_worker, e.g. 0.3 each)")
    if ro.engine == "vllm" and ro.vllm.max_model_len:
        response = max(ro.max_new_tokens, ro.agent.max_total_tokens if ro.agent.domains else 0)
        longest = cfg.data.max_prompt_tokens + response
        if longest > ro.vllm.max_model_len:
            errors.append(f"rollout.vllm.max_model_len: {ro.vllm.max_model_len} is shorter than the longest "
                          f"sequence ({longest} = data.max_prompt_tokens + the response budget); raise it or lower "
                          "data.max_prompt_tokens / rollout.max_new_tokens")
    return errors


def _validate_batch_split(cfg: RLConfig) -> list[str]:
    errors: list[str] = []
    batch = cfg.rollout.prompts_per_step * cfg.rollout.samples_per_prompt
    per_rank = cfg.actor.mini_batches * cfg.actor.num_workers
    crit_rank = cfg.critic.mini_batches * cfg.critic.num_workers
    if cfg.algo.advantage == "gae" and batch % crit_rank:
        errors.append(
            f"critic.mini_batches: {batch} trajectories per step do not split into {cfg.critic.mini_batches} "
            f"mini-batches x {cfg.critic.num_workers} critic ranks; choose values whose product divides {batch}"
        )
    if batch % per_rank:
        errors.append(
            f"actor.mini_batches: {batch} trajectories per step (rollout.prompts_per_step x "
            f"rollout.samples_per_prompt) do not split into {cfg.actor.mini_batches} mini-batches x "
            f"{cfg.actor.num_workers} learner ranks; choose values whose product divides {batch}"
        )
    return errors


def validate_rl_config(cfg: RLConfig) -> list[str]:
    """Checks types cannot express. Returns one message per problem (empty list = valid)."""
    errors = check_choices(cfg, CHOICES)
    errors += validate_rollout(cfg.rollout)
    errors += validate_rewards(cfg.rewards)
    errors += check_positive({
        "trainer.total_steps": cfg.trainer.total_steps, "actor.mini_batches": cfg.actor.mini_batches,
        "actor.micro_batch_size": cfg.actor.micro_batch_size, "actor.num_workers": cfg.actor.num_workers,
        "data.max_prompt_tokens": cfg.data.max_prompt_tokens})
    errors += _validate_algo(cfg)
    errors += _validate_shaping(cfg)
    errors += _validate_data(cfg)
    errors += _validate_placement(cfg)
    errors += _validate_batch_split(cfg)
    errors += _validate_trainer(cfg)
    errors += _validate_eval(cfg)
    errors += _validate_lora(cfg)
    return errors


def _validate_lora(cfg: RLConfig) -> list[str]:
    lora = cfg.actor.lora
    errors = []
    if lora.r < 0 or lora.alpha <= 0 or not 0 <= lora.dropout < 1:
        errors.append(f"actor.lora: need r >= 0, alpha > 0, 0 <= dropout < 1; got r={lora.r}, alpha={lora.alpha}, "
                      f"dropout={lora.dropout}")
    if lora.r > 0 and cfg.actor.zero_stage == 3:
        errors.append("actor.lora: LoRA runs with ZeRO 0-2 (the adapters are small; the frozen base is not sharded); "
                      "set actor.zero_stage=2 or actor.lora.r=0")
    if lora.r > 0 and not lora.target_modules:
        errors.append("actor.lora.target_modules: empty; name the linear layers to adapt, e.g. [q_proj, v_proj]")
    return errors


def _validate_eval(cfg: RLConfig) -> list[str]:
    e = cfg.eval
    errors = []
    for domain, path in e.files.items():
        if domain not in cfg.rewards.domains:
            errors.append(f"eval.files.{domain}: no verifier for domain {domain!r}; add rewards.domains.{domain} "
                          f"or remove the file")
        if not Path(path).exists():
            errors.append(f"eval.files.{domain}: {path} does not exist")
    if e.n < 1 or e.every < 0:
        errors.append(f"eval.n must be >= 1 and eval.every >= 0, got n={e.n}, every={e.every}")
    bad = [k for k in e.k if not 1 <= k <= e.n]
    if bad:
        errors.append(f"eval.k: {bad} not in [1, eval.n={e.n}]; raise eval.n or lower k")
    if e.temperature <= 0:
        errors.append(f"eval.temperature: must be > 0 (pass@1 is already greedy), got {e.temperature}")
    return errors


def _validate_trainer(cfg: RLConfig) -> list[str]:
    t = cfg.trainer
    errors = []
    if t.save_every < 0 or t.keep_last < 0:
        errors.append(f"trainer.save_every / trainer.keep_last: must be >= 0, got {t.save_every} / {t.keep_last}")
    if not t.resume:
        errors.append("trainer.resume: expected auto, never or the path of a checkpoint directory, got an empty value")
    if not 0.0 <= t.max_fault_frac <= 1.0:
        errors.append(f"trainer.max_fault_frac: must be in [0, 1] (1 = never stop for faults), got {t.max_fault_frac}")
    if t.rollout_hang_timeout_s is not None and t.rollout_hang_timeout_s <= 0:
        errors.append(f"trainer.rollout_hang_timeout_s: must be > 0 or null (off), got {t.rollout_hang_timeout_s}")
    if t.worker_restart_timeout_s <= 0:
        errors.append(f"trainer.worker_restart_timeout_s: must be > 0, got {t.worker_restart_timeout_s}")
    return errors
