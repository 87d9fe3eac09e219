"""Variable-length attention for packed learner micro-batches (rl/packing.py), registered with transformers as the
attention implementation `mispo_varlen`: each packed sequence attends only to itself, computed by torch's flash
varlen kernel (`torch.nn.attention.varlen.varlen_attn`) on CUDA, without materialising a [T, T] mask or spending
FLOPs on the blocks between sequences. Elsewhere (CPU, or a torch without the kernel) it scatters the packed
tokens into a right-padded batch for one causal SDPA call and gathers them back (the linear layers still run on the
packed tokens only), the same result.

The packed call passes the sequence boundaries (`cu_seq_lens_q`, `max_length_q`: transformers' flash-attention
keyword names) through the model's forward to this function.
"""
from __future__ import annotations

import inspect

import torch

from rl.batch import to_device

NAME = "mispo_varlen"


def _varlen_kernel():
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn


_KERNEL = _varlen_kernel()
_KERNEL_PARAMS = frozenset(inspect.signature(_KERNEL).parameters) if _KERNEL is not None else frozenset()


def register() -> str:
    """Make `mispo_varlen` loadable by from_pretrained(attn_implementation=...). Idempotent; returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, varlen_attention_forward)
    AttentionMaskInterface.register(NAME, lambda *args, **kwargs: None)  # boundaries come as cu_seq_lens instead
    return NAME


def varlen_attention_forward(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                             attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                             **kwargs) -> tuple[torch.Tensor, None]:
    """query [1, Hq, T, D], key/value [1, Hkv, T, D] of one packed row -> ([1, T, Hq, D], None)."""
    cu = kwargs.get("cu_seq_lens_q")
    if cu is None:  # not a packed call: plain causal attention with the padding mask
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=True)
    max_len = int(kwargs.get("max_length_q") or int((cu[1:] - cu[:-1]).max()))
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))  # [T, H, D]
    groups = q.shape[1] // k.shape[1]
    kernel = _KERNEL if q.is_cuda else None
    if kernel is not None:
        params = _KERNEL_PARAMS  # read once at import: inspect inside a compiled block would break its graph
        opts = {"scale": scaling}
        if "is_causal" in params:
            opts["is_causal"] = True
        else:
            opts["window_size"] = (-1, 0)
        if groups > 1 and "enable_gqa" in params:
            opts["enable_gqa"] = True
        elif groups > 1:
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        cu32 = cu.to(torch.int32)
        out = kernel(q, k, v, cu32, cu32, max_len, max_len, **opts)
        return out.unsqueeze(0), None
    return _padded_attention(q, k, v, cu, max_len, scaling, groups > 1).unsqueeze(0), None


def _padded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu: torch.Tensor, max_len: int,
                      scaling: float | None, gqa: bool) -> torch.Tensor:
    """Attention of packed sequences without the varlen kernel: q/k/v [T, H, D] scattered into a right-padded
    [B, H, max_len, D] batch, one causal SDPA call (a real query sees only its own sequence's keys: the padding
    comes after every real key of its row), gathered back to [T, Hq, D]. The linear layers keep running on the T
    packed tokens; one batched call replaces a loop of B small ones (measured 3x slower on CPU for 64 short
    sequences)."""
    n_seq, total = cu.numel() - 1, q.shape[0]
    cu_host = cu.to("cpu", torch.long)
    lengths = cu_host[1:] - cu_host[:-1]
    row = torch.repeat_interleave(torch.arange(n_seq), lengths)
    index = to_device(row * max_len + torch.arange(total) - cu_host[:-1][row], q.device)  # token -> padded slot

    def scatter(t: torch.Tensor) -> torch.Tensor:
        flat = t.new_zeros((n_seq * max_len, *t.shape[1:])).index_copy(0, index, t)
        return flat.view(n_seq, max_len, *t.shape[1:]).transpose(1, 2)  # [B, H, max_len, D]

    out = torch.nn.functional.scaled_dot_product_attention(scatter(q), scatter(k), scatter(v), is_causal=True,
                                                           scale=scaling, enable_gqa=gqa)
    return out.transpose(1, 2).reshape(n_seq * max_len, *q.shape[1:]).index_select(0, index)


def boundaries(lengths: list[int], device: torch.device) -> dict[str, object]:
    """The keyword arguments a packed forward passes down to `varlen_attention_forward`."""
    cu = torch.zeros(len(lengths) + 1, dtype=torch.int32)
    cu[1:] = torch.cumsum(torch.tensor(lengths, dtype=torch.int32), 0)
    cu = to_device(cu, device)
    m = max(lengths)
    return {"cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": m, "max_length_k": m}


def learner_attention(model_cfg, role_cfg) -> dict[str, str]:
    """from_pretrained keyword for a learner: `model.attn_implementation` when set ("varlen" = this module), else
    varlen for packed micro-batches (`max_tokens_per_micro` > 0), else transformers' default."""
    impl = model_cfg.attn_implementation
    if impl == "varlen" or (impl is None and role_cfg.max_tokens_per_micro > 0):
        return {"attn_implementation": register()}
    return {"attn_implementation": impl} if impl else {}
