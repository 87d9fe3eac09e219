"""Regional torch.compile for the learners (config `<role>.compile`): each transformer block is compiled in place
(`nn.Module.compile`), so one compiled graph serves every block of the same class and compile time is that of one
block, while DeepSpeed still sees the same parameters and hooks (ZeRO 0-2). Inductor fuses the element-wise work
around the matmuls (RMSNorm casts, rotary, SiLU-and-mul, residual adds), which at a 0.5B shape is about as much GPU
time as the matmuls themselves. Token counts vary per packed micro-batch, so shapes are compiled dynamic.
"""
from __future__ import annotations

import functools

import torch


def block_classes(model: torch.nn.Module) -> set[str]:
    """Class names of the repeated blocks: transformers lists them in `_no_split_modules` of every PreTrainedModel."""
    names: set[str] = set()
    for m in model.modules():
        names.update(getattr(m, "_no_split_modules", None) or [])
    return names


def compile_blocks(model: torch.nn.Module) -> int:
    """Compile every transformer block of `model` in place; returns how many. Raises ValueError when the model
    declares no blocks (a custom model: compile it yourself or leave `compile` off)."""
    names = block_classes(model)
    blocks = [m for m in model.modules() if type(m).__name__ in names]
    if not blocks:
        raise ValueError(f"{type(model).__name__} declares no transformer blocks (`_no_split_modules`); set "
                         f"compile=false for this role")
    for block in blocks:
        block.compile(dynamic=True)
    return len(blocks)


@functools.cache
def compiled(fn):
    """torch.compile(fn, dynamic=True), built once per function."""
    return torch.compile(fn, dynamic=True)
