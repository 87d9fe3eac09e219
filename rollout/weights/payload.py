"""Weight payloads that cross the Ray object store zero-copy.

Torch tensors pickle their storage in-band (one extra copy on each side); numpy arrays travel as out-of-band
buffers that the receiver maps read-only straight from the object store. So the learner sends
{name: (numpy array, torch dtype name)}; bf16/fp16 are sent as int16 views and reinterpreted on arrival.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

WeightPayload = dict[str, tuple[np.ndarray, str]]
_VIEW = {torch.bfloat16: torch.int16, torch.float16: torch.int16}


def pack(state_dict: Mapping[str, torch.Tensor]) -> WeightPayload:
    """Name -> (numpy view of the CPU tensor, dtype name). Tied tensors are sent once per name (cheap views)."""
    out: WeightPayload = {}
    for name, t in state_dict.items():
        t = t.detach().contiguous().cpu()
        carrier = t.view(_VIEW[t.dtype]) if t.dtype in _VIEW else t
        out[name] = (carrier.numpy(), str(t.dtype).removeprefix("torch."))
    return out


def without_tied(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop entries that alias an earlier entry's memory (tied weights such as lm_head = embed_tokens): engines
    built from the same config re-tie them on load, so each tied tensor crosses the wire once."""
    names: dict[tuple, str] = {}
    out = {}
    for name, t in state_dict.items():
        if t.numel() == 0:  # empty tensors share a null pointer without being tied
            out[name] = t
            continue
        key = (t.device, t.dtype, t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape),
               tuple(t.stride()))
        kept = names.get(key)
        if kept is None:
            names[key] = name
            out[name] = t
        elif "lm_head" in kept and "lm_head" not in name:  # keep the embedding's name: tied models load it
            del out[kept]
            names[key] = name
            out[name] = t
    return out


def unpack(payload: WeightPayload) -> dict[str, torch.Tensor]:
    """Back to tensors without copying (read-only numpy buffers are wrapped as-is; load_state_dict copies)."""
    import warnings

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # non-writable buffer: we only read from it
        for name, (arr, dtype) in payload.items():
            t = torch.from_numpy(arr)
            want = getattr(torch, dtype)
            out[name] = t.view(want) if t.dtype != want else t
    return out
