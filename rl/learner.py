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
from rl.deepspeed_setup import build_engine, init_rank, step_micro
from rl.logprobs import sequence_logprobs
from rl.records import ActorStats, OldLogprobs
from rollout.weights.base import SyncSpec, WeightSender, setup_weight_sender

log = logging.getLogger(__name__)


def objective_params(algo: AlgoConfig, traj_bounds: tuple[float, float] | None = None) -> ObjectiveParams:
    return ObjectiveParams(
        token_bounds=tuple(algo.token_bounds), traj_bounds=traj_bounds or tuple(algo.traj_bounds),
        clip_eps=tuple(algo.clip_eps), tis_cap=algo.tis_cap, gspo_eps=tuple(algo.gspo_eps), loss_agg=algo.loss_agg,
    )


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
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
        if model_cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        self.engine = build_engine(model, actor_cfg, model_cfg.dtype, gas)
        self.ref = None
        if algo_cfg.kl_coef > 0:  # frozen reference for the KL term, in the compute dtype, no optimizer state
            dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(model_cfg.dtype, torch.float32)
            self.ref = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype).to(self.device).eval()
            self.ref.requires_grad_(False)

    def _to_device(self, batch: TrainBatch) -> TrainBatch:
        return TrainBatch(**{k: v.to(self.device) for k, v in vars(batch).items()})

    @torch.no_grad()
    def compute_old_logprobs(self, batch: TrainBatch) -> OldLogprobs:
        """pi_old and reference logprobs for every token, plus entropy and KL(old || ref) sums (rl/records.py)."""
        self.engine.eval()
        width = batch.rollout_logprobs.shape[1]
        olds, refs, ent_sum, kl_sum, n = [], [], 0.0, 0.0, 0.0
        for chunk in batch.chunks(self.cfg.micro_batch_size):
            c = self._to_device(chunk)
            lp, ent = sequence_logprobs(self.engine, c.input_ids, c.attention_mask, self.temperature, True)
            ref = lp if self.ref is None else sequence_logprobs(self.ref, c.input_ids, c.attention_mask,
                                                                self.temperature)[0]
            for dst, src in ((olds, lp), (refs, ref)):
                full = torch.zeros(len(chunk), width)
                full[:, : src.shape[1]] = src.float().cpu()
                dst.append(full)
            ent_sum += float((ent * c.response_mask).sum())
            kl_sum += float((k3_kl(lp, lp, ref) * c.response_mask).sum())
            n += float(c.response_mask.sum())
        return OldLogprobs(torch.cat(olds), torch.cat(refs), ent_sum, kl_sum, n)

    def update(self, minibatches: list[TrainBatch], normalizers: list[float],
               traj_bounds: tuple[float, float]) -> ActorStats:
        """One optimizer step per mini-batch shard. normalizers[i]: global N of mini-batch i."""
        self.engine.train()
        params = objective_params(self.algo, traj_bounds)
        losses, kls, norms = [], [], []
        for mb, norm in zip(minibatches, normalizers):
            micro = mb.chunks(self.cfg.micro_batch_size)
            if len(micro) != self.gas:
                raise RuntimeError(f"mini-batch shard of {len(mb)} gives {len(micro)} micro-batches, expected "
                                   f"{self.gas}; the driver's batch split is inconsistent")
            total, kl_total = 0.0, 0.0
            for c in map(self._to_device, micro):
                lp, _ = sequence_logprobs(self.engine, c.input_ids, c.attention_mask, self.temperature)
                loss = policy_loss(self.algo.objective, lp, c.old_logprobs, c.rollout_logprobs, c.advantages,
                                   c.response_mask, params, norm)
                if self.ref is not None:
                    kl = aggregate(k3_kl(lp, c.old_logprobs, c.ref_logprobs), c.response_mask, params.loss_agg, norm)
                    loss = loss + self.algo.kl_coef * kl
                    kl_total += kl.item()
                step_micro(self.engine, loss, self.gas, self.world_size)
                total += loss.item()
            losses.append(total)
            kls.append(kl_total)
            gn = self.engine.get_global_grad_norm()
            norms.append(float(gn) if gn is not None else float("nan"))
        return ActorStats(loss=sum(losses) / len(losses), kl=sum(kls) / len(kls), grad_norm=sum(norms) / len(norms),
                          lr=float(self.engine.get_lr()[0]))

    def endpoint(self) -> tuple[str, int]:
        """This rank's node IP and a free port on it (where the weight sync's rendezvous is hosted)."""
        import ray

        from rl.learner_group import free_port

        return ray.util.get_node_ip_address(), free_port()

    def open_weight_sender(self, spec: SyncSpec) -> object:
        """Set up rank 0's half of `rollout.weight_sync` (rollout/weights/); returns the receivers' handshake."""
        self._sender: WeightSender = setup_weight_sender(spec)
        return self._sender.open(spec, self._policy_weights())

    def send_weights(self) -> object:
        """Push the current weights; returns the message receivers load from (None for broadcasts)."""
        return self._sender.send(self._policy_weights())

    def weights_sent(self) -> None:
        """Every engine has loaded this sync: the sender may free what it kept alive."""
        self._sender.release()

    def _policy_weights(self) -> dict:
        """The state dict engines load, tied duplicates (lm_head = embed_tokens) sent once."""
        from rollout.weights.payload import without_tied

        return without_tied(self.engine.module.state_dict())

    def save(self, path: str) -> str:
        """HF-format checkpoint (model + tokenizer) loadable by AutoModelForCausalLM.from_pretrained."""
        from transformers import AutoTokenizer

        if self.rank == 0:
            self.engine.module.save_pretrained(path)
            AutoTokenizer.from_pretrained(self.model_path).save_pretrained(path)
        return path
