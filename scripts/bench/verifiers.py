"""Math verifier throughput and accuracy: our process pool vs plain math-verify, same inputs, one run.

    python scripts/bench/verifiers.py [--samples 600] [--processes 2]

Throughput inputs: distinct generated responses (fractions, decimals, expressions, sets, intervals; half right).
Prints samples/s for plain math-verify (in-process, one core, its default anchor-less parsing) and for our pool
(`processes` verifier processes with deadlines), the per-core ratio, the share of samples our exact fast path
decides without a LaTeX parse (rewards/math_fastpath.py; polynomials always take the full path), and accuracy
of both on the generated inputs and on the labelled cases in tests/data/math_equivalence.jsonl.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def make_inputs(n: int, seed: int = 0) -> list[tuple[str, str, bool]]:
    """(response, gold, truly_correct) triples: distinct golds, half of the predictions right."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.randint(1, 999), rng.randint(2, 999)
        kind = i % 5
        if kind == 0:
            gold, right, wrong = f"\\frac{{{a}}}{{{b}}}", f"\\frac{{{2 * a}}}{{{2 * b}}}", f"\\frac{{{a + 1}}}{{{b}}}"
        elif kind == 1:
            gold, right, wrong = f"{a / 4}", f"\\frac{{{a}}}{{4}}", f"{a / 4 + 1}"
        elif kind == 2:
            gold, right, wrong = f"{a}x^2+{b}", f"{b}+{a}x^2", f"{a}x^2+{b + 1}"
        elif kind == 3:
            gold, right, wrong = f"\\{{{a},{b}\\}}", f"\\{{{b},{a}\\}}", f"\\{{{a},{b + 1}\\}}"
        else:
            gold, right, wrong = f"({a},{a + b}]", f"({a},{a + b}]", f"[{a},{a + b})"
        is_right = rng.random() < 0.5
        pred = right if is_right else wrong
        out.append((f"Working... so the answer is \\boxed{{{pred}}}.", gold, is_right))
    return out


def plain_math_verify(response: str, gold: str) -> bool:
    from math_verify import parse, verify

    return bool(verify(parse(gold), parse(response)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=600)
    p.add_argument("--processes", type=int, default=2)
    args = p.parse_args()

    from rewards.base import VerifyRequest
    from rewards.math_answer import extract_boxed
    from rewards.math_fastpath import fast_equivalent
    from rewards.process_pool import VerifierProcessPool

    inputs = make_inputs(args.samples)
    truth = [t for _, _, t in inputs]
    start = time.perf_counter()
    plain = [plain_math_verify(r, g) for r, g, _ in inputs]
    t_plain = time.perf_counter() - start

    rates, ours = {}, []
    for procs in sorted({1, args.processes}):
        with VerifierProcessPool({"math": ("math", {})}, processes=procs, timeout_s=10.0) as pool:
            pool.score([("math", VerifyRequest("", "\\boxed{1}", "1"))] * (2 * procs))  # warm-up imports
            start = time.perf_counter()
            ours = pool.score([("math", VerifyRequest("", r, g)) for r, g, _ in inputs])
            rates[procs] = len(inputs) / (time.perf_counter() - start)
            cases = [json.loads(line) for line in
                     (REPO / "tests/data/math_equivalence.jsonl").read_text().splitlines()]
            ours_cases = pool.score([("math", VerifyRequest(c.get("prompt", ""), c["response"], c["reference"]))
                                     for c in cases])

    plain_rate = len(inputs) / t_plain
    plain_acc = sum(plain_math_verify(c["response"], c["reference"]) == c["expected"] for c in cases) / len(cases)
    ours_acc = sum((o.status == "ok" and bool(o.score)) == c["expected"] for o, c in zip(ours_cases, cases)) / len(cases)
    print(json.dumps({
        "samples": len(inputs),
        "plain_math_verify_samples_per_s_1_core": round(plain_rate, 1),
        "mispo_pool_samples_per_s": {f"{k}_process": round(v, 1) for k, v in rates.items()},
        "per_core_ratio_pool_vs_plain_1_process": round(rates[1] / plain_rate, 2),
        f"per_core_ratio_pool_vs_plain_{args.processes}_processes": round(rates[args.processes] / args.processes
                                                                          / plain_rate, 2),
        "fast_path_share": round(sum(fast_equivalent(extract_boxed(r) or "", g) is not None
                                     for r, g, _ in inputs) / len(inputs), 3),
        "accuracy_on_throughput_inputs_plain": round(sum(p == t for p, t in zip(plain, truth)) / len(truth), 3),
        "accuracy_on_throughput_inputs_mispo": round(sum((o.ok and bool(o.score)) == t
                                                         for o, t in zip(ours, truth)) / len(truth), 3),
        "labelled_cases": len(cases),
        "accuracy_labelled_plain_math_verify": round(plain_acc, 3),
        "accuracy_labelled_mispo_math": round(ours_acc, 3),
    }, indent=1))


if __name__ == "__main__":
    main()
