"""Offline scoring CLI:

    python -m rewards.check --verifier NAME --input in.jsonl --output out.jsonl [--workers N] [--timeout S]
                            [--option key=value ...]

Reads one JSON object per line (`id`, `response`, and `reference` for math; other verifiers read their own
fields, all passed as metadata), writes each object back with `score`, `status` and `details`, and prints a
summary (counts by status, mean score over status ok, samples/s). Exit code 0 when it ran, whatever the scores;
2 for bad arguments or an unreadable input.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from rewards.base import VerifyRequest
from rewards.types import RewardResult

RESERVED = ("id", "prompt", "response", "reference")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m rewards.check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--verifier", required=True, help="registered name (e.g. math) or pkg.module:Class")
    p.add_argument("--input", required=True, type=Path)
    p.add_argument("--output", required=True, type=Path)
    p.add_argument("--workers", type=int, default=1, help="verifier processes")
    p.add_argument("--timeout", type=float, default=10.0, help="per-sample deadline in seconds")
    p.add_argument("--memory-mb", type=int, default=4096, help="address-space limit per process")
    p.add_argument("--option", action="append", default=[], help="verifier option key=value (repeatable)")
    return p.parse_args(argv)


def _options(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--option {item!r}: expected key=value")
        k, v = item.split("=", 1)
        out[k] = yaml.safe_load(v)
    return out


def _request(row: Any) -> VerifyRequest | None:
    if not isinstance(row, dict) or not isinstance(row.get("response"), str):
        return None
    meta = {k: v for k, v in row.items() if k not in RESERVED}
    return VerifyRequest(prompt=str(row.get("prompt", "")), response=row["response"],
                         reference=row.get("reference"), metadata=meta)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.input.is_file():
        print(f"error: --input {args.input}: no such file", file=sys.stderr)
        return 2
    from tqdm import tqdm

    from rewards.process_pool import VerifierProcessPool

    rows, requests = [], []
    for n, line in enumerate(args.input.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            row = {"_line": n, "_raw": line[:200], "_parse_error": str(exc)}
        rows.append(row)
        requests.append(_request(row))
    try:
        pool = VerifierProcessPool({"cli": (args.verifier, _options(args.option))}, args.workers, args.timeout,
                                   args.memory_mb)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    results: list[RewardResult] = []
    chunk = max(16, 8 * args.workers)
    with pool, tqdm(total=len(rows), desc=f"verify[{args.verifier}]", unit="sample") as bar:
        for i in range(0, len(rows), chunk):
            batch = requests[i:i + chunk]
            todo = [(j, r) for j, r in enumerate(batch) if r is not None]
            scored = dict(zip([j for j, _ in todo], pool.score([("cli", r) for _, r in todo])))
            for j in range(len(batch)):
                results.append(scored.get(j) or RewardResult.failed(
                    "error", "row is not a JSON object with a string 'response' field"))
            bar.update(len(batch))
    elapsed = time.perf_counter() - start
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w") as f:
        for row, res in zip(rows, results):
            out = dict(row) if isinstance(row, dict) else {"row": row}
            out.update(score=res.score, status=res.status, details=res.details)
            f.write(json.dumps(out, default=str) + "\n")
    counts = Counter(r.status for r in results)
    ok = [r.score for r in results if r.ok]
    summary = {"samples": len(results), "status": dict(counts), "mean_score": sum(ok) / len(ok) if ok else None,
               "samples_per_s": len(results) / elapsed if elapsed > 0 else None, "seconds": elapsed,
               "output": str(args.output)}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
