"""bf16 training with fp32 master weights in one flat buffer: the optimizer step is a handful of kernels.

DeepSpeed's bf16 optimizers keep the same state (bf16 weights for compute, fp32 master weights, fp32 gradient
accumulation, AdamW on the master) but walk the parameters one by one at every step: thousands of small kernel
launches and several host syncs, which at a 0.5B shape cost more host time than the GPU spends on the optimizer
(docs/benchmarks.md). Here every trainable bf16 parameter is a view into one flat bf16 buffer, its gradient is added
into one flat fp32 buffer as soon as autograd has accumulated it (a post-accumulate hook, so micro-batches
accumulate in fp32 and the bf16 .grad is freed at once), and the step is: all-reduce (data parallel), one norm, a
clip factor kept on the device, torch's fused AdamW over the single master tensor, one copy back to bf16. No host
sync: the gradient norm stays a tensor until the caller reads it.

DeepSpeed drives it as a plain client optimizer (its bf16 wrapper off, its own clipping and gradient all-reduce
off): `rl.deepspeed_setup.build_engine` sets that up for `master_weights: flat`. The math is DeepSpeed's bf16 path's.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch
import torch.distributed as dist


class FlatMasterAdamW(torch.optim.AdamW):
    """AdamW on a flat fp32 copy of `params` (bf16 tensors, rewritten in place as views of one flat buffer), with
    global-norm clipping at `max_grad_norm` (<= 0: none) and gradients averaged over the default process group.
    `_global_grad_norm` (a 0-d tensor) is the pre-clip norm of the last step: DeepSpeed's engine reports it."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float],
                 weight_decay: float, max_grad_norm: float) -> None:
        self.model_params = [p for p in params if p.requires_grad]
        if not self.model_params:
            raise ValueError("FlatMasterAdamW: no trainable parameters")
        dtypes = {p.dtype for p in self.model_params}
        devices = {p.device for p in self.model_params}
        if len(dtypes) != 1 or len(devices) != 1:
            raise ValueError(f"FlatMasterAdamW: trainable parameters must share one dtype and device, got "
                             f"{sorted(map(str, dtypes))} on {sorted(map(str, devices))}")
        device = devices.pop()
        self.flat_low = torch.empty(sum(p.numel() for p in self.model_params), dtype=dtypes.pop(), device=device)
        offset = 0
        for p in self.model_params:
            n = p.numel()
            self.flat_low[offset: offset + n].copy_(p.detach().reshape(-1))
            p.data = self.flat_low[offset: offset + n].view_as(p)
            offset += n
        self.master = self.flat_low.detach().float().requires_grad_(False)
        self.flat_grad = torch.zeros_like(self.master)
        self._views = []
        offset = 0
        for p in self.model_params:
            self._views.append(self.flat_grad[offset: offset + p.numel()].view_as(p))
            offset += p.numel()
        self._hooks = [p.register_post_accumulate_grad_hook(self._make_hook(view))
                       for p, view in zip(self.model_params, self._views)]
        self.max_grad_norm = max_grad_norm
        self._global_grad_norm: torch.Tensor | None = None
        super().__init__([self.master], lr=lr, betas=betas, weight_decay=weight_decay,
                         fused=device.type == "cuda")

    @staticmethod
    def _make_hook(view: torch.Tensor):
        def accumulate(p: torch.Tensor) -> None:
            view.add_(p.grad)  # fp32 accumulation over micro-batches; the bf16 gradient is freed at once
            p.grad = None
        return accumulate

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch.optim signature
        if closure is not None:
            raise ValueError("FlatMasterAdamW does not take a closure")
        grad = self.flat_grad
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(grad)
            grad.div_(dist.get_world_size())
        norm = torch.linalg.vector_norm(grad)
        self._global_grad_norm = norm
        if self.max_grad_norm > 0:
            grad.mul_(torch.clamp(self.max_grad_norm / (norm + 1e-6), max=1.0))
        self.master.grad = grad
        super().step()
        self.master.grad = None
        self.flat_low.copy_(self.master)
        grad.zero_()
        return None

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop accumulated gradients (the flat fp32 buffer and any bf16 .grad not yet folded in)."""
        self.flat_grad.zero_()
        for p in self.model_params:
            p.grad = None

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["flat_master"] = self.master
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        master = state.pop("flat_master", None)
        if master is None or master.numel() != self.master.numel():
            got = "no flat_master" if master is None else f"{master.numel()} master weights"
            raise ValueError(f"optimizer state has {got}, this model has {self.master.numel()} trainable weights: "
                             f"the checkpoint was written with another master_weights setting or model; resume "
                             f"with the setting it was written with")
        with torch.no_grad():
            self.master.copy_(master)
            self.flat_low.copy_(self.master)
        super().load_state_dict(state)
