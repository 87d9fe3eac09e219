"""Policy learner: one DeepSpeed rank behind a Ray actor (`rl.learner_group` creates and drives the ranks).

Computes pi_old (before the update, no grad; plus reference logprobs when KL is on) and runs one epoch of
mini-batch updates with the configured objective. Each mini-batch loss is normalised by the *global* mini-batch
count (tokens or sequences over all ranks), so micro-batching and data parallelism give the full-batch gradient.
"""
from __future__ import annotations

import logging

import torch

from config.common import ModelConfig
from config.rl import ActorConfig, AlgoConfig
from rl.algos.mispo import aggregate
from rl.algos.objectives import ObjectiveParams, k3_kl, policy_loss
from rl.batch import TrainBatch
from rl.compile_regions import compile_blocks
from rl.deepspeed_setup import build_engine, build_frozen_engine, init_rank, step_budget_micro, step_micro
from rl.engine_checkpoint import load_engine, save_engine, state_bytes
from rl.hf_export import save_hf_checkpoint
from rl.logprobs import sequence_logprobs
from rl.packing import token_budget_chunks
from rl.records import ActorStats, OldLogprobs
from rl.varlen_attention import learner_attention
from rl.weight_source import Zero3Source, weight_source
from rollout.weights.base import SyncSpec, WeightSender, setup_weight_sender
from rollout.weights.source import weight_plan

log = logging.getLogger(__name__)


def objective_params(algo: AlgoConfig, traj_bounds: tuple[float, float] | None = None) -> ObjectiveParams:
    return ObjectiveParams(
        token_bounds=tuple(algo.token_bounds), traj_bounds=traj_bounds or tuple(algo.traj_bounds),
        clip_eps=tuple(algo.clip_eps), tis_cap=algo.tis_cap, gspo_eps=tuple(algo.gspo_eps), loss_agg=algo.loss_agg,
        icepop_bounds=tuple(algo.icepop_bounds), gspo_mispo_eps=tuple(algo.gspo_mispo_eps),
    )


def _padded(rows: list[torch.Tensor], width: int) -> torch.Tensor:
    """Per-chunk [b, <= width] tensors -> one [B, width] CPU tensor, zero-padded on the right."""
    out = [torch.nn.functional.pad(r.cpu(), (0, width - r.shape[1])) for r in rows]
    return torch.cat(out) if out else torch.zeros(0, width)


