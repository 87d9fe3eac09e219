"""Typed configuration of an RL run (OmegaConf structured configs).

Imports nothing heavy (no torch/ray/vllm/deepspeed) so that `--help`, validation and dry runs are instant.
Every field is documented here and in docs/config.md; `rl.config_load` merges YAML + CLI overrides on top of
these dataclasses with strict keys and types, then `validate()` checks values that types cannot express.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

# Allowed values for enumerated string fields, used by validation and by error messages.
CHOICES: dict[str, tuple[str, ...]] = {
    "model.dtype": ("float32", "bfloat16", "float16"),
    "rollout.engine": ("hf", "vllm"),
    "rollout.mode": ("sync", "async"),
    "rollout.weight_sync": ("object_store", "nccl", "gloo", "cuda_ipc"),
    "algo.objective": ("mispo", "pg", "ppo_clip", "tis", "icepop", "gspo"),
    "algo.advantage": ("gae", "grpo", "group_mean", "rloo"),
    "algo.loss_agg": ("token_mean", "seq_mean_token_sum", "seq_mean_token_mean"),
    "logging.wandb.mode": ("offline", "online", "disabled"),
}


@dataclass
class ModelConfig:
    """The policy. `path` is a local HF directory, a hub id (where a hub is reachable), or `mispo-tiny`: the
    project's own tiny base model, built deterministically into the cache ($MISPO_CACHE, default
    ~/.cache/mispo) when missing."""

    path: str = MISSING
    dtype: str = "float32"  # learner and engine compute dtype; bfloat16 on GPUs
    gradient_checkpointing: bool = False


@dataclass
class DataConfig:
    """Prompt datasets (local jsonl/parquet read through HF `datasets`). Each row needs a prompt and a domain
    (from the row's `domain_key` field or from `default_domain`); rows missing either are reported and skipped."""

    train_files: list[str] = MISSING
    domain_weights: dict[str, float] = MISSING  # sampling weight per domain in each step's prompt batch
    prompt_key: str = "prompt"  # a string (chat template applied) or a list of chat messages
    reference_key: str = "reference"  # ground truth handed to the verifier
    domain_key: str = "domain"
    default_domain: Optional[str] = None  # used when a row has no domain field
    max_prompt_tokens: int = 256  # longer prompts are reported and skipped
    apply_chat_template: bool = True


@dataclass
class VLLMOptions:
    """Settings of the vLLM engine (rollout.engine=vllm). On CPU, gpu_memory_utilization is the share of host RAM
    reserved for the KV cache."""

    gpu_memory_utilization: float = 0.2
    enforce_eager: bool = True  # no graph capture/compilation: right for tiny models and tests; false on GPUs
    max_model_len: Optional[int] = 1024
    seed: int = 0


@dataclass
class HFOptions:
    """Settings of the HF engine (rollout.engine=hf)."""

    static_cache: bool = False  # static KV cache + compiled decoding on CUDA (scripts/bench/hf_generate.py)


@dataclass
class AgentEnvConfig:
    """The environment of one multi-turn domain: `terminal` (Docker terminal tasks; rows name a `task_dir`) or
    `python` (a Python code tool; rows carry io_pairs/stdio tests), with its keyword options."""

    env: str = MISSING
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class AgentConfig:
    """Multi-turn episodes (token in, token out) for the domains listed here; other domains stay single-turn.
    The reward of an agent domain comes from its environment: configure `rewards.domains.<d>.verifier: env`."""

    domains: dict[str, AgentEnvConfig] = field(default_factory=dict)
    max_turns: int = 8
    max_turn_tokens: int = 64  # tokens per policy turn
    max_total_tokens: int = 512  # policy + observation tokens after the prompt
    observation_tokens: int = 256  # an observation longer than this is clipped (head and tail kept)
    wall_s: float = 300.0  # wall-clock limit of one episode
    tool_parser: str = "xml"  # xml (`<tag>...</tag>`) or pkg.module:Class
    tool_tags: list[str] = field(default_factory=lambda: ["bash"])
    concurrency: int = 8  # episodes in flight per rollout worker (one sandbox each)


@dataclass
class RolloutConfig:
    """Generation. `prompts_per_step * samples_per_prompt` trajectories per RL step."""

    engine: str = "hf"
    mode: str = "sync"
    prompts_per_step: int = 32
    samples_per_prompt: int = 8
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    generation_batch_size: int = 256  # sequences per engine call inside one worker
    num_workers: int = 1
    num_cpus_per_worker: float = 0.5  # Ray scheduling share; sync mode never runs roles at the same time
    num_gpus_per_worker: float = 0.0
    torch_threads: int = 0  # intra-op threads for the HF engine; 0 = the machine's cores
    dtype: Optional[str] = None  # engine dtype; null = model.dtype (a lower precision here makes a mismatch)
    sync_interval: int = 1  # push weights every k updates (>1 only for staleness ablations)
    max_staleness: int = 1  # drop trajectories generated more than k policy versions before the update
    stream_chunk_prompts: int = 8  # prompts per rollout call; a finished chunk is scored while the next generates
    partial_rollouts: bool = False  # async only: a weight sync lands mid-generation (between segments / turns)
    segment_tokens: int = 16  # partial rollouts: single-turn completions are generated this many tokens at a time
    weight_sync: str = "object_store"  # object_store | nccl (engine GPUs) | gloo (CPU broadcast) | cuda_ipc (same GPU)
    weight_bucket_mb: int = 256  # bucket size of nccl / gloo / cuda_ipc syncs
    vllm: VLLMOptions = field(default_factory=lambda: VLLMOptions())
    hf: HFOptions = field(default_factory=lambda: HFOptions())
    agent: AgentConfig = field(default_factory=lambda: AgentConfig())


@dataclass
class DomainRewardConfig:
    """Which verifier scores a domain, and its keyword options."""

    verifier: str = MISSING  # a registered name (`math`, ...) or a dotted path `pkg.module:Class`
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class RewardsConfig:
    """Reward workers (Ray actors), each with `processes_per_worker` verifier processes."""

    domains: dict[str, DomainRewardConfig] = MISSING
    num_workers: int = 1
    num_cpus_per_worker: float = 0.5
    processes_per_worker: int = 1
    timeout_s: float = 10.0  # per-sample deadline, enforced by killing the verifier process -> status timeout
    memory_mb: Optional[int] = 4096  # address-space limit per verifier process (null = none)
    max_retries: int = 1  # a sample whose process crashed is retried this many times, then status error


@dataclass
class AlgoConfig:
    """MIS-PO (DESIGN.md section 3). Filters keep a token when token_bounds[0] <= pi_old/pi_rollout <=
    token_bounds[1] and a trajectory when its geometric-mean ratio lies inside traj_bounds."""

    objective: str = "mispo"  # mispo | pg | ppo_clip | tis | icepop | gspo (baselines for ablations)
    advantage: str = "gae"  # gae (critic) | grpo (group-normalised) | group_mean | rloo
    gamma: float = 1.0
    lam: float = 1.0
    truncation_bootstrap: bool = True  # a response cut by the length limit gets R = V(s_T) (gae only)
    token_bounds: list[float] = field(default_factory=lambda: [0.5, 2.0])
    traj_bounds: list[float] = field(default_factory=lambda: [0.996, 1.001])
    adaptive_traj_bounds: bool = False  # widen the trajectory band to keep adaptive_target_keep of trajectories
    adaptive_target_keep: float = 0.9
    adaptive_smoothing: float = 0.5
    loss_agg: str = "token_mean"
    clip_eps: list[float] = field(default_factory=lambda: [0.2, 0.2])  # ppo_clip / tis / icepop
    tis_cap: float = 2.0
    gspo_eps: list[float] = field(default_factory=lambda: [3e-4, 4e-4])
    kl_coef: float = 0.0  # k3 KL to a frozen reference, corrected by pi_theta/pi_old (paper: 0.001, final stage)


@dataclass
class LearnerRoleConfig:
    """Fields shared by the actor and the critic (each its own DeepSpeed group)."""

    lr: float = 2e-6
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 0  # linear LR warm-up, in optimizer steps
    grad_clip: float = 1.0
    mini_batches: int = 4  # optimizer steps per RL step (1 epoch over the rollout batch)
    micro_batch_size: int = 16  # trajectories per forward/backward
    zero_stage: int = 1
    num_workers: int = 1  # data-parallel ranks
    num_cpus_per_worker: float = 1.0
    num_gpus_per_worker: float = 0.0
    torch_threads: int = 0  # 0 = the machine's cores


@dataclass
class ActorConfig(LearnerRoleConfig):
    """The policy learner."""


@dataclass
class CriticConfig(LearnerRoleConfig):
    """The value model (LM backbone + scalar head), used when algo.advantage == gae."""

    lr: float = 5e-6
    mini_batches: int = 12
    value_clip: Optional[float] = None  # clipped value loss when set (e.g. 0.2)
    actor_freeze_steps: int = 0  # critic warm-up: RL steps in which only the critic trains
    num_cpus_per_worker: float = 0.5


@dataclass
class WandbConfig:
    mode: str = "offline"  # offline by default: no network, no key needed; `online` needs WANDB_API_KEY
    project: str = "mispo"
    entity: Optional[str] = None


@dataclass
class LoggingConfig:
    wandb: WandbConfig = field(default_factory=WandbConfig)
    progress_bar: bool = True
    level: str = "INFO"


@dataclass
class RayConfig:
    address: Optional[str] = None  # null: start a local cluster; "auto" or "ray://host:port" to join one
    num_cpus: Optional[int] = None  # local cluster only; null = all cores


@dataclass
class TrainerConfig:
    total_steps: int = MISSING
    seed: int = 0
    run_name: str = "mispo"
    run_dir: Optional[str] = None  # default runs/<run_name>
    save_every: int = 0  # 0: only the final checkpoint
    log_samples: int = 2  # decoded samples written to samples.jsonl per step


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


def _check_choices(cfg: RLConfig) -> list[str]:
    errors = []
    for dotted, allowed in CHOICES.items():
        value: Any = cfg
        for part in dotted.split("."):
            value = getattr(value, part)
        if value not in allowed:
            errors.append(f"{dotted}: {value!r} is not one of {list(allowed)}; set {dotted}={allowed[0]}")
    return errors


def _check_bounds(name: str, bounds: list[float], errors: list[str]) -> None:
    if len(bounds) != 2 or not (0 < bounds[0] <= bounds[1]):
        errors.append(f"{name}: expected [low, high] with 0 < low <= high, got {list(bounds)}")


def validate_rl_config(cfg: RLConfig) -> list[str]:
    """Checks types cannot express. Returns one message per problem (empty list = valid)."""
    errors = _check_choices(cfg)
    if cfg.rollout.dtype is not None and cfg.rollout.dtype not in CHOICES["model.dtype"]:
        errors.append(f"rollout.dtype: {cfg.rollout.dtype!r} is not one of {list(CHOICES['model.dtype'])} or null")
    positive = {
        "trainer.total_steps": cfg.trainer.total_steps,
        "rollout.prompts_per_step": cfg.rollout.prompts_per_step,
        "rollout.samples_per_prompt": cfg.rollout.samples_per_prompt,
        "rollout.max_new_tokens": cfg.rollout.max_new_tokens,
        "rollout.num_workers": cfg.rollout.num_workers,
        "rollout.generation_batch_size": cfg.rollout.generation_batch_size,
        "rollout.sync_interval": cfg.rollout.sync_interval,
        "rollout.stream_chunk_prompts": cfg.rollout.stream_chunk_prompts,
        "rollout.agent.max_turns": cfg.rollout.agent.max_turns,
        "rollout.agent.max_turn_tokens": cfg.rollout.agent.max_turn_tokens,
        "rollout.agent.max_total_tokens": cfg.rollout.agent.max_total_tokens,
        "rollout.agent.concurrency": cfg.rollout.agent.concurrency,
        "rewards.num_workers": cfg.rewards.num_workers,
        "rewards.processes_per_worker": cfg.rewards.processes_per_worker,
        "rewards.timeout_s": cfg.rewards.timeout_s,
        "actor.mini_batches": cfg.actor.mini_batches,
        "actor.micro_batch_size": cfg.actor.micro_batch_size,
        "actor.num_workers": cfg.actor.num_workers,
        "data.max_prompt_tokens": cfg.data.max_prompt_tokens,
    }
    errors += [f"{k}: must be > 0, got {v}" for k, v in positive.items() if v <= 0]
    if cfg.rollout.max_staleness < 0:
        errors.append(f"rollout.max_staleness: must be >= 0, got {cfg.rollout.max_staleness}")
    needed = cfg.rollout.sync_interval - 1 + (1 if cfg.rollout.mode == "async" else 0)
    if cfg.rollout.max_staleness < needed:
        errors.append(f"rollout.max_staleness: {cfg.rollout.max_staleness} would drop every trajectory at times "
                      f"(mode={cfg.rollout.mode}, sync_interval={cfg.rollout.sync_interval} make them up to "
                      f"{needed} versions old); set rollout.max_staleness={needed}")
    if cfg.rollout.partial_rollouts and cfg.rollout.mode != "async":
        errors.append("rollout.partial_rollouts: only meaningful with rollout.mode=async (in sync mode no weight "
                      "update arrives during generation); set rollout.mode=async or rollout.partial_rollouts=false")
    if cfg.rollout.partial_rollouts and cfg.rollout.segment_tokens <= 0:
        errors.append(f"rollout.segment_tokens: must be > 0 with partial rollouts, got {cfg.rollout.segment_tokens}")
    if cfg.rollout.temperature <= 0:
        errors.append(f"rollout.temperature: must be > 0 (sampling), got {cfg.rollout.temperature}")
    if not 0 < cfg.rollout.top_p <= 1:
        errors.append(f"rollout.top_p: must be in (0, 1], got {cfg.rollout.top_p}")
    if cfg.actor.lr <= 0:
        errors.append(f"actor.lr: must be > 0, got {cfg.actor.lr}")
    for role in ("actor", "critic"):
        if getattr(cfg, role).zero_stage not in (0, 1, 2):
            errors.append(f"{role}.zero_stage: must be 0, 1 or 2 (ZeRO-3 export is not supported yet), "
                          f"got {getattr(cfg, role).zero_stage}")
    _check_bounds("algo.token_bounds", cfg.algo.token_bounds, errors)
    _check_bounds("algo.traj_bounds", cfg.algo.traj_bounds, errors)
    if not 0 < cfg.algo.adaptive_target_keep <= 1:
        errors.append(f"algo.adaptive_target_keep: must be in (0, 1], got {cfg.algo.adaptive_target_keep}")
    if not (0 <= cfg.algo.gamma <= 1 and 0 <= cfg.algo.lam <= 1):
        errors.append(f"algo.gamma / algo.lam: must be in [0, 1], got {cfg.algo.gamma} / {cfg.algo.lam}")
    if cfg.algo.kl_coef < 0:
        errors.append(f"algo.kl_coef: must be >= 0, got {cfg.algo.kl_coef}")
    if cfg.critic.lr <= 0:
        errors.append(f"critic.lr: must be > 0, got {cfg.critic.lr}")
    if not cfg.data.train_files:
        errors.append("data.train_files: empty; list at least one jsonl/parquet file")
    if not cfg.data.domain_weights:
        errors.append("data.domain_weights: empty; give each domain to sample a weight, e.g. {math: 1.0}")
    for domain, weight in cfg.data.domain_weights.items():
        if weight < 0:
            errors.append(f"data.domain_weights.{domain}: must be >= 0, got {weight}")
        if domain not in cfg.rewards.domains:
            errors.append(
                f"data.domain_weights.{domain}: no verifier configured for this domain; add "
                f"rewards.domains.{domain}.verifier (configured domains: {sorted(cfg.rewards.domains)})"
            )
    if cfg.data.domain_weights and sum(cfg.data.domain_weights.values()) <= 0:
        errors.append("data.domain_weights: weights sum to 0; give at least one domain a positive weight")
    for domain, agent_env in cfg.rollout.agent.domains.items():
        if agent_env.env not in ("terminal", "python"):
            errors.append(f"rollout.agent.domains.{domain}.env: {agent_env.env!r} is not one of ['terminal', 'python']")
        verifier = cfg.rewards.domains.get(domain)
        if verifier is None or verifier.verifier != "env":
            errors.append(f"rollout.agent.domains.{domain}: the environment scores this domain; set "
                          f"rewards.domains.{domain}.verifier: env")
    if cfg.rollout.weight_sync == "nccl" and (cfg.rollout.num_gpus_per_worker < 1 or cfg.actor.num_gpus_per_worker <= 0):
        errors.append("rollout.weight_sync: nccl needs the actor on a GPU and each rollout worker on its own GPU "
                      "(rollout.num_gpus_per_worker=1); colocated engines use cuda_ipc, CPU ones gloo or object_store")
    if cfg.rollout.weight_sync == "cuda_ipc" and (cfg.rollout.num_gpus_per_worker <= 0 or
                                                 cfg.actor.num_gpus_per_worker <= 0 or cfg.actor.num_workers != 1):
        errors.append("rollout.weight_sync: cuda_ipc needs the actor (one rank) and the rollout workers sharing "
                      "one GPU (fractional num_gpus_per_worker, e.g. 0.3 each)")
    if cfg.rollout.weight_sync == "cuda_ipc" and cfg.rollout.engine != "hf":
        errors.append("rollout.weight_sync: cuda_ipc is wired for the hf engine; a vllm engine receives weights by "
                      "object_store, nccl or gloo (inside its worker, through the worker extension)")
    if cfg.rollout.engine == "vllm" and cfg.rollout.vllm.max_model_len:
        response = max(cfg.rollout.max_new_tokens,
                       cfg.rollout.agent.max_total_tokens if cfg.rollout.agent.domains else 0)
        longest = cfg.data.max_prompt_tokens + response
        if longest > cfg.rollout.vllm.max_model_len:
            errors.append(f"rollout.vllm.max_model_len: {cfg.rollout.vllm.max_model_len} is shorter than the longest "
                          f"sequence ({longest} = data.max_prompt_tokens + the response budget); raise it or lower "
                          "data.max_prompt_tokens / rollout.max_new_tokens")
    if cfg.rollout.agent.max_turn_tokens > cfg.rollout.agent.max_total_tokens:
        errors.append("rollout.agent.max_turn_tokens: must be <= rollout.agent.max_total_tokens")
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
