"""HF transformers engine: `model.generate` with sampling (on CUDA by default the engine's own decoding loop,
rollout/static_decoder.py, with the same sampling semantics); the reported logprobs are those of the distribution
the tokens were sampled from.

Sampling follows our SamplingParams and nothing else. transformers fills every generation setting left unset from
the checkpoint's generation_config.json (repetition_penalty, min_p, top_k, no_repeat_ngram_size,
min_new_tokens, ...), which would sample from a penalised distribution while the learner's pi_old is the plain
softmax. So the checkpoint's config is replaced at load by one that keeps only its special tokens, every setting
that adds a logits processor is passed at its neutral value, and the processors transformers builds are checked to
be temperature and top-p only (`SamplingConfigError` otherwise).

Reported logprob: log_softmax of the processed scores transformers sampled from, at the sampled token, recorded
step by step on the device by the last logits processor (`SampledLogprobs`): generate never keeps every step's
[batch, vocab] scores (output_scores would hold T x B x V floats: tens of GB for a 150k vocabulary at batch 256). With
top_p = 1 that is log_softmax(logits / temperature), exactly the learner's pi_old. With top_p < 1 it is the
tempered distribution truncated to the nucleus and renormalised: the quantity vLLM reports with
`logprobs_mode=processed_logprobs` (rollout/vllm_engine.py), so both engines agree; docs/mispo.md says what that
does to MIS-PO's ratio, and a warning is logged once.
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Mapping

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from rollout.base import Engine, warn_top_p_once
from rollout.static_decoder import StaticDecoder, supported
from rollout.types import Completion, SamplingParams

log = logging.getLogger(__name__)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Every generation setting that adds a logits processor in transformers, at its neutral value (None: no processor).
NEUTRAL_PROCESSORS: dict[str, Any] = dict(
    top_k=0, min_p=None, top_h=None, typical_p=1.0, epsilon_cutoff=0.0, eta_cutoff=0.0, repetition_penalty=1.0,
    encoder_repetition_penalty=1.0, no_repeat_ngram_size=0, encoder_no_repeat_ngram_size=0, min_length=0,
    min_new_tokens=None, bad_words_ids=None, sequence_bias=None, suppress_tokens=None, begin_suppress_tokens=None,
    forced_bos_token_id=None, forced_eos_token_id=None, exponential_decay_length_penalty=None, guidance_scale=None,
    watermarking_config=None, remove_invalid_values=False, renormalize_logits=False, num_beams=1,
)
DECODERS = ("auto", "own", "generate")
ALLOWED_PROCESSORS = ("TemperatureLogitsWarper", "TopPLogitsWarper")
SAMPLING_KEYS = {"temperature", "top_p", *NEUTRAL_PROCESSORS}  # reported when a checkpoint sets them
SPECIAL_TOKEN_KEYS = ("eos_token_id", "pad_token_id", "bos_token_id", "decoder_start_token_id")
def left_pad(prompts: list[list[int]], pad_id: int, multiple: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) [B, W], prompts right-aligned so generation continues right after each one; W is
    the longest prompt rounded up to `multiple`."""
    width = -(-max(len(p) for p in prompts) // multiple) * multiple
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        input_ids[i, width - len(p):] = torch.tensor(p)
        attention[i, width - len(p):] = 1
    return input_ids, attention


class SamplingConfigError(RuntimeError):
    """transformers would sample with a logits processor that the reported logprobs do not account for."""


class SampledLogprobs(LogitsProcessor):
    """The last processor of the sampling list (after our temperature/top-p warpers): keeps the log-softmax of the
    final scores of the current step and, one call later (when the sampled token has joined input_ids), gathers it
    at that token. `finish(last_tokens)` adds the last step's."""

    def __init__(self) -> None:
        self.prev: torch.Tensor | None = None
        self.steps: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prev is not None:
            self.steps.append(self.prev.gather(-1, input_ids[:, -1:])[:, 0])
        self.prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, last_tokens: torch.Tensor) -> torch.Tensor:
        """[B, T] logprobs of the generated tokens (T = the number of steps generate ran)."""
        if self.prev is not None:
            self.steps.append(self.prev.gather(-1, last_tokens[:, None])[:, 0])
            self.prev = None
        return torch.stack(self.steps, dim=1) if self.steps else last_tokens.new_zeros((len(last_tokens), 0)).float()


