"""Regenerate the shipped tiny-task datasets under data/ (deterministic): python scripts/make_tiny_data.py"""
import json
from pathlib import Path

from rl.tiny_model.tasks import math_rows, split_math_tasks

out = Path(__file__).resolve().parent.parent / "data"
train, test = split_math_tasks()
for name, tasks in [("math_train", train), ("math_test", test)]:
    with (out / f"{name}.jsonl").open("w") as f:
        for row in math_rows(tasks):
            f.write(json.dumps(row) + "\n")
    print(f"wrote {out / name}.jsonl ({len(tasks)} rows)")
