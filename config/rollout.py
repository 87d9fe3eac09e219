"""Config of the rollout side: engines (HF, vLLM), rollout workers, the multi-turn agent loop, weight sync.

`RolloutWorker(cfg.rollout, ...)` receives this section and nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

from config.common import DTYPES, check_choices, check_positive

WEIGHT_SYNC_METHODS = ("object_store", "nccl", "gloo", "cuda_ipc")
AGENT_ENVS = ("terminal", "python")
CHOICES: dict[str, tuple[str, ...]] = {
    "engine": ("hf", "vllm"),
    "mode": ("sync", "async"),
    "weight_sync": WEIGHT_SYNC_METHODS,
    "hf.decoder": ("auto", "own", "generate"),
}


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

    # auto: the own decoding loop (preallocated KV cache, sampling on the device, one CUDA graph per step on CUDA)
    # for the models it supports, model.generate otherwise; own | generate force one (rollout/static_decoder.py)
    decoder: str = "auto"
    cuda_graphs: bool = True  # own decoder on CUDA: replay the captured step (false: the same step, eager)
    compile: bool = False  # own decoder: torch.compile the step's forward before capture (fuses small kernels)
    static_cache: bool = False  # decoder=generate: transformers' static KV cache, compiled on CUDA


@dataclass
class AgentEnvConfig:
    """The environment of one multi-turn domain: `terminal` (Docker terminal tasks; rows name a `task_dir`) or
    `python` (a Python code tool; rows carry io_pairs/stdio tests), with its keyword options."""

    env: str = MISSING
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class AgentConfig:
    """Multi-turn episodes (token in, token out) for the domains listed here; other domains stay single-turn.
    The reward of an agent domain comes from its environment: configure `rewards.domains.<d>.verifier: env`.
    These are also the agent loop's limits (rollout.agent_loop reads them from here; no second set of defaults)."""

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
    resources: dict[str, float] = field(default_factory=dict)  # custom Ray resources per worker (node placement)
    torch_threads: int = 0  # intra-op threads for the HF engine; 0 = the machine's cores
    dtype: Optional[str] = None  # engine dtype; null = model.dtype (a lower precision here makes a mismatch)
    sync_interval: int = 1  # push weights every k updates (>1 only for staleness ablations)
    max_staleness: int = 1  # drop trajectories generated more than k policy versions before the update
    # prompts per rollout call; a finished chunk is scored while the next generates (worth it with slow verifiers:
    # code/terminal sandboxes). 0: one call per worker per step (the prompts split evenly), the fastest generation
    stream_chunk_prompts: int = 0
    # sync mode, hf engine: after each step's generation free the engine's KV cache and captured graphs until its
    # next call, so a learner sharing the GPU (colocated layout) gets that memory; costs a re-allocation and graph
    # capture per step (docs/gpu.md)
    release_memory: bool = False
    partial_rollouts: bool = False  # async only: a weight sync lands mid-generation (between segments / turns)
    segment_tokens: int = 16  # partial rollouts: single-turn completions are generated this many tokens at a time
    weight_sync: str = "object_store"  # object_store | nccl (engine GPUs) | gloo (CPU broadcast) | cuda_ipc (same GPU)
    weight_bucket_mb: int = 256  # bucket size of nccl / gloo / cuda_ipc syncs
    vllm: VLLMOptions = field(default_factory=lambda: VLLMOptions())
    hf: HFOptions = field(default_factory=lambda: HFOptions())
    agent: AgentConfig = field(default_factory=lambda: AgentConfig())

    def engine_dtype(self, model_dtype: str) -> str:
        """The engine's compute dtype: `dtype`, or the model's when unset."""
        return self.dtype or model_dtype

    def engine_options(self) -> dict[str, Any]:
        """Keyword options of the selected engine (its own section)."""
        import dataclasses

        return dataclasses.asdict(self.vllm if self.engine == "vllm" else self.hf)

    @property
    def effective_segment_tokens(self) -> int:
        """Tokens per generation segment: 0 (one call per completion) unless partial rollouts are on."""
        return self.segment_tokens if self.partial_rollouts else 0


