"""Per-token logprobs (and entropy) of a causal LM on given sequences, at a sampling temperature."""
from __future__ import annotations

import torch


def sequence_logprobs(
    model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, temperature: float = 1.0,
    with_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log pi(input_ids[:, t+1] | input_ids[:, :t+1]) for t in [0, L-1): returns ([B, L-1], entropy [B, L-1] or None).

    Inputs are right-padded, so default position ids (0..L-1) are the true positions of every real token.
    """
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1].float()
    logp = torch.log_softmax(logits / temperature, dim=-1)
    token_lp = logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1) if with_entropy else None
    return token_lp, entropy
