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

from rl.tiny_model.tasks import code_task_rows  # noqa: E402

with (out / "code_train.jsonl").open("w") as f:
    rows = code_task_rows()
    for row in rows:
        row = {k: v for k, v in row.items() if k != "reference"}  # the tests are the reference for code
        f.write(json.dumps(row) + "\n")
print(f"wrote {out / 'code_train.jsonl'} ({len(rows)} rows)")

from rl.tiny_model.agent_tasks import all_agent_tasks, write_task_dirs  # noqa: E402

tasks = all_agent_tasks()
task_root = out / "terminal_tasks" / "procedural"
dirs = write_task_dirs(tasks, task_root)
with (out / "terminal_train.jsonl").open("w") as f:
    for task, d in zip(tasks, dirs):
        row = {"id": f"terminal-{task.name}", "domain": "terminal", "prompt": task.prompt,
               "task_dir": str(d.relative_to(out.parent))}
        f.write(json.dumps(row) + "\n")
print(f"wrote {out / 'terminal_train.jsonl'} ({len(tasks)} rows, task dirs under {task_root})")
