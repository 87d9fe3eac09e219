"""Throughput and model FLOPs utilisation (MFU) of the actor, per step.

Model FLOPs (the PaLM convention, Chowdhery et al. 2022, App. B; also Megatron-LM's and torchtitan's): a sequence of
s tokens costs, in a forward pass,

    2 * N * s  +  4 * n_layers * d_attn * s^2

where N counts every parameter except the input embedding table (a lookup, no matmul), with the output projection
counted even when it is tied to that table (norm weights are in N too: a rounding error), and d_attn = n_heads *
head_dim (the query width: QK^T and AV are each 2 * s * d_attn FLOPs per token and layer). Attention is counted
over the whole sequence, no causal discount, as in PaLM. A training pass (forward + backward) is 3x a forward pass:
6 N s + 12 n_layers d_attn s^2. Recomputation (gradient checkpointing) and padding are not model FLOPs and are not
counted.

Per RL step the actor runs a forward pass for pi_old (plus one for the frozen reference when algo.kl_coef > 0) and
a training pass for the update, over every sequence of the batch (prompt + response tokens).

    perf/mfu_actor = actor model FLOPs / ((time/old_logprob_s + time/update_s) * peak * actor ranks)

Those two phase times are the driver's wall time, which the critic (in parallel, on its own devices) shares, so this
is a lower bound when the critic is slower. The peak is the dense bf16 tensor peak of the actor's device (the table
below, matched on torch.cuda.get_device_name), or `trainer.peak_tflops`; on a CPU with no override it is unknown
and the MFU is NaN (logged as null). Tokens per second need no peak and are always logged.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Dense (no 2:4 sparsity) BF16 tensor-core peak, TFLOP/s per device, from the vendors' datasheets and architecture
# whitepapers; GeForce cards at FP32 accumulate (what bf16 matmuls use). A pattern matches a whole word of the
# lower-cased torch.cuda.get_device_name() ("h100" matches "nvidia h100 80gb hbm3", not "h1000"); the first match
# wins, so variants come before the plain name. Override: trainer.peak_tflops.
PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("gb200", 2500.0),  # NVIDIA GB200 NVL72 datasheet: 5 PFLOPS sparse FP16/BF16 per GPU
    ("b200", 2250.0),  # NVIDIA HGX B200 datasheet: 4.5 PFLOPS sparse per GPU
    ("h200 nvl", 835.0),  # NVIDIA H200 NVL datasheet: 1,671 TFLOPS sparse
    ("h200", 989.0),  # NVIDIA H200 (SXM) datasheet: 1,979 TFLOPS sparse
    ("h100 nvl", 835.0),  # NVIDIA H100 NVL datasheet: 1,671 TFLOPS sparse
    ("h100 pcie", 756.0),  # NVIDIA H100 PCIe datasheet: 1,513 TFLOPS sparse
    ("h100", 989.0),  # NVIDIA H100 SXM datasheet: 1,979 TFLOPS sparse ("NVIDIA H100 80GB HBM3")
    ("h800", 989.0),  # H100 SXM compute with reduced interconnect
    ("gh200", 989.0),  # Grace Hopper: the H100 SXM's tensor cores (989 dense BF16)
    ("h20", 148.0),  # NVIDIA H20: 148 TFLOPS dense BF16
    ("a100", 312.0),  # NVIDIA A100 datasheet (SXM and PCIe, 40 and 80 GB): 312 dense / 624 sparse
    ("a800", 312.0),  # A100 compute with reduced interconnect
    ("a30", 165.0),  # NVIDIA A30 datasheet: 165 dense / 330 sparse
    ("a10g", 70.0),  # AWS A10G (g5): the commonly quoted ~70 dense; approximate, override when it matters
    ("a10", 125.0),  # NVIDIA A10 datasheet: 125 dense / 250 sparse
    ("a40", 149.7),  # NVIDIA A40 datasheet: 149.7 dense / 299.4 sparse
    ("l40s", 362.0),  # NVIDIA L40S datasheet: 362.05 dense / 733 sparse
    ("l40", 181.0),  # NVIDIA L40 datasheet: 181 dense / 362 sparse
    ("l20", 119.5),  # NVIDIA L20: 119.5 dense
    ("l4", 121.0),  # NVIDIA L4 datasheet: 121 dense / 242 sparse
    ("rtx 6000 ada", 364.0),  # Ada whitepaper: RTX 6000 Ada 364.2 dense (FP32 accumulate)
    ("rtx 4090", 165.2),  # Ada whitepaper: RTX 4090 165.2 dense BF16 with FP32 accumulate (330.4 sparse)
    ("rtx 3090", 71.0),  # GA102 whitepaper: RTX 3090 71 dense BF16 with FP32 accumulate
    ("mi300x", 1307.4),  # AMD Instinct MI300X datasheet: 1,307.4 dense BF16
    ("mi250x", 383.0),  # AMD Instinct MI250X datasheet: 383 BF16
)


def peak_tflops(device_name: str, override: float | None = None) -> tuple[float | None, str]:
    """(per-device peak TFLOP/s or None, where it came from)."""
    if override is not None:
        return float(override), "trainer.peak_tflops"
    name = device_name.lower()
    for pattern, value in PEAK_BF16_TFLOPS:
        if re.search(rf"(?<![a-z0-9]){re.escape(pattern)}(?![a-z0-9])", name):
            return value, f"table ({pattern})"
    return None, f"unknown device {device_name!r}: set trainer.peak_tflops for an MFU"


@dataclass(frozen=True)
class ModelFlops:
    """What the FLOPs formulas need. matmul_params: N (module docstring); layers: n_layers;
    attn_dim: n_heads * head_dim."""

    matmul_params: int
    layers: int
    attn_dim: int

    def forward(self, seq_lens: Sequence[int]) -> float:
        """Model FLOPs of one forward pass over sequences of these lengths (prompt + response tokens)."""
        return float(sum(2 * self.matmul_params * s + 4 * self.layers * self.attn_dim * s * s for s in seq_lens))

    def train(self, seq_lens: Sequence[int]) -> float:
        """Forward + backward."""
        return 3.0 * self.forward(seq_lens)

    def per_token(self, seq_len: int, train: bool = True) -> float:
        """FLOPs per token of a sequence of `seq_len` tokens."""
        return (self.train if train else self.forward)([seq_len]) / seq_len


def model_flops(model_path: str) -> ModelFlops:
    """Read the HF config at `model_path` and count parameters on the meta device (nothing is allocated)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return flops_of(model, config)


