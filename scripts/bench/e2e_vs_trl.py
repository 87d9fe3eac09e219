"""End to end vs TRL: the same model, prompts (data/math_train.jsonl), group size, response length, learning rate,
batch split and number of RL steps through our `rl.train` and through TRL's GRPOTrainer (transformers
generation, no vLLM), in one run. Prints s/step, generated tokens/s and trained tokens/s for each side and the
ratio ours / TRL, for our settings (SETTINGS below): `defaults` (configs/mispo_math_code.yaml: critic + GAE,
MIS-PO, sync), `grpo` (the closest to TRL: GRPO advantages, no critic, no KL, sync, the actor on every core, a step's
prompts in one engine call as TRL generates), `grpo_streamed` (`grpo` generating in chunks of 8 prompts, scored while
the next generates) and `grpo_fast` (`grpo` + packed learner micro-batches, + on GPUs the compiled/IPC fast paths).

    python scripts/bench/e2e_vs_trl.py                          # CPU: the tiny model, 6 steps
    python scripts/bench/e2e_vs_trl.py --shape 0.5b --dtype bfloat16   # GPU: random-init Qwen2-0.5B shape
    python scripts/bench/e2e_vs_trl.py --steps 2 --settings grpo --json out.json

Batch arithmetic (one RL step = one generation of P x S completions + one epoch of M optimizer steps):
  ours  rollout.prompts_per_step=P  rollout.samples_per_prompt=S  actor.mini_batches=M  actor.micro_batch_size=u
  TRL   num_generations=S  per_device_train_batch_size=u  gradient_accumulation_steps=P*S/(M*u)
        steps_per_generation=P*S/u (generation_batch_size = P*S)  num_iterations=1  max_steps=steps*M
Both: constant LR, AdamW (0.9, 0.999), no weight decay, grad clip 1.0, token-mean loss over the mini-batch
(TRL loss_type=dapo), no KL (TRL beta=0), group-std-normalised advantages for `grpo` (TRL scale_rewards=group).
TRL's reward calls our math verifier (rewards/math_verifier.py) on each completion, so both sides score alike.
Times: the mean over the steps after the first (warm-up); "wall" is the whole process, start-up included. With
--repeats R every side runs R times (alternating order) and the fastest repeat is reported (noisy shared machines).
Generated tokens: sampled response tokens; trained tokens: prompt + response tokens of the updated sequences.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
MATH_FILE = "data/math_train.jsonl"
SETTINGS = {  # our side: overrides on top of configs/mispo_math_code.yaml
    "defaults": [],  # critic + GAE, MIS-PO, sync; actor and critic one thread each, side by side
    # closest to TRL: no critic, no KL, sync, one engine call per step (rollout.stream_chunk_prompts=0, the default);
    # with no critic beside it the actor takes every core, as TRL's does
    "grpo": ["algo.advantage=grpo", "algo.kl_coef=0.0", "rollout.mode=sync", "actor.torch_threads=0"],
    # grpo, generated in chunks of 8 prompts, each scored while the next generates (for slow verifiers)
    "grpo_streamed": ["algo.advantage=grpo", "algo.kl_coef=0.0", "rollout.mode=sync", "actor.torch_threads=0",
                      "rollout.stream_chunk_prompts=8"],
    # grpo + packed, padding-free learner micro-batches, and on GPUs (GPU_ONLY) the weights handed to the
    # colocated HF engine through CUDA IPC instead of the object store, the decode step and the learner's blocks
    # compiled
    "grpo_fast": ["algo.advantage=grpo", "algo.kl_coef=0.0", "rollout.mode=sync", "actor.torch_threads=0",
                  "actor.max_tokens_per_micro=16384"],
}
GPU_ONLY = {"grpo_fast": ["rollout.weight_sync=cuda_ipc", "rollout.hf.compile=true", "actor.compile=true",
                          "actor.zero_stage=0"]}  # one GPU: ZeRO-0 -> flat master weights
PHASES = ("time/rollout_and_reward_s", "time/batch_s", "time/old_logprob_s", "time/update_s", "time/sync_s")


def shared_overrides(args) -> list[str]:
    """Overrides for our side that pin what the TRL side is given (math only: no Docker needed)."""
    out = [f"data.train_files=[{MATH_FILE}]", "data.domain_weights.math=1.0", "data.domain_weights.code=0",
           f"rollout.prompts_per_step={args.prompts}", f"rollout.samples_per_prompt={args.group}",
           f"rollout.max_new_tokens={args.max_new_tokens}", f"actor.lr={args.lr}",
           f"actor.mini_batches={args.mini_batches}", f"actor.micro_batch_size={args.micro_batch}",
           f"model.dtype={args.dtype}", f"trainer.seed={args.seed}"]
    if args.shape != "tiny":  # one GPU shared by the roles, as scripts/gpu/smoke_train.sh
        out += [f"{role}.num_gpus_per_worker=0.3" for role in ("actor", "critic", "rollout")]
    return out


def setting_overrides(args, setting: str) -> list[str]:
    gpu = GPU_ONLY.get(setting, []) if args.shape != "tiny" else []
    return SETTINGS[setting] + gpu


def features(cfg: dict) -> dict:
    """Which of our features a resolved config (run_dir/config.yaml) turns on."""
    algo, rollout = cfg["algo"], cfg["rollout"]
    return {"critic": algo["advantage"] == "gae", "advantage": algo["advantage"], "objective": algo["objective"],
            "kl": algo["kl_coef"] > 0, "async": rollout["mode"] == "async",
            "partial_rollouts": rollout["partial_rollouts"], "engine": rollout["engine"],
            "stream_chunk_prompts": rollout["stream_chunk_prompts"],
            "actor_threads": cfg["actor"]["torch_threads"] or "all",
            "critic_threads": cfg["critic"]["torch_threads"] if algo["advantage"] == "gae" else None}


def summarize(step_s: list[float], gen: list[float], trained: list[float], wall: float) -> dict:
    """Means over the steps after the first (all steps when there is only one)."""
    k = 1 if len(step_s) > 1 else 0
    t = sum(step_s[k:])
    return {"steps": len(step_s), "measured_steps": len(step_s) - k, "s_per_step": t / (len(step_s) - k),
            "generated_tokens_per_s": sum(gen[k:]) / t, "trained_tokens_per_s": sum(trained[k:]) / t,
            "generated_tokens_per_step": sum(gen[k:]) / (len(step_s) - k), "wall_s": wall,
            "step_s_all": [round(s, 3) for s in step_s]}


def run_ours(args, setting: str, model: str, run_dir: Path) -> dict:
    import yaml

    cmd = [sys.executable, "-m", "rl.train", "--config", "mispo_math_code.yaml", f"model.path={model}",
           f"trainer.total_steps={args.steps}", f"trainer.run_dir={run_dir}", "logging.wandb.mode=disabled",
           "logging.progress_bar=false", "trainer.resume=never", *shared_overrides(args),
           *setting_overrides(args, setting), *args.ours]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"rl.train failed ({setting}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    step_s = [r["time/step_s"] for r in rows]
    res = summarize(step_s, [r["perf/tokens_per_s_generated"] * s for r, s in zip(rows, step_s)],
                    [r["perf/tokens_per_s_trained"] * s for r, s in zip(rows, step_s)], wall)
    k = 1 if len(rows) > 1 else 0
    res["phases_s"] = {p.split("/")[1]: sum(r.get(p, 0.0) for r in rows[k:]) / len(rows[k:]) for p in PHASES}
    res["reward_mean"] = sum(r["reward/mean"] for r in rows) / len(rows)
    res["features"] = features(yaml.safe_load((run_dir / "config.yaml").read_text()))
    return res


def run_trl(args, model: str, out_dir: Path) -> dict:
    """TRL in its own process (fresh torch threads and allocator, start-up timed like ours)."""
    spec = out_dir / "trl_spec.json"
    spec.write_text(json.dumps({**vars(args), "model": model, "out_dir": str(out_dir)}))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--trl-side", str(spec)], cwd=ROOT, capture_output=True,
                          text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"TRL side failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    raw = json.loads((out_dir / "trl_result.json").read_text())
    res = summarize(raw["step_s"], raw["generated"], raw["trained"], wall)
    res.update({k: raw[k] for k in ("phases_s", "reward_mean", "features")})
    return res


def trl_config(s: dict, out_dir: str):
    """GRPOConfig with our batch arithmetic (module docstring)."""
    from trl import GRPOConfig

    batch = s["prompts"] * s["group"]
    per_update = batch // s["mini_batches"]
    micro = min(s["micro_batch"], per_update)
    gpu = s["shape"] != "tiny"
    return GRPOConfig(
        output_dir=out_dir, num_generations=s["group"], per_device_train_batch_size=micro,
        gradient_accumulation_steps=per_update // micro, steps_per_generation=batch // micro, num_iterations=1,
        max_steps=s["steps"] * s["mini_batches"], max_completion_length=s["max_new_tokens"],
        temperature=1.0, top_p=1.0, top_k=0, learning_rate=s["lr"], lr_scheduler_type="constant", warmup_steps=0,
        weight_decay=0.0, adam_beta1=0.9, adam_beta2=0.999, max_grad_norm=1.0, beta=0.0, loss_type="dapo",
        scale_rewards="group", gradient_checkpointing=False, bf16=s["dtype"] == "bfloat16", use_cpu=not gpu,
        model_init_kwargs={"dtype": s["dtype"]}, seed=s["seed"], logging_steps=1, report_to="none",
        save_strategy="no", disable_tqdm=True, dataloader_num_workers=0, log_completions=False)


class TrlProbe:
    """What the TRL run records: per RL step, the reward function's token count and the wall time of
    generation, scoring and generate+score (old logprobs included); per optimizer step, time and tokens seen."""

    def __init__(self) -> None:
        from rewards.math_verifier import MathVerifier

        self.verifier = MathVerifier()
        self.generated: list[int] = []
        self.rewards: list[float] = []
        self.phases: dict[str, list[float]] = {"generate": [], "reward": [], "generate_and_score": []}
        self.marks: list[tuple[float, int]] = []  # (time, state.num_input_tokens_seen) at start and per step

    def math_reward(self, prompts, completions, completion_ids, reference, **_) -> list[float]:
        """TRL reward function: our math verifier on each completion against the row's reference."""
        from rewards.base import VerifyRequest

        self.generated.append(sum(len(ids) for ids in completion_ids))
        scores = [self.verifier.verify(VerifyRequest(p[-1]["content"], c[-1]["content"], reference=g)).score
                  for p, c, g in zip(prompts, completions, reference)]
        self.rewards.extend(scores)
        return scores

    def time_method(self, trainer, method: str, phase: str) -> None:
        fn = getattr(trainer, method)

        def timed(*a, **kw):
            t0 = time.perf_counter()
            out = fn(*a, **kw)
            self.phases[phase].append(time.perf_counter() - t0)
            return out
        setattr(trainer, method, timed)

    def callback(self):
        from transformers import TrainerCallback

        marks = self.marks

        class Clock(TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):
                marks.append((time.perf_counter(), state.num_input_tokens_seen))

            def on_step_end(self, args, state, control, **kw):
                marks.append((time.perf_counter(), state.num_input_tokens_seen))
        return Clock()

    def result(self, mini_batches: int) -> dict:
        marks = self.marks[::mini_batches]  # one RL step = mini_batches optimizer steps
        step_s = [b[0] - a[0] for a, b in zip(marks, marks[1:])]
        n, k = len(step_s), 1 if len(step_s) > 1 else 0  # phases: the mean over the steps after the first

        def mean(xs: list[float]) -> float:
            return sum(xs[k:n]) / (n - k)

        gen, rew, both = (mean(self.phases[p]) for p in ("generate", "reward", "generate_and_score"))
        return {"step_s": step_s, "generated": self.generated[:n],
                "trained": [b[1] - a[1] for a, b in zip(marks, marks[1:])],
                "phases_s": {"generate": gen, "reward": rew, "old_logprob_and_other": both - gen - rew,
                             "update_and_other": mean(step_s) - both},
                "reward_mean": sum(self.rewards) / max(len(self.rewards), 1)}


