"""The HF engine's own decoding loop: a preallocated KV cache, explicit masks and positions, sampling and logprob
gathering on the device, and (on CUDA) the whole decode step captured once in a CUDA graph and replayed.

Why: `model.generate` pays tens of milliseconds of Python and kernel-launch work per step (mask building, cache
bookkeeping, logits processors, stopping criteria, a host sync per step). For a 0.5B model at batch 256 that, not
the GPU, sets the pace (72 ms per step measured on an H200; docs/benchmarks.md). Here one step is a graph replay.

How it stays exact:
- the transformer is the checkpoint's own HF module, called with `attention_mask={layer_type: 4D bool mask}`
  (transformers then builds no mask of its own), explicit `position_ids` (left padding: a row's positions start
  at 0 at its first prompt token), and `past_key_values=StaticKV`, which each attention layer calls as
  `update(k, v, layer_idx)`: the keys/values are written at the current cache slot and the whole cache comes back;
  the mask hides empty and padded slots. Nothing in the step reads a value back to the host, so it can be captured.
- sampling is the same distribution as the `generate` path: scores = logits / temperature (fp32), then the
  nucleus cut of transformers' TopPLogitsWarper when top_p < 1, a sample by the exponential race
  (argmax of log p - log E, E ~ Exp(1): an exact draw from p), and the reported logprob log_softmax(scores) at the
  sampled token. Greedy (temperature 0) takes the argmax and reports temperature-1 logprobs.

Supported: decoder-only models whose layers are `full_attention` or `sliding_attention` and whose attention calls
`past_key_values.update(key, value, layer_idx)` (Llama, Qwen2/2.5/3, Mistral, Phi3, Gemma-style and most HF causal
LMs); not: attention SDPA cannot express (sinks, logit soft-capping) and dynamic/longrope RoPE (a host read per
step). `supported(model)` says why and the engine falls back to `generate`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger(__name__)
LAYER_TYPES = ("full_attention", "sliding_attention")
CHECK_EVERY = 16  # decode steps between two host reads of "is every row finished?" (CUDA graphs)


ATTENTION = "mispo_grouped_decode"


def grouped_decode_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                             attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                             **kwargs: Any) -> tuple[torch.Tensor, None]:
    """SDPA that, for one decode step of a grouped-query model, folds each KV head's query heads into the query
    length (q [B, Hkv, G, D] against k/v [B, Hkv, S, D], one [B, 1, 1, S] mask for all) instead of repeating the
    keys and values G times, which transformers does whenever a mask is given: the step then reads the cache once.
    Everything else (prefill) is transformers' own SDPA path."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, q_heads, q_len, dim = query.shape
    kv_heads = key.shape[1]
    if q_len == 1 and q_heads != kv_heads and attention_mask is not None and attention_mask.shape[2] == 1:
        grouped = query.reshape(batch, kv_heads, q_heads // kv_heads, dim)  # head h reads kv head h // G
        out = torch.nn.functional.scaled_dot_product_attention(grouped, key, value, attn_mask=attention_mask,
                                                               scale=scaling)
        return out.reshape(batch, q_heads, 1, dim).transpose(1, 2).contiguous(), None
    return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                  **kwargs)


def text_config(model: Any) -> Any:
    return model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config


def layer_types(cfg: Any) -> list[str]:
    """Each layer's attention type. Models without `layer_types` (Llama, Mistral, Phi3) use one mask for every
    layer: sliding-window when `sliding_window` is set (what their forward builds), full otherwise."""
    types = getattr(cfg, "layer_types", None)
    if types:
        return list(types)
    kind = "sliding_attention" if getattr(cfg, "sliding_window", None) is not None else "full_attention"
    return [kind] * cfg.num_hidden_layers


