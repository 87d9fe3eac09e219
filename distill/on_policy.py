"""On-policy distillation (merge option, `on_policy.steps > 0`), after the student's SFT on the kept samples.

Each step: the student samples responses to prompts of the mix (HF rollout engine), the teacher of each prompt's
domain (its expert) scores every sampled token, and the student takes a policy-gradient step on the per-token
reverse-KL signal A_t = log p_teacher(a_t | s_t) - log p_student(a_t | s_t) (no critic, no reward model): the
student is pulled toward what its domain's teacher would say in the states the student itself visits.
Teachers are held in memory next to the student (fine for small models; large ones need teacher servers).
"""
from __future__ import annotations

import logging
import random
from pathlib import Path

import torch

from config.distill import OnPolicyConfig
from distill.generate import PromptRow, chat_prompt_ids

log = logging.getLogger(__name__)


def reverse_kl_advantages(student_lp: torch.Tensor, teacher_lp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-token advantage log p_teacher - log p_student on response tokens, 0 elsewhere. All [B, S]; its negative
    mean is the k1 estimate of KL(student || teacher) on the student's own samples."""
    return (teacher_lp - student_lp).detach() * mask


def _prompt_stream(rows: list[PromptRow], seed: int):
    """Endless shuffled passes over the prompts."""
    rng, epoch = random.Random(seed), 0
    while True:
        order = list(rows)
        rng.shuffle(order)
        yield from order
        epoch += 1


def _trajectories(rows: list[PromptRow], prompt_ids: list[list[int]], outs, version: int) -> list:
    from rollout.types import Trajectory

    return [Trajectory(group_id=i, domain=r.domain, prompt_text=r.prompt, prompt_ids=p, response_ids=c.token_ids,
                       response_text=c.text, rollout_logprobs=c.logprobs, loss_mask=[1] * len(c.token_ids),
                       policy_version=version, truncated=c.finish_reason == "length")
            for i, (r, p, group) in enumerate(zip(rows, prompt_ids, outs)) for c in group]


@torch.no_grad()
def _teacher_logprobs(batch, trajs, teachers: dict[str, torch.nn.Module], teacher_of: dict[str, str],
                      temperature: float) -> torch.Tensor:
    """[B, L-1] logprobs of the sampled tokens under each trajectory's domain teacher."""
    from rl.logprobs import sequence_logprobs

    out = torch.zeros_like(batch.rollout_logprobs)
    for name, model in teachers.items():
        idx = [i for i, t in enumerate(trajs) if teacher_of[t.domain] == name]
        if idx:
            sub = batch.select(idx)
            device = next(model.parameters()).device
            lp, _ = sequence_logprobs(model, sub.input_ids.to(device), sub.attention_mask.to(device), temperature)
            out[idx, : lp.shape[1]] = lp.float().cpu()
    return out


def on_policy_distill(student_path: str, experts: dict[str, str], teacher_of: dict[str, str], rows: list[PromptRow],
                      cfg: OnPolicyConfig, out_dir: Path, seed: int, metrics, progress_bar: bool = True,
                      dtype: str = "float32") -> Path:
    """Refine the student at `student_path` on-policy; returns the HF checkpoint written under `out_dir`.
    dtype: compute dtype of the learner (DeepSpeed mixed precision), the sampler and the teachers."""
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from config.common import LearnerRoleConfig
    from rl.algos.mispo import pg_loss
    from rl.batch import build_batch
    from rl.deepspeed_setup import build_engine, init_rank, step_micro
    from rl.logprobs import sequence_logprobs
    from rollout.base import setup_engine
    from rollout.types import SamplingParams
    from sft.trainer import launch_world

    _, world, addr, port = launch_world()
    if world != 1:
        raise ValueError("on_policy: runs in a single process; launch distill.merge without torchrun/deepspeed")
    init_rank(0, 1, addr, port, cfg.torch_threads, seed)  # a no-op for the process group if SFT set it up
    tokenizer = AutoTokenizer.from_pretrained(student_path)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    batch_size = cfg.prompts_per_step * cfg.samples_per_prompt
    gas = -(-batch_size // cfg.micro_batch_size)
    role = LearnerRoleConfig(lr=cfg.lr, micro_batch_size=cfg.micro_batch_size, torch_threads=cfg.torch_threads)
    engine = build_engine(AutoModelForCausalLM.from_pretrained(student_path, dtype=torch.float32), role, dtype, gas)
    device = next(engine.module.parameters()).device
    sampler = setup_engine("hf", student_path, dtype, cfg.torch_threads, batch_size)
    torch_dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(dtype, torch.float32)
    teachers = {n: AutoModelForCausalLM.from_pretrained(experts[n], dtype=torch_dtype).to(device).eval()
                for n in sorted(set(teacher_of.values()))}
    stream = _prompt_stream(rows, seed)
    for step in tqdm(range(1, cfg.steps + 1), desc="on-policy distill", unit="step", disable=not progress_bar):
        batch_rows = [next(stream) for _ in range(cfg.prompts_per_step)]
        prompt_ids = [chat_prompt_ids(tokenizer, r.prompt) for r in batch_rows]
        params = SamplingParams(n=cfg.samples_per_prompt, temperature=cfg.temperature,
                                max_new_tokens=cfg.max_new_tokens, seed=seed + step)
        trajs = _trajectories(batch_rows, prompt_ids, sampler.generate(prompt_ids, params), step - 1)
        batch = build_batch(trajs, torch.ones(len(trajs)), pad_id)
        engine.eval()
        with torch.no_grad():
            student_lp = sequence_logprobs(engine.module, batch.input_ids.to(device), batch.attention_mask.to(device),
                                           cfg.temperature)[0].float().cpu()
        teacher_lp = _teacher_logprobs(batch, trajs, teachers, teacher_of, cfg.temperature)
        adv = reverse_kl_advantages(student_lp, teacher_lp, batch.response_mask)
        batch = batch.with_(advantages=adv)
        n_tokens = float(batch.response_mask.sum().clamp(min=1.0))
        engine.train()
        loss_total = 0.0
        for chunk in batch.chunks(cfg.micro_batch_size):
            lp, _ = sequence_logprobs(engine, chunk.input_ids.to(device), chunk.attention_mask.to(device),
                                      cfg.temperature)
            loss = pg_loss(lp, chunk.advantages.to(device), chunk.response_mask.to(device), "token_mean", n_tokens)
            step_micro(engine, loss, gas, 1)
            loss_total += loss.item()
        sampler.update_weights({k: v.detach().cpu() for k, v in engine.module.state_dict().items()}, step)
        row = {"onpolicy/loss": loss_total, "onpolicy/reverse_kl": float(-adv.sum() / n_tokens),
               "onpolicy/response_len": n_tokens / len(trajs)}
        for domain in sorted({t.domain for t in trajs}):
            m = batch.response_mask[[i for i, t in enumerate(trajs) if t.domain == domain]]
            a = adv[[i for i, t in enumerate(trajs) if t.domain == domain]]
            row[f"onpolicy/reverse_kl/{domain}"] = float(-a.sum() / m.sum().clamp(min=1.0))
        metrics.log(step, row)
    out = out_dir / "checkpoints" / "final"
    engine.module.save_pretrained(out)
    tokenizer.save_pretrained(out)
    log.info("on-policy distillation: %d steps -> %s", cfg.steps, out)
    return out