def trl_side(spec_path: str) -> None:
    """The TRL run (the `--trl-side` child): writes per-RL-step times and token counts to trl_result.json."""
    import datasets
    import torch
    import trl

    from rl.model_source import resolve_model_path

    s = json.loads(Path(spec_path).read_text())
    rows = [json.loads(line) for line in (ROOT / MATH_FILE).read_text().splitlines()]
    data = datasets.Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}],
                                        "reference": r["reference"]} for r in rows])
    probe = TrlProbe()
    trainer = trl.GRPOTrainer(model=resolve_model_path(s["model"]), reward_funcs=probe.math_reward,
                              train_dataset=data, args=trl_config(s, s["out_dir"] + "/trl"),
                              callbacks=[probe.callback()])
    probe.time_method(trainer, "_generate", "generate")
    probe.time_method(trainer, "_calculate_rewards", "reward")
    probe.time_method(trainer, "_generate_and_score_completions", "generate_and_score")
    trainer.train()
    result = probe.result(s["mini_batches"])
    result["features"] = {"trl": trl.__version__, "loss_type": "dapo", "beta": 0.0, "vllm": False,
                          "generation": "transformers generate", "torch_threads": torch.get_num_threads()}
    Path(s["out_dir"], "trl_result.json").write_text(json.dumps(result))


