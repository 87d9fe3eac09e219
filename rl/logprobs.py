"""Per-token logprobs (and entropy) of a causal LM on given sequences, at a sampling temperature.

Two memory/speed options used by the learners (config `actor.packed`, `actor.logprob_chunk_tokens`):
- packed: the sequences run as one padding-free row (rl/packing.py);
- chunked: the LM head, log-softmax and gather run over `chunk_tokens` positions at a time, recomputed in the
  backward pass, so no [tokens, vocab] fp32 tensor exists at once (the largest activation of a big-vocabulary
  model). The result is the same as the full computation.
With `compiled` (config `<role>.compile`) the log-softmax, gather and entropy of each chunk run as one fused kernel
(torch.compile), instead of several fp32 passes over the [tokens, vocab] logits.
"""
from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from rl.compile_regions import compiled as compiled_fn
from rl.packing import pack, unpack
from rl.varlen_attention import NAME as VARLEN
from rl.varlen_attention import boundaries


def _token_logprobs(logits: torch.Tensor, targets: torch.Tensor, temperature: float,
                    with_entropy: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    token_lp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1) if with_entropy else None
    return token_lp, entropy


def _logprob_fn(compiled: bool):
    return compiled_fn(_token_logprobs) if compiled else _token_logprobs


def _head_chunk(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor, temperature: float,
                with_entropy: bool, compiled: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    lp, ent = _logprob_fn(compiled)(head(hidden), targets, temperature, with_entropy)
    return lp, ent if ent is not None else torch.zeros_like(lp)


def _chunked_head(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor, temperature: float,
                  with_entropy: bool, chunk_tokens: int,
                  compiled: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """hidden [N, d], targets [N] -> logprobs [N] (+ entropy [N]), `chunk_tokens` rows of logits at a time."""
    lps, ents = [], []
    recompute = torch.is_grad_enabled() and hidden.requires_grad
    for s in range(0, hidden.shape[0], chunk_tokens):
        h, t = hidden[s:s + chunk_tokens], targets[s:s + chunk_tokens]
        if recompute:
            lp, ent = checkpoint(_head_chunk, head, h, t, temperature, with_entropy, compiled, use_reentrant=False)
        else:
            lp, ent = _head_chunk(head, h, t, temperature, with_entropy, compiled)
        lps.append(lp)
        ents.append(ent)
    return torch.cat(lps), (torch.cat(ents) if with_entropy else None)


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The HF model inside a DeepSpeed engine (or the model itself)."""
    return getattr(model, "module", model)


def sequence_logprobs(
    model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, temperature: float = 1.0,
    with_entropy: bool = False, packed: bool = False, chunk_tokens: int = 0, compiled: bool = False,
    lengths: list[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log pi(input_ids[:, t+1] | input_ids[:, :t+1]) for t in [0, L-1): returns ([B, L-1], entropy [B, L-1] or None).

    Inputs are right-padded, so default position ids (0..L-1) are the true positions of every real token.
    `packed` runs the real tokens as one row; `chunk_tokens` > 0 computes the LM head in chunks; `compiled` fuses
    the log-softmax (see module doc); `lengths` (real tokens per row, known on the host) spares packing a sync.
    """
    width = input_ids.shape[1] - 1
    token_logprobs = _logprob_fn(compiled)
    if not packed and chunk_tokens <= 0:
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]
        return token_logprobs(logits, input_ids[:, 1:], temperature, with_entropy)
    if packed:
        p = pack(input_ids, attention_mask, lengths)
        # no attention mask and no cache: transformers then reads sequence boundaries from the restarting positions;
        # the varlen implementation (rl/varlen_attention.py) gets them explicitly
        ids, kwargs = p.input_ids, {"position_ids": p.position_ids, "use_cache": False}
        if getattr(_unwrap(model).config, "_attn_implementation", None) == VARLEN:
            kwargs.update(boundaries(p.lengths, ids.device))
    else:
        ids, kwargs = input_ids, {"attention_mask": attention_mask, "use_cache": False}
    targets = torch.cat([ids[:, 1:], ids[:, :1]], dim=1)  # position j scores token j+1 (the last one: unused)
    if chunk_tokens > 0:
        hf = _unwrap(model)
        hidden = hf.get_decoder()(input_ids=ids, **kwargs).last_hidden_state
        lp, ent = _chunked_head(hf.get_output_embeddings(), hidden.flatten(0, 1), targets.flatten(), temperature,
                                with_entropy, chunk_tokens, compiled)
        lp, ent = lp.view(ids.shape), (ent.view(ids.shape) if ent is not None else None)
    else:
        lp, ent = token_logprobs(model(input_ids=ids, **kwargs).logits, targets, temperature, with_entropy)
    if not packed:
        return lp[:, :-1], (ent[:, :-1] if ent is not None else None)
    return (unpack(lp[0], p.lengths, width),
            unpack(ent[0], p.lengths, width) if ent is not None else None)