class Learner:
    """One data-parallel rank. Per RL step: compute_old_logprobs -> update -> (rank 0) send_weights."""

    def __init__(self, model_path: str, model_cfg: ModelConfig, actor_cfg: ActorConfig, algo_cfg: AlgoConfig,
                 temperature: float, gas: int, rank: int, world_size: int, master_addr: str, master_port: int,
                 seed: int) -> None:
        logging.basicConfig(level=logging.INFO)
        from transformers import AutoModelForCausalLM

        self.device = init_rank(rank, world_size, master_addr, master_port, actor_cfg.torch_threads, seed)
        self.cfg, self.algo, self.temperature, self.gas = actor_cfg, algo_cfg, temperature, gas
        self.rank, self.world_size, self.model_path = rank, world_size, model_path
        attn = learner_attention(model_cfg, actor_cfg)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32, **attn)
        if model_cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        if actor_cfg.compile:
            log.info("actor: compiled %d transformer blocks", compile_blocks(model))
        self.lora = actor_cfg.lora.r > 0
        if self.lora:  # adapters only train; the reference is the same model with adapters disabled
            from rl.lora import apply_lora

            model = apply_lora(model, actor_cfg.lora)
            if model_cfg.gradient_checkpointing:
                model.enable_input_require_grads()  # checkpointed blocks need an input that requires grad
        self.engine = build_engine(model, actor_cfg, model_cfg.dtype, gas)
        self.ref = None
        if algo_cfg.kl_coef > 0 and not self.lora:  # frozen KL reference: compute dtype, no optimizer, sharded like the actor
            ref = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32, **attn)
            self.ref = build_frozen_engine(ref, actor_cfg, model_cfg.dtype)
        self._wplan: list | None = None

    def _to_device(self, batch: TrainBatch) -> TrainBatch:
        return batch.to(self.device)

    def _micro_batches(self, batch: TrainBatch, count: int | None) -> list[TrainBatch | None]:
        """Token-budget micro-batches (`max_tokens_per_micro`; `count` of them, the same on every rank, None for an
        idle pass) or `micro_batch_size` rows each."""
        if self.cfg.max_tokens_per_micro > 0:
            return token_budget_chunks(batch, self.cfg.max_tokens_per_micro, count)
        return batch.chunks(self.cfg.micro_batch_size)

    def _logprobs(self, model, c: TrainBatch, with_entropy: bool = False, lengths: list[int] | None = None):
        # the chunked head calls the decoder and the head directly; ZeRO-3's parameter fetching follows the root
        # module's forward, so under ZeRO-3 the full head runs (logprob_chunk_tokens is ignored there)
        chunk = self.cfg.logprob_chunk_tokens if self.cfg.zero_stage != 3 else 0
        return sequence_logprobs(model, c.input_ids, c.attention_mask, self.temperature, with_entropy,
                                 packed=self.cfg.max_tokens_per_micro > 0, chunk_tokens=chunk, compiled=self.cfg.compile,
                                 lengths=lengths)

    @torch.no_grad()
    def compute_old_logprobs(self, batch: TrainBatch, count: int | None = None) -> OldLogprobs:
        """pi_old and reference logprobs for every token, plus entropy and KL(old || ref) sums (rl/records.py)."""
        self.engine.eval()
        width = batch.rollout_logprobs.shape[1]
        olds, refs, sums = [], [], []  # kept on the device until the last chunk: one wait for the GPU, not three per chunk
        for chunk in self._micro_batches(batch, count):
            if chunk is None:  # idle pass: keeps ZeRO-3's parameter gathers in step with the other ranks
                self._logprobs(self.engine, self._to_device(batch.select([0])))
                continue
            c, lengths = self._to_device(chunk), chunk.lengths()
            lp, ent = self._logprobs(self.engine, c, True, lengths)
            ref = lp if self.ref is None else self._logprobs(self.ref, c, False, lengths)[0]
            if self.lora and self.algo.kl_coef > 0:
                with self.engine.module.disable_adapter():
                    ref = self._logprobs(self.engine, c, False, lengths)[0]
            olds.append(lp.float())
            refs.append(ref.float())
            sums.append(torch.stack([(ent * c.response_mask).sum(), (k3_kl(lp, lp, ref) * c.response_mask).sum(),
                                     c.response_mask.sum()]).float())
        ent_sum, kl_sum, n = torch.stack(sums).sum(0).tolist() if sums else (0.0, 0.0, 0.0)
        return OldLogprobs(_padded(olds, width), _padded(refs, width), ent_sum, kl_sum, n)

    def update(self, minibatches: list[TrainBatch], normalizers: list[float], traj_bounds: tuple[float, float],
               counts: list[int] | None = None) -> ActorStats:
        """One optimizer step per mini-batch shard. normalizers[i]: global N of mini-batch i; counts[i]: its number
        of token-budget micro-batches (the same on every rank)."""
        self.engine.train()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        params = objective_params(self.algo, traj_bounds)
        losses, kls, norms = [], [], []
        for k, (mb, norm) in enumerate(zip(minibatches, normalizers)):
            micro = self._micro_batches(mb, counts[k] if counts else None)
            budget = self.cfg.max_tokens_per_micro > 0
            if not budget and len(micro) != self.gas:
                raise RuntimeError(f"mini-batch shard of {len(mb)} gives {len(micro)} micro-batches, expected "
                                   f"{self.gas}; the driver's batch split is inconsistent")
            total = kl_total = torch.zeros((), device=self.device)  # summed on the device: no host sync per micro
            for i, c in enumerate(micro):
                idle = c is None  # a rank with fewer rows: a zero-weight pass so the collectives line up
                host = mb.select([0]) if idle else c
                c = self._to_device(host)
                lp, _ = self._logprobs(self.engine, c, False, host.lengths())
                loss = policy_loss(self.algo.objective, lp, c.old_logprobs, c.rollout_logprobs, c.advantages,
                                   c.response_mask, params, norm)
                if self.ref is not None:
                    kl = aggregate(k3_kl(lp, c.old_logprobs, c.ref_logprobs), c.response_mask, params.loss_agg, norm)
                    loss = loss + self.algo.kl_coef * kl
                    kl_total = kl_total + kl.detach()
                if idle:
                    loss = loss * 0.0
                if budget:
                    step_budget_micro(self.engine, loss, i == len(micro) - 1, self.world_size)
                else:
                    step_micro(self.engine, loss, self.gas, self.world_size)
                total = total + loss.detach()
            losses.append(total)
            kls.append(kl_total)
            gn = self.engine.get_global_grad_norm()
            norms.append(gn if gn is not None else float("nan"))
        losses, kls, norms = ([float(x) for x in xs] for xs in (losses, kls, norms))  # the update's one host sync
        peak = torch.cuda.max_memory_allocated(self.device) / 2**30 if self.device.type == "cuda" else float("nan")
        return ActorStats(loss=sum(losses) / len(losses), kl=sum(kls) / len(kls), grad_norm=sum(norms) / len(norms),
                          lr=float(self.engine.get_lr()[0]), peak_memory_gib=peak)

    def endpoint(self) -> tuple[str, int]:
        """This rank's node IP and a free port on it (where the weight sync's rendezvous is hosted)."""
        import ray

        from rl.ports import free_port

        return ray.util.get_node_ip_address(), free_port()

    def open_weight_sender(self, spec: SyncSpec) -> object:
        """Every rank: agree on the bucket plan (under ZeRO-3 all ranks gather each bucket together); rank 0 also
        sets up its half of `rollout.weight_sync` (rollout/weights/) and returns the receivers' handshake."""
        source = weight_source(self.engine.module)
        self._wplan = weight_plan(source, spec.bucket_mb)
        if self.rank != 0:
            return None
        if self.lora:
            log.info("weight sync: merged LoRA weights (base + alpha/r * B A) to every engine")
        self._sender: WeightSender = setup_weight_sender(spec)
        return self._sender.open(spec, source)

    def send_weights(self) -> object:
        """Rank 0 pushes the current weights and returns the message receivers load from (None for broadcasts);
        the other ranks only take part in the per-bucket gathers of a ZeRO-3 model."""
        if self.rank != 0:
            if self.cfg.zero_stage == 3:  # nothing to do on a peer that holds full parameters
                for _ in Zero3Source(self.engine.module).buckets(self._wplan):
                    pass
            return None
        return self._sender.send(weight_source(self.engine.module))

    def weights_sent(self) -> None:
        """Every engine has loaded this sync: the sender may free what it kept alive."""
        if self.rank == 0:
            self._sender.release()

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.engine.module.parameters() if p.requires_grad)

    def save(self, path: str) -> str:
        """HF-format checkpoint (model + tokenizer) loadable by AutoModelForCausalLM.from_pretrained. Every rank
        calls it: under ZeRO-3 the weights are gathered bucket by bucket and rank 0 writes each shard. With LoRA:
        the adapter in `path/adapter` (peft format) and, with `actor.lora.save_merged`, the merged model in `path`."""
        from transformers import AutoTokenizer

        if self.lora:
            if self.rank == 0:
                from rl.lora import merged_state_dict

                self.engine.module.save_pretrained(f"{path}/adapter")
                if self.cfg.lora.save_merged:
                    base = self.engine.module.get_base_model()
                    base.save_pretrained(path, state_dict=merged_state_dict(self.engine.module))
                    AutoTokenizer.from_pretrained(self.model_path).save_pretrained(path)
            return path
        source = weight_source(self.engine.module)
        if isinstance(source, Zero3Source):
            save_hf_checkpoint(source, self.engine.module.config, path, self.model_path, writer=self.rank == 0,
                               generation_config=getattr(self.engine.module, "generation_config", None))
        elif self.rank == 0:
            self.engine.module.save_pretrained(path)
            AutoTokenizer.from_pretrained(self.model_path).save_pretrained(path)
        return path

    def save_state(self, path: str) -> None:
        """Every rank: the resumable state (DeepSpeed checkpoint + RNG) under `path`. The KL reference is the frozen
        base model (`model.path`), so it is never saved: a resume rebuilds it from there."""
        save_engine(self.engine, path)

    def load_state(self, path: str) -> None:
        load_engine(self.engine, path)

    def state_bytes(self) -> int:
        """Estimated disk bytes of save_state + an fp32 HF export (the pre-save free-space check)."""
        return state_bytes(self.engine, hf_bytes_per_param=4)