def build_model(shape: str, out: Path) -> str:
    """The tiny model's name, or a random-init checkpoint of a Qwen2 shape built in a child (it holds the GPU)."""
    if shape == "tiny":
        return "mispo-tiny"
    subprocess.run([sys.executable, "scripts/gpu/random_model.py", str(out), shape], cwd=ROOT, check=True)
    return str(out)


def machine() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    info = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_avg_start": os.getloadavg()}
    try:
        info.update({pkg: version(pkg) for pkg in ("torch", "transformers", "trl", "accelerate", "deepspeed")})
    except PackageNotFoundError as err:
        raise SystemExit(f"{err.name} is missing: install the bench extra (pip install -e '.[bench]')") from err
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                         text=True) if shutil.which("nvidia-smi") else None
    if gpu and gpu.returncode == 0:
        info["gpu"] = gpu.stdout.strip().splitlines()[0]
    return info


def report(result: dict) -> None:
    """A readable table of both sides and the ratios (the JSON is printed after it)."""
    trl_side_ = result["trl"]
    cols = ("s_per_step", "generated_tokens_per_s", "trained_tokens_per_s", "wall_s")
    print(f"\n{'side':<16}" + "".join(f"{c:>24}" for c in cols))
    print(f"{'TRL':<16}" + "".join(f"{trl_side_[c]:>24.4g}" for c in cols))
    for name, ours in result["ours"].items():
        print(f"{'ours/' + name:<16}" + "".join(f"{ours[c]:>24.4g}" for c in cols))
    for name, side in [("TRL", trl_side_), *((f"ours/{k}", v) for k, v in result["ours"].items())]:
        reps = ", ".join(f"{r['s_per_step']:.3g} s @ load {r['load_avg_1min_before']:.1f}" for r in side["repeats"])
        print(f"  {name} repeats: {reps}")
    for name, ours in result["ours"].items():
        r = result["ratios"][name]
        print(f"\nours/{name} vs TRL: {r['speedup_s_per_step']:.2f}x step speed, generated tokens/s "
              f"{r['generated_tokens_per_s']:.2f}x, trained tokens/s {r['trained_tokens_per_s']:.2f}x")
        print(f"  our features: {ours['features']}")
        print(f"  our phases (s/step): {json.dumps({k: round(v, 3) for k, v in ours['phases_s'].items()})}")
    print(f"\nTRL: {trl_side_['features']}")
    print(f"  TRL phases (s/step): {json.dumps({k: round(v, 3) for k, v in trl_side_['phases_s'].items()})}")