def validate_rollout(cfg: RolloutConfig) -> list[str]:
    """Checks of the rollout section alone; keys are reported as `rollout.<key>`."""
    errors = check_choices(cfg, CHOICES, "rollout.")
    if cfg.dtype is not None and cfg.dtype not in DTYPES:
        errors.append(f"rollout.dtype: {cfg.dtype!r} is not one of {list(DTYPES)} or null")
    errors += check_positive({
        "rollout.prompts_per_step": cfg.prompts_per_step, "rollout.samples_per_prompt": cfg.samples_per_prompt,
        "rollout.max_new_tokens": cfg.max_new_tokens, "rollout.num_workers": cfg.num_workers,
        "rollout.generation_batch_size": cfg.generation_batch_size, "rollout.sync_interval": cfg.sync_interval,
        "rollout.agent.max_turns": cfg.agent.max_turns,
        "rollout.agent.max_turn_tokens": cfg.agent.max_turn_tokens,
        "rollout.agent.max_total_tokens": cfg.agent.max_total_tokens,
        "rollout.agent.concurrency": cfg.agent.concurrency})
    if cfg.max_staleness < 0:
        errors.append(f"rollout.max_staleness: must be >= 0, got {cfg.max_staleness}")
    if cfg.release_memory and cfg.mode != "sync":
        errors.append("rollout.release_memory: needs rollout.mode=sync (in async mode the engine generates while the "
                      "learner updates, so there is no idle time to free its memory in); set it false")
    if cfg.release_memory and cfg.engine != "hf":
        errors.append(f"rollout.release_memory: implemented for rollout.engine=hf only, not {cfg.engine!r} (vLLM "
                      "keeps its KV cache; size it with rollout.vllm.gpu_memory_utilization); set it false")
    if cfg.stream_chunk_prompts < 0:
        errors.append(f"rollout.stream_chunk_prompts: must be >= 0 (0: one engine call per worker per step), got "
                      f"{cfg.stream_chunk_prompts}")
    needed = cfg.sync_interval - 1 + (1 if cfg.mode == "async" else 0)
    if cfg.max_staleness < needed:
        errors.append(f"rollout.max_staleness: {cfg.max_staleness} would drop every trajectory at times "
                      f"(mode={cfg.mode}, sync_interval={cfg.sync_interval} make them up to "
                      f"{needed} versions old); set rollout.max_staleness={needed}")
    if cfg.partial_rollouts and cfg.mode != "async":
        errors.append("rollout.partial_rollouts: only meaningful with rollout.mode=async (in sync mode no weight "
                      "update arrives during generation); set rollout.mode=async or rollout.partial_rollouts=false")
    if cfg.partial_rollouts and cfg.segment_tokens <= 0:
        errors.append(f"rollout.segment_tokens: must be > 0 with partial rollouts, got {cfg.segment_tokens}")
    if cfg.temperature <= 0:
        errors.append(f"rollout.temperature: must be > 0 (sampling), got {cfg.temperature}")
    if not 0 < cfg.top_p <= 1:
        errors.append(f"rollout.top_p: must be in (0, 1], got {cfg.top_p}")
    for domain, agent_env in cfg.agent.domains.items():
        if agent_env.env not in AGENT_ENVS:
            errors.append(f"rollout.agent.domains.{domain}.env: {agent_env.env!r} is not one of {list(AGENT_ENVS)}")
    if cfg.agent.max_turn_tokens > cfg.agent.max_total_tokens:
        errors.append("rollout.agent.max_turn_tokens: must be <= rollout.agent.max_total_tokens")
    if cfg.weight_sync == "cuda_ipc" and cfg.engine != "hf":
        errors.append("rollout.weight_sync: cuda_ipc is wired for the hf engine; a vllm engine receives weights by "
                      "object_store, nccl or gloo (inside its worker, through the worker extension)")
    return errors
