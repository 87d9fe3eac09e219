"""Regenerate the domain-expert datasets under data/ (deterministic): python scripts/make_expert_data.py

- data/sft/math_expert.jsonl: chat rows for every math training task, answer always right and always boxed
  (the two weaknesses of the tiny base model, whose pretraining answers are right 80% / boxed 30% of the time).
- data/code_families_{train,test}.jsonl: code prompts (io_pairs format of the code verifier) from parameterised
  function families (add_k, sub_k, times_k, mod_k, above_k, take_k; k = 2..13), split 75/25 by task, so the test
  split holds functions no model has seen (the tiny base only saw the 12 fixed functions of rl/tiny_model/tasks.py).
- data/sft/code_expert.jsonl: chat rows for the training families plus the 12 fixed functions.
"""
import json
import random
from pathlib import Path

from rl.tiny_model.tasks import code_response, code_task_rows, split_math_tasks

OUT = Path(__file__).resolve().parent.parent / "data"
XS = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14], [5, 6]]
FAMILIES = [  # name, argument, what it returns, body, python function of (k, argument)
    ("add", "x", "x plus {k}", "return x + {k}", lambda k, x: x + k),
    ("sub", "x", "x minus {k}", "return x - {k}", lambda k, x: x - k),
    ("times", "x", "x times {k}", "return x * {k}", lambda k, x: x * k),
    ("mod", "x", "x modulo {k}", "return x % {k}", lambda k, x: x % k),
    ("above", "x", "True when x is greater than {k}", "return x > {k}", lambda k, x: x > k),
    ("take", "xs", "the first {k} elements of the list xs", "return xs[:{k}]", lambda k, xs: xs[:k]),
]


def family_rows() -> list[dict]:
    rows = []
    for fam, arg, what, body, fn in FAMILIES:
        for k in range(2, 14):
            name = f"{fam}_{k}"
            inputs = XS if arg == "xs" else [3, -4, 10, k]
            rows.append({
                "id": f"code-{name}", "domain": "code",
                "prompt": f"Write a Python function {name}({arg}) that returns {what.format(k=k)}.",
                "reference": f"def {name}({arg}):\n    {body.format(k=k)}\n",
                "io_pairs": {"fn": name, "cases": [{"args": [v], "expected": fn(k, v)} for v in inputs]},
            })
    return rows


def chat(prompt: str, response: str) -> dict:
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]}


def write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"wrote {path} ({len(rows)} rows)")


def main() -> None:
    math_train, _ = split_math_tasks()
    write(OUT / "sft" / "math_expert.jsonl", [chat(t.prompt, t.response(t.answer, boxed=True)) for t in math_train])
    rows = family_rows()
    random.Random(0).shuffle(rows)
    n_test = len(rows) // 4
    test, train = sorted(rows[:n_test], key=lambda r: r["id"]), sorted(rows[n_test:], key=lambda r: r["id"])
    write(OUT / "code_families_train.jsonl", train)
    write(OUT / "code_families_test.jsonl", test)
    write(OUT / "sft" / "code_expert.jsonl", [chat(r["prompt"], code_response(r)) for r in train + code_task_rows()])


if __name__ == "__main__":
    main()
