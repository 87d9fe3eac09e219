"""A learner rank's resumable state: its DeepSpeed engine (weights, optimizer, LR scheduler, in DeepSpeed's own
checkpoint format) plus the rank's torch RNG, written to a directory that the driver commits atomically
(rl/checkpoint.py). Every rank of a role calls these together."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rl.checkpoint import fsync_tree

TAG = "state"  # one DeepSpeed tag per directory: the driver names directories by step


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save_engine(engine: Any, path: str) -> None:
    """All ranks: DeepSpeed checkpoint of `engine` under `path` (each rank writes its own shards), then fsync."""
    engine.save_checkpoint(path, tag=TAG, client_state={"rng": rng_state()}, save_latest=False)
    fsync_tree(path)


def load_engine(engine: Any, path: str) -> None:
    """All ranks: restore weights, optimizer and scheduler state and this rank's RNG from `path`."""
    if not (Path(path) / TAG).is_dir():
        raise FileNotFoundError(f"{path}/{TAG} is missing: not a learner checkpoint written by mispo")
    load_path, client = engine.load_checkpoint(path, tag=TAG, load_optimizer_states=True,
                                               load_lr_scheduler_states=True)
    if load_path is None:
        raise RuntimeError(f"DeepSpeed could not load the checkpoint in {path}")
    if client and "rng" in client:
        set_rng_state(client["rng"])


def state_bytes(engine: Any, hf_bytes_per_param: int = 0) -> int:
    """Estimated bytes this role's checkpoint takes on disk (all ranks): module weights in their dtype, fp32
    master weights plus Adam's two moments (12 B/parameter), and an HF export when asked."""
    total = 0
    for p in engine.module.parameters():
        n = getattr(p, "ds_numel", None) or p.numel()
        total += n * (p.element_size() + 12 + hf_bytes_per_param)
    return total