def supported(model: Any) -> str | None:
    """None when `model` can be decoded here; otherwise the reason (the engine then uses `generate`)."""
    cfg = text_config(model)
    if getattr(model.config, "is_encoder_decoder", False):
        return "encoder-decoder model"
    other = sorted({t for t in layer_types(cfg) if t not in LAYER_TYPES})
    if other:
        return f"layer types {other} (only {list(LAYER_TYPES)})"
    if model.config._attn_implementation not in ("sdpa", "eager", ATTENTION):
        return f"attention implementation {model.config._attn_implementation!r} (sdpa or eager)"
    if not getattr(model, "_supports_sdpa", True):
        return "a model without SDPA support (its attention has terms SDPA cannot apply, e.g. sinks)"
    if getattr(cfg, "attn_logit_softcapping", None):
        return "attention logit soft-capping (SDPA cannot apply it)"
    rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    rope_type = rope.get("rope_type", rope.get("type")) if isinstance(rope, dict) else None
    if rope_type in ("dynamic", "longrope"):
        return f"{rope_type} RoPE (reads the largest position on the host each step)"
    return None


class StaticKV:
    """A preallocated KV cache [batch, kv_heads, length, head_dim] per layer, written at `slots` (a device tensor, so
    a captured step writes where the current replay says) and read whole; `rows` limits a write to a sub-batch
    (chunked prefill). Duck-types the part of transformers' Cache that attention layers call."""

    is_compileable = False

    def __init__(self, n_layers: int, batch: int, kv_heads: int, length: int, head_dim: int, dtype: torch.dtype,
                 device: torch.device) -> None:
        shape = (batch, kv_heads, length, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.decode_slot = torch.zeros(1, dtype=torch.long, device=device)  # the slot a decode step writes
        self.slots = self.decode_slot  # the slots the next forward writes (the prompt's during prefill)
        self.rows = slice(None)
        self.visible = length  # how many leading slots attention reads (prefill: the prompt width only)

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int, *args: Any, **kwargs: Any
               ) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.keys[layer_idx][self.rows], self.values[layer_idx][self.rows]
        k.index_copy_(2, self.slots, key.to(k.dtype))
        v.index_copy_(2, self.slots, value.to(v.dtype))
        return k[:, :, : self.visible], v[:, :, : self.visible]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return 0  # positions are always passed explicitly

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class Decoded:
    """tokens [B, T] (pad after a row's stop token), logprobs [B, T] fp32, steps T actually decoded."""

    tokens: torch.Tensor
    logprobs: torch.Tensor