class HFEngine(Engine):
    """Batched sampling with transformers. Good for tiny models on CPU; on GPU vLLM is the fast path."""

    def __init__(self, model_path: str, dtype: str = "float32", threads: int = 0, batch_size: int = 256,
                 static_cache: bool = False, decoder: str = "auto", cuda_graphs: bool = True,
                 compile: bool = False) -> None:
        """decoder: `own` decodes with rollout/static_decoder.py (preallocated cache, sampling on the device, the
        step captured in a CUDA graph when `cuda_graphs` and on CUDA); `generate` calls `model.generate`; `auto` is
        `own` for the models it supports (on CPU too: 1.15-1.5x `generate`'s speed for the tiny models) and
        `generate` otherwise;
        compile: the own decoder's step forward through torch.compile before capture.
        static_cache (generate only): transformers' static KV cache, which it compiles on CUDA; ignored on CPU.
        Both measured by scripts/bench/hf_decode_modes.py."""
        if threads > 0:
            torch.set_num_threads(threads)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=DTYPES[dtype]).to(self.device).eval()
        self.batch_size = batch_size
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id
        self.stop_ids = self._stop_ids()
        self.model.generation_config = self._neutral_model_config(model_path)
        self.static_cache = static_cache and self.device.type == "cuda"
        self.decoder = self._own_decoder(decoder, cuda_graphs, compile)
        self.version = 0
        self.max_model_len = getattr(self.model.config, "max_position_embeddings", None)
        self._checked: set[tuple[float, float]] = set()

    def _own_decoder(self, decoder: str, cuda_graphs: bool, compile: bool) -> StaticDecoder | None:
        """The own decoding loop when `decoder` asks for it (None: `model.generate`)."""
        if decoder not in DECODERS:
            raise ValueError(f"rollout.hf.decoder: {decoder!r} is not one of {list(DECODERS)}")
        if decoder == "generate" or (decoder == "auto" and self.static_cache):
            return None
        reason = supported(self.model)
        if reason is not None:
            if decoder == "own":
                raise ValueError(f"rollout.hf.decoder=own: {reason}; use rollout.hf.decoder=generate")
            log.warning("rollout.hf.decoder=auto: %s, decoding with model.generate", reason)
            return None
        return StaticDecoder(self.model, self.pad_id, self.stop_ids, graphs=cuda_graphs, compile_forward=compile)

    def _stop_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    def _neutral_model_config(self, model_path: str) -> GenerationConfig:
        """The checkpoint's generation config reduced to its special tokens: `generate` fills every setting we leave
        unset from `model.generation_config`, so nothing else of the checkpoint's may stay there."""
        loaded = self.model.generation_config
        ignored = {k: v for k, v in loaded.to_diff_dict().items()
                   if k in SAMPLING_KEYS and v != NEUTRAL_PROCESSORS.get(k)}
        if ignored:
            log.warning("%s: ignoring the checkpoint's generation settings %s; rollouts sample with "
                        "rollout.temperature and rollout.top_p only, which is what the reported and the learner's "
                        "logprobs assume", model_path, ignored)
        return GenerationConfig(**{k: getattr(loaded, k, None) for k in SPECIAL_TOKEN_KEYS})

    def sampling_config(self, params: SamplingParams) -> GenerationConfig:
        """The full sampling configuration for `params`: temperature and top-p, every other processor neutral.
        Temperature 0 decodes greedily (evaluation's pass@1); its logprobs are then at temperature 1."""
        greedy = params.temperature == 0
        return GenerationConfig(
            do_sample=not greedy, temperature=1.0 if greedy else params.temperature,
            top_p=1.0 if greedy else params.top_p, max_new_tokens=params.max_new_tokens,
            eos_token_id=self.stop_ids, pad_token_id=self.pad_id, return_dict_in_generate=True, output_scores=False,
            **NEUTRAL_PROCESSORS, **({"cache_implementation": "static"} if self.static_cache else {}),
        )

    def sampling_processors(self, gen_cfg: GenerationConfig) -> list[str] | None:
        """Class names of the logits processors `generate` builds for `gen_cfg` after merging it with the model's
        config; None when this transformers version's (private) helpers have other signatures."""
        try:
            merged, _ = self.model._prepare_generation_config(gen_cfg)
            self.model._prepare_special_tokens(merged, True, device=self.device)
            procs = self.model._get_logits_processor(
                generation_config=merged, input_ids_seq_length=1,
                encoder_input_ids=torch.zeros((1, 1), dtype=torch.long, device=self.device),
                prefix_allowed_tokens_fn=None, logits_processor=LogitsProcessorList(), device=self.device)
        except (AttributeError, TypeError) as exc:
            log.warning("cannot list transformers' logits processors (%s: %s); sampling settings are neutral but "
                        "unverified", type(exc).__name__, exc)
            return None
        return [type(p).__name__ for p in procs]

    def _check_processors(self, gen_cfg: GenerationConfig) -> None:
        """Raise SamplingConfigError if `generate` would apply more than temperature and top-p (once per setting)."""
        key = (gen_cfg.temperature, gen_cfg.top_p)
        if key in self._checked:
            return
        names = self.sampling_processors(gen_cfg) or []
        extra = [n for n in names if n not in ALLOWED_PROCESSORS]
        if extra:
            raise SamplingConfigError(
                f"transformers would sample with {extra} besides temperature/top-p, which the rollout logprobs do not "
                f"account for; keep the setting that enables them off model.generation_config, or add it to "
                f"NEUTRAL_PROCESSORS in rollout/hf_engine.py")
        self._checked.add(key)

    def decode(self, token_ids: list[int]) -> str:
        return self.tokenizer.decode(token_ids, skip_special_tokens=True)

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[list[Completion]]:
        warn_top_p_once(params.top_p)
        gen_cfg = self.sampling_config(params)
        self._check_processors(gen_cfg)
        flat = [p for p in prompts for _ in range(params.n)]
        if params.seed is not None:
            torch.manual_seed(params.seed)
        done: list[Completion] = []
        for start in range(0, len(flat), self.batch_size):
            done += self._generate_batch(flat[start:start + self.batch_size], gen_cfg)
        return [done[i * params.n:(i + 1) * params.n] for i in range(len(prompts))]

    def _generate_batch(self, prompts: list[list[int]], gen_cfg: GenerationConfig) -> list[Completion]:
        # few distinct shapes -> few recompilations of the static-cache decoder
        input_ids, attention = left_pad(prompts, self.pad_id, multiple=64 if self.static_cache else 1)
        width = input_ids.shape[1]
        if self.decoder is not None:
            temperature = 0.0 if not gen_cfg.do_sample else gen_cfg.temperature
            out = self.decoder.decode(input_ids.to(self.device), attention.to(self.device), gen_cfg.max_new_tokens,
                                      temperature, gen_cfg.top_p)
            tokens, lps = out.tokens.cpu(), out.logprobs.cpu()
            return [self._completion(tokens[i], lps[i]) for i in range(len(prompts))]
        # transformers puts custom processors before its own warpers, so temperature and top-p run here, in front
        # of the recorder, and the generation config carries their neutral values
        recorder = SampledLogprobs()
        procs: list[LogitsProcessor] = []
        if gen_cfg.do_sample and gen_cfg.temperature != 1.0:
            procs.append(TemperatureLogitsWarper(gen_cfg.temperature))
        if gen_cfg.do_sample and gen_cfg.top_p < 1.0:
            procs.append(TopPLogitsWarper(gen_cfg.top_p))
        run_cfg = copy.deepcopy(gen_cfg)
        run_cfg.temperature, run_cfg.top_p = 1.0, 1.0
        out = self.model.generate(
            input_ids=input_ids.to(self.device), attention_mask=attention.to(self.device), generation_config=run_cfg,
            logits_processor=LogitsProcessorList([*procs, recorder]),
        )
        new_tokens = out.sequences[:, width:]
        token_lp = recorder.finish(new_tokens[:, -1]).cpu()
        if token_lp.shape[1] != new_tokens.shape[1]:
            raise RuntimeError(f"recorded {token_lp.shape[1]} logprob steps for {new_tokens.shape[1]} tokens: this "
                               "transformers version calls logits processors differently; report it")
        new_tokens = new_tokens.cpu()
        return [self._completion(new_tokens[i], token_lp[i]) for i in range(len(prompts))]

    def _completion(self, tokens: torch.Tensor, lps: torch.Tensor) -> Completion:
        ids = tokens.tolist()
        end, reason = len(ids), "length"
        for t, tok in enumerate(ids):
            if tok in self.stop_ids:
                end, reason = t + 1, "stop"
                break
        ids = ids[:end]
        return Completion(token_ids=ids, logprobs=lps[:end].tolist(), finish_reason=reason, text=self.decode(ids))

    def release_memory(self) -> None:
        if self.decoder is not None:
            self.decoder.release()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()  # the decoder's state, or `generate`'s dynamic cache (gone with its call)

    def update_weights(self, state_dict: Mapping[str, torch.Tensor], version: int) -> None:
        missing, unexpected = self.model.load_state_dict(dict(state_dict), strict=False)
        missing = [k for k in missing if k != "lm_head.weight" or not self.model.config.tie_word_embeddings]
        if missing or unexpected:
            raise RuntimeError(f"weight update mismatch: missing={missing[:5]} unexpected={unexpected[:5]}")
        self.version = version
