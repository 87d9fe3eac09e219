"""Policy learner: one DeepSpeed rank behind a Ray actor (`rl.learner_group` creates and drives the ranks).

Computes pi_old (before the update, no grad; plus reference logprobs when KL is on) and runs one epoch of
mini-batch updates with the configured objective. Each mini-batch loss is normalised by the *global* mini-batch
count (tokens or sequences over all ranks), so micro-batching and data parallelism give the full-batch gradient.
"""
from __future__ import annotations

import logging

import torch

from rl.algos.mispo import aggregate
from rl.algos.objectives import ObjectiveParams, k3_kl, policy_loss
from rl.batch import TrainBatch
from rl.config_schema import ActorConfig, AlgoConfig, ModelConfig
from rl.deepspeed_setup import build_engine, init_rank, step_micro
from rl.logprobs import sequence_logprobs
from rollout.weights import WeightPayload, pack

log = logging.getLogger(__name__)


def objective_params(algo: AlgoConfig, traj_bounds: tuple[float, float] | None = None) -> ObjectiveParams:
    return ObjectiveParams(
        token_bounds=tuple(algo.token_bounds), traj_bounds=traj_bounds or tuple(algo.traj_bounds),
        clip_eps=tuple(algo.clip_eps), tis_cap=algo.tis_cap, gspo_eps=tuple(algo.gspo_eps), loss_agg=algo.loss_agg,
    )


class Learner:
    """One data-parallel rank. Per RL step: compute_old_logprobs -> update -> (rank 0) get_weights."""

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
    def compute_old_logprobs(self, batch: TrainBatch) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """pi_old and reference logprobs for every token ([B, L-1] each, CPU; ref = old when KL is off), plus
        entropy and KL(old || ref) sums over response tokens."""
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
        return torch.cat(olds), torch.cat(refs), {"entropy_sum": ent_sum, "kl_sum": kl_sum, "tokens": n}

    def update(self, minibatches: list[TrainBatch], normalizers: list[float],
               traj_bounds: tuple[float, float]) -> dict[str, float]:
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
        return {"loss": sum(losses) / len(losses), "kl": sum(kls) / len(kls), "grad_norm": sum(norms) / len(norms),
                "lr": float(self.engine.get_lr()[0])}

    def node_ip(self) -> str:
        import ray

        return ray.util.get_node_ip_address()

    def free_port(self) -> int:
        from rl.learner_group import free_port

        return free_port()

    def init_weight_group(self, host: str, port: int, world_size: int, bucket_mb: int, backend: str = "nccl") -> list:
        """Join the weight-broadcast group as its sender (rank 0); returns the bucket plan (plain lists) the
        engines receive with."""
        from rollout.gpu_weight_sync import WeightGroup, plan_buckets, plan_to_wire, specs_of

        self._wplan = plan_buckets(specs_of(self._policy_weights()), bucket_mb)
        self._wgroup = WeightGroup(host, port, 0, world_size, backend=backend)
        return plan_to_wire(self._wplan)

    def ipc_init(self, bucket_mb: int) -> tuple[str, list]:
        """CUDA IPC sync (engines on this GPU): returns (GPU uuid, bucket plan)."""
        from rollout.gpu_weight_sync import IpcBuckets, gpu_uuid, plan_buckets, plan_to_wire, specs_of

        self._wplan = plan_buckets(specs_of(self._policy_weights()), bucket_mb)
        self._ipc = IpcBuckets()
        return gpu_uuid(), plan_to_wire(self._wplan)

    def ipc_share(self) -> list:
        """IPC handles to the current weights (kept alive until ipc_release)."""
        return self._ipc.share(self._policy_weights(), self._wplan)

    def ipc_release(self) -> None:
        self._ipc.release()

    def broadcast_weights(self) -> int:
        """Send the current weights to every engine of the weight group (bytes sent)."""
        return self._wgroup.send(self._policy_weights(), self._wplan)

    def get_weights(self) -> WeightPayload:
        """Full policy weights as a zero-copy object-store payload (rollout.weights.pack); ZeRO stages 0-2 keep
        full parameters on each rank."""
        return pack({k: v.detach().to("cpu", copy=True) for k, v in self._policy_weights().items()})

    def _policy_weights(self) -> dict:
        """The state dict engines load, tied duplicates (lm_head = embed_tokens) sent once."""
        from rollout.weights import without_tied

        return without_tied(self.engine.module.state_dict())

    def save(self, path: str) -> str:
        """HF-format checkpoint (model + tokenizer) loadable by AutoModelForCausalLM.from_pretrained."""
        from transformers import AutoTokenizer

        if self.rank == 0:
            self.engine.module.save_pretrained(path)
            AutoTokenizer.from_pretrained(self.model_path).save_pretrained(path)
        return path