def flops_of(model: Any, config: Any) -> ModelFlops:
    """ModelFlops of an HF causal LM (a meta-device or real instance) and its config."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    total = sum(p.numel() for p in model.parameters())  # tied weights are one parameter, counted once
    embed = model.get_input_embeddings().weight
    out = model.get_output_embeddings()
    tied = out is not None and out.weight is embed
    n = total - embed.numel() + (out.weight.numel() if tied else 0)
    heads = text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    return ModelFlops(matmul_params=int(n), layers=int(text.num_hidden_layers), attn_dim=int(heads * head_dim))


def device_name(_actor_instance: Any = None) -> str:
    """The CUDA device name seen by this process ("cpu" without one). Runs inside a learner rank through Ray's
    `__ray_call__`, where Ray's CUDA_VISIBLE_DEVICES makes device 0 the rank's own GPU."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def step_perf(flops: ModelFlops, seq_lens: Sequence[int], forward_passes: int, trained: bool, actor_s: float,
              peak: float | None, devices: int, generated_tokens: int, step_s: float) -> dict[str, float]:
    """The step's perf/ metrics. seq_lens: [B] prompt + response tokens of each batch sequence; forward_passes: no-grad
    passes over the batch (pi_old, reference); trained: the actor updated this step; actor_s: wall time of the actor's
    phases; peak: per-device TFLOP/s (None: unknown); generated_tokens: policy tokens sampled this step."""
    actor_flops = forward_passes * flops.forward(seq_lens) + (flops.train(seq_lens) if trained else 0.0)
    mfu = actor_flops / (actor_s * peak * 1e12 * devices) if peak and actor_s > 0 and devices > 0 else math.nan
    trained_tokens = sum(seq_lens) if trained else 0
    return {"perf/mfu_actor": mfu, "perf/tokens_per_s_trained": trained_tokens / step_s,
            "perf/tokens_per_s_generated": generated_tokens / step_s}


@dataclass(frozen=True)
class ActorPerf:
    """The run's constants for the perf/ metrics: the actor's model FLOPs, device, peak and ranks, and how many
    no-grad passes it makes per step (pi_old, plus the reference when KL is on)."""

    flops: ModelFlops
    device: str
    peak: float | None
    peak_source: str
    ranks: int
    forward_passes: int

    def step(self, seq_lens: Sequence[int], trained: bool, actor_s: float, generated_tokens: int,
             step_s: float) -> dict[str, float]:
        return step_perf(self.flops, seq_lens, self.forward_passes, trained, actor_s, self.peak, self.ranks,
                         generated_tokens, step_s)


def setup_actor_perf(model_path: str, rank0: Any, ranks: int, peak_override: float | None,
                     forward_passes: int) -> ActorPerf:
    """Count the model's FLOPs here and ask actor rank 0 (a Ray actor handle) for its device name."""
    import ray

    name = ray.get(rank0.__ray_call__.remote(device_name))
    peak, source = peak_tflops(name, peak_override)
    return ActorPerf(model_flops(model_path), name, peak, source, ranks, forward_passes)