def nucleus(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """transformers' TopPLogitsWarper: drop the lowest-probability tokens whose cumulative mass is <= 1 - top_p,
    always keeping the most likely one."""
    sorted_scores, order = torch.sort(scores, descending=False)
    cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = cumulative <= (1 - top_p)
    drop_sorted[..., -1:] = False
    drop = drop_sorted.scatter(1, order, drop_sorted)
    return scores.masked_fill(drop, float("-inf"))


def sample(logits: torch.Tensor, temperature: float, top_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(token [B], logprob [B]) drawn from the tempered (and nucleus-cut) softmax of `logits`, all on the device."""
    scores = logits.float()
    if temperature == 0:
        token = scores.argmax(dim=-1)
        return token, torch.log_softmax(scores, dim=-1).gather(-1, token[:, None])[:, 0]
    if temperature != 1.0:
        scores = scores / temperature
    if top_p < 1.0:
        scores = nucleus(scores, top_p)
    logp = torch.log_softmax(scores, dim=-1)
    token = (logp - log_exponential(logp)).argmax(dim=-1)
    return token, logp.gather(-1, token[:, None])[:, 0]


def log_exponential(like: torch.Tensor) -> torch.Tensor:
    """log E, E ~ Exp(1) i.i.d. in the shape of `like`. On CPU E = -log U (U uniform in [tiny, 1)): torch's CPU
    `exponential_` measured 7x slower than `uniform_` (2.0 vs 0.3 ms for 256 x 512), a quarter of a tiny model's
    decode step; on CUDA `exponential_` is one kernel and graph-safe."""
    if like.device.type == "cuda":
        return torch.empty_like(like).exponential_().log_()
    return torch.rand_like(like).clamp_(min=torch.finfo(like.dtype).tiny).log_().neg_().log_()


class StaticDecoder:
    """Decodes left-padded prompt batches with `model` (see the module docstring). One instance per engine; the
    cache and (on CUDA) one captured step per (temperature, top_p) are kept for the largest (batch, length) seen and
    reused by smaller requests. `graphs=False` runs the same step eagerly (CPU, and CUDA when capture is
    unwanted)."""

    def __init__(self, model: Any, pad_id: int, stop_ids: list[int], graphs: bool = True,
                 length_multiple: int = 128, compile_forward: bool = False) -> None:
        """compile_forward: the decode step's model forward goes through torch.compile (inductor fuses the norms,
        rotary and activation kernels) before it is captured; sampling stays outside the compiled region, so its
        random numbers come from torch's graph-safe generator."""
        reason = supported(model)
        if reason:
            raise ValueError(f"the own decoding loop does not support this model: {reason}")
        from transformers import AttentionInterface
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

        AttentionInterface.register(ATTENTION, grouped_decode_attention)
        AttentionMaskInterface.register(ATTENTION, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])  # masks built as for sdpa
        model.set_attn_implementation(ATTENTION)  # the engine's own copy of the model; the learner keeps its own
        self.model = model
        self.cfg = text_config(model)
        self.types = layer_types(self.cfg)
        self.window = getattr(self.cfg, "sliding_window", None)
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.pad_id = pad_id
        self.stop = torch.tensor(stop_ids or [-1], device=self.device)
        self.graphs = graphs and self.device.type == "cuda"
        # keep the state of the largest (batch, length) seen for smaller requests (filler rows, a longer cache): with
        # graphs a new shape means a new capture (and compilation); eager steps compute every row, so there the
        # state is fitted to each request instead
        self.reuse_shapes = self.graphs
        self.length_multiple = length_multiple
        # emulate_precision_casts: inductor rounds to the model dtype wherever eager does (RMSNorm's casts), so the
        # compiled step computes what the learner's eager forward computes (measured: trajectory keep 0.92 without)
        self._decode_forward = torch.compile(self._forward, dynamic=False, options={
            "emulate_precision_casts": True}) if compile_forward else self._forward
        self._shape: tuple[int, int] | None = None
        self._graphs: dict[tuple[float, float], torch.cuda.CUDAGraph] = {}
        self._pool: Any = None
        # one warm-up stream for every capture: torch keeps a cuBLAS workspace (32 MiB on Hopper) per stream for the
        # life of the process, so a fresh stream per capture grew the memory by that much per re-capture
        self._warm_stream: Any = None

    # ---- state for one (batch, length) shape
    def _allocate(self, batch: int, length: int) -> None:
        heads = getattr(self.cfg, "num_key_value_heads", None) or self.cfg.num_attention_heads
        head_dim = getattr(self.cfg, "head_dim", None) or self.cfg.hidden_size // self.cfg.num_attention_heads
        self._graphs = {}
        self._pool = None
        self.kv = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self.kv = StaticKV(self.cfg.num_hidden_layers, batch, heads, length, head_dim, self.dtype, self.device)
        dev = self.device
        self.valid = torch.zeros(batch, length, dtype=torch.bool, device=dev)  # slots a row may attend to
        self.token = torch.zeros(batch, 1, dtype=torch.long, device=dev)  # the token fed to the next step
        self.position = torch.zeros(batch, 1, dtype=torch.long, device=dev)
        self.finished = torch.zeros(batch, dtype=torch.bool, device=dev)
        self.out_tokens = torch.zeros(batch, length, dtype=torch.long, device=dev)
        self.out_logprobs = torch.zeros(batch, length, dtype=torch.float32, device=dev)
        self.step_index = torch.zeros(1, dtype=torch.long, device=dev)
        self.slot_index = torch.arange(length, device=dev)

    def release(self) -> None:
        """Drop the cache, the decode state and the captured graphs (their memory pool); the next `decode`
        allocates (and captures) again. Compiled code is kept: it does not hold device memory of its own. The
        caller returns the freed blocks to the device (`torch.cuda.empty_cache`)."""
        self._graphs, self._pool, self._shape = {}, None, None
        for name in ("kv", "valid", "token", "position", "finished", "out_tokens", "out_logprobs", "step_index",
                     "slot_index"):
            setattr(self, name, None)

    def _masks(self, query_slots: torch.Tensor, valid: torch.Tensor) -> dict[str, torch.Tensor]:
        """{layer type: [B, 1, Q, S] bool} for queries at cache slots `query_slots` [Q] over the first S slots."""
        keys = self.slot_index[: valid.shape[1]]
        causal = keys[None, :] <= query_slots[:, None]  # [Q, S]
        full = valid[:, None, None, :] & causal[None, None]
        masks = {"full_attention": full}
        if "sliding_attention" in self.types:
            near = (query_slots[:, None] - keys[None, :]) < (self.window or valid.shape[1])
            masks["sliding_attention"] = full & near[None, None]
        return masks

    def _forward(self, ids: torch.Tensor, positions: torch.Tensor, masks: dict[str, torch.Tensor]) -> torch.Tensor:
        # one attention type: the 4D mask itself (every model's mask builder passes a 4D mask through); mixed types:
        # the {type: mask} mapping, which the models with mixed layers (Qwen2/3, Gemma2/3) accept as prepared
        kinds = set(self.types)
        mask = masks[next(iter(kinds))] if len(kinds) == 1 else masks
        out = self.model(input_ids=ids, position_ids=positions, attention_mask=mask, past_key_values=self.kv,
                         use_cache=True, logits_to_keep=1)
        return out.logits[:, -1]

    def _record(self, token: torch.Tensor, logprob: torch.Tensor) -> None:
        """Store this step's token/logprob at `step_index` (pad after a row's stop) and advance the state."""
        token = torch.where(self.finished, torch.full_like(token, self.pad_id), token)
        self.out_tokens.index_copy_(1, self.step_index, token[:, None])
        self.out_logprobs.index_copy_(1, self.step_index, torch.where(self.finished, 0.0, logprob)[:, None])
        self.finished |= (token[:, None] == self.stop[None, :]).any(dim=-1)
        self.token.copy_(token[:, None])
        self.step_index += 1

    def _step(self, temperature: float, top_p: float, visible: int | None = None) -> None:
        """One decode step, host-sync free: feed `token` at slot `kv.slots`, sample, record. `visible` (eager steps
        only): how many leading cache slots are filled after this step's write; attention then reads those instead
        of the whole cache (a captured step must read a fixed shape)."""
        slot = self.kv.decode_slot
        self.valid.index_fill_(1, slot, True)
        valid = self.valid
        if visible is not None:
            self.kv.visible = visible
            valid = valid[:, :visible]
        logits = self._decode_forward(self.token, self.position, self._masks(slot, valid))
        token, logprob = sample(logits, temperature, top_p)
        self._record(token, logprob)
        slot += 1
        self.position += 1

    def _state(self) -> tuple[torch.Tensor, ...]:
        return (self.valid, self.token, self.position, self.finished, self.step_index, self.kv.decode_slot,
                self.out_tokens, self.out_logprobs)

    def _capture(self, temperature: float, top_p: float) -> torch.cuda.CUDAGraph:
        """Warm the step up on a side stream, then capture it (the state tensors are the graph's inputs)."""
        saved = [t.clone() for t in self._state()]
        rng = torch.cuda.get_rng_state(self.device)  # the warm-up's draws must not shift the seeded stream
        if self._warm_stream is None:
            self._warm_stream = torch.cuda.Stream()
        stream = self._warm_stream
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._step(temperature, top_p)
        torch.cuda.current_stream().wait_stream(stream)
        self._restore(saved)
        torch.cuda.set_rng_state(rng, self.device)
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):  # one pool: replays never overlap
            self._step(temperature, top_p)
        self._restore(saved)
        return graph

    def _restore(self, saved: list[torch.Tensor]) -> None:
        for dst, src in zip(self._state(), saved):
            dst.copy_(src)

    # ---- one batch
    @torch.no_grad()
    def decode(self, input_ids: torch.Tensor, attention: torch.Tensor, max_new_tokens: int, temperature: float,
               top_p: float, prefill_tokens: int = 32768) -> Decoded:
        """input_ids/attention [B, W] left-padded on the device. Returns up to max_new_tokens tokens per row (the
        prompt is prefilled in row chunks of about `prefill_tokens` tokens)."""
        rows, width = input_ids.shape
        length = -(-(width + max_new_tokens) // self.length_multiple) * self.length_multiple
        # reuse_shapes: the cache (and the captured steps, and compiled code) of a larger shape serves a smaller
        # request: a smaller batch gets finished filler rows, a shorter request the longer cache; only a larger shape
        # reallocates (once). Otherwise the state fits each request
        if (self._shape is None or rows > self._shape[0] or length > self._shape[1]
                or (not self.reuse_shapes and (rows, length) != self._shape)):
            shape = ((rows, length) if not self.reuse_shapes or self._shape is None else
                     (max(rows, self._shape[0]), max(length, self._shape[1])))
            self._allocate(*shape)
            self._shape = shape
        batch, length = self._shape
        if rows < batch:  # filler rows: one visible pad token, finished from the start
            input_ids = torch.cat([input_ids, input_ids.new_full((batch - rows, width), self.pad_id)])
            filler = attention.new_zeros((batch - rows, width))
            filler[:, -1] = 1
            attention = torch.cat([attention, filler])
        kv = self.kv
        for t in (self.valid, self.finished, self.step_index, self.out_tokens, self.out_logprobs):
            t.zero_()
        self.finished[rows:] = True
        self.valid[:, :width] = attention.bool()
        positions = (attention.long().cumsum(-1) - 1).clamp(min=0)
        query = self.slot_index[:width]
        # a padded query slot would see no key at all (NaN through the softmax): let it see its own slot
        eye = torch.eye(width, dtype=torch.bool, device=self.device)[None, None]
        kv.slots, kv.visible = query, width
        last = []
        rows_per = max(1, prefill_tokens // width)
        for r in range(0, batch, rows_per):
            kv.rows = slice(r, min(batch, r + rows_per))
            masks = {k: m | eye for k, m in self._masks(query, self.valid[kv.rows, :width]).items()}
            last.append(self._forward(input_ids[kv.rows], positions[kv.rows], masks).float())
        kv.rows, kv.visible, kv.slots = slice(None), length, kv.decode_slot
        kv.decode_slot.fill_(width)
        self.position.copy_(positions[:, -1:] + 1)
        self._record(*sample(torch.cat(last), temperature, top_p))
        graph = None
        if self.graphs and max_new_tokens > 1:
            graph = self._graphs.get((temperature, top_p))
            if graph is None:
                graph = self._graphs[(temperature, top_p)] = self._capture(temperature, top_p)
        steps = 1
        every = CHECK_EVERY if graph is not None else 1
        while steps < max_new_tokens:
            if graph is not None:
                graph.replay()
            else:  # slots 0..width-1 hold the prompt, decode step k (from 1) writes slot width + k - 1
                self._step(temperature, top_p, visible=width + steps)
            steps += 1
            if steps % every == 0 and bool(self.finished.all()):
                break
        return Decoded(tokens=self.out_tokens[:rows, :steps].clone(), logprobs=self.out_logprobs[:rows, :steps].clone())