def ratios(ours: dict, trl_res: dict) -> dict:
    return {"speedup_s_per_step": trl_res["s_per_step"] / ours["s_per_step"],
            "generated_tokens_per_s": ours["generated_tokens_per_s"] / trl_res["generated_tokens_per_s"],
            "trained_tokens_per_s": ours["trained_tokens_per_s"] / trl_res["trained_tokens_per_s"]}


def parse_args(argv: list[str] | None = None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", default="tiny", choices=("tiny", "0.5b", "1.5b", "7b"))
    p.add_argument("--dtype", default=None, help="float32 (CPU default) or bfloat16 (GPU default)")
    p.add_argument("--steps", type=int, default=6, help="RL steps per side (the first is warm-up, not averaged)")
    p.add_argument("--prompts", type=int, default=32, help="prompts per step")
    p.add_argument("--group", type=int, default=8, help="samples per prompt (TRL num_generations)")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--mini-batches", type=int, default=4, help="optimizer steps per RL step")
    p.add_argument("--micro-batch", type=int, default=64, help="sequences per forward/backward")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=1, help="run every side this often; report the fastest repeat")
    p.add_argument("--settings", default=",".join(SETTINGS), help=f"ours: a comma list of {list(SETTINGS)}")
    p.add_argument("--ours", nargs="*", default=[], metavar="KEY=VALUE", help="extra overrides for our side")
    p.add_argument("--json", default=None, help="also write the result JSON here")
    p.add_argument("--trl-side", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.dtype = args.dtype or ("float32" if args.shape == "tiny" else "bfloat16")
    batch = args.prompts * args.group
    if batch % args.mini_batches or (batch // args.mini_batches) % min(args.micro_batch, batch // args.mini_batches):
        p.error("prompts * group must split into --mini-batches of whole --micro-batch micro-batches")
    unknown = set(args.settings.split(",")) - set(SETTINGS)
    if unknown:
        p.error(f"unknown --settings {sorted(unknown)}; choose from {sorted(SETTINGS)}")
    return args


def best_of(runs: list[dict]) -> dict:
    """The repeat with the lowest s/step (other load on the machine only ever slows a run down), with every
    repeat's s/step and the 1-min load average before it kept beside it."""
    best = dict(min(runs, key=lambda r: r["s_per_step"]))
    best["repeats"] = [{"s_per_step": r["s_per_step"], "load_avg_1min_before": r["load_avg_1min_before"]}
                       for r in runs]
    return best


def measure(args, model: str, tmp: Path) -> dict[str, list[dict]]:
    """Every side `--repeats` times, the order reversed on every other repeat so that load drifts hit both."""
    order = ["trl", *args.settings.split(",")]
    runs: dict[str, list[dict]] = {name: [] for name in order}
    for rep in range(args.repeats):
        for name in order if rep % 2 == 0 else order[::-1]:
            print(f"repeat {rep + 1}/{args.repeats}: {'TRL' if name == 'trl' else 'ours/' + name}, "
                  f"{args.steps} steps ...", flush=True)
            load = os.getloadavg()[0]
            if name == "trl":
                (tmp / f"trl_{rep}").mkdir()
                res = run_trl(args, model, tmp / f"trl_{rep}")
            else:
                res = run_ours(args, name, model, tmp / f"ours_{name}_{rep}")
            runs[name].append({**res, "load_avg_1min_before": load})
    return runs


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.trl_side:
        trl_side(args.trl_side)
        return
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "args": {k: v for k, v in vars(args).items() if k not in ("trl_side", "json")}}
    with tempfile.TemporaryDirectory(prefix="e2e_vs_trl_") as tmp:
        runs = measure(args, build_model(args.shape, Path(tmp) / "model"), Path(tmp))
    result["trl"] = best_of(runs.pop("trl"))
    result["ours"] = {name: best_of(rs) for name, rs in runs.items()}
    result["ratios"] = {name: ratios(o, result["trl"]) for name, o in result["ours"].items()}
    result["machine"]["load_avg_end"] = os.getloadavg()
    report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
