"""Generated tasks: small arithmetic problems (math domain) and tiny function-writing problems (code domain).

Used twice: as the pretraining corpus of the tiny base model and as the RL prompt datasets shipped under data/.
The corpus is deliberately imperfect, like a real base model: answers are sometimes wrong (near misses) and
often not put in \\boxed{} as the instruction asks (so a strict verifier scores them 0). RL has both to fix.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

MATH_INSTRUCTION = "Put the final answer in \\boxed{}."
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


@dataclass(frozen=True)
class MathTask:
    a: int
    op: str
    b: int

    @property
    def answer(self) -> int:
        return OPS[self.op](self.a, self.b)

    @property
    def prompt(self) -> str:
        return f"What is {self.a} {self.op} {self.b}? {MATH_INSTRUCTION}"

    def response(self, answer: int, boxed: bool = True) -> str:
        final = f"\\boxed{{{answer}}}" if boxed else str(answer)
        return f"{self.a} {self.op} {self.b} = {answer}. The answer is {final}."


def all_math_tasks(max_operand: int = 12) -> list[MathTask]:
    """Every (a, op, b) with 0 <= a, b <= max_operand, in a fixed order."""
    return [MathTask(a, op, b) for op in OPS for a in range(max_operand + 1) for b in range(max_operand + 1)]


def noisy_answer(task: MathTask, rng: random.Random, p_correct: float) -> int:
    """The true answer with probability p_correct, else a near miss (off by 1..3). This models a weak base
    model whose sampled answers are right only part of the time."""
    if rng.random() < p_correct:
        return task.answer
    return task.answer + rng.choice([-3, -2, -1, 1, 2, 3])


CODE_FUNCS = [
    ("add", "a, b", "the sum of a and b", "return a + b", [((2, 3), 5), ((-1, 1), 0)]),
    ("sub", "a, b", "a minus b", "return a - b", [((5, 3), 2), ((0, 4), -4)]),
    ("mul", "a, b", "the product of a and b", "return a * b", [((2, 3), 6), ((0, 9), 0)]),
    ("largest", "a, b", "the larger of a and b", "return max(a, b)", [((2, 3), 3), ((7, -1), 7)]),
    ("smallest", "a, b", "the smaller of a and b", "return min(a, b)", [((2, 3), 2), ((7, -1), -1)]),
    ("square", "x", "x squared", "return x * x", [((3,), 9), ((-2,), 4)]),
    ("double", "x", "twice x", "return 2 * x", [((3,), 6), ((0,), 0)]),
    ("is_even", "n", "True when n is even", "return n % 2 == 0", [((4,), True), ((7,), False)]),
    ("absolute", "x", "the absolute value of x", "return abs(x)", [((-3,), 3), ((5,), 5)]),
    ("reverse", "s", "the string s reversed", "return s[::-1]", [(("abc",), "cba"), (("",), "")]),
    ("first", "xs", "the first element of the list xs", "return xs[0]", [(([4, 5],), 4), (([1],), 1)]),
    ("length", "xs", "the number of elements in xs", "return len(xs)", [(([4, 5],), 2), (([],), 0)]),
]


def code_task_rows() -> list[dict]:
    """Code prompts in the io_pairs format the code verifier reads."""
    rows = []
    for name, args, what, body, cases in CODE_FUNCS:
        rows.append({
            "id": f"code-{name}",
            "domain": "code",
            "prompt": f"Write a Python function {name}({args}) that returns {what}.",
            "reference": f"def {name}({args}):\n    {body}\n",
            "io_pairs": {"fn": name, "cases": [{"args": list(a), "expected": e} for a, e in cases]},
        })
    return rows


def code_response(row: dict) -> str:
    return f"```python\n{row['reference']}```"


def math_rows(tasks: list[MathTask], domain: str = "math") -> list[dict]:
    return [
        {"id": f"math-{t.a}{t.op}{t.b}", "domain": domain, "prompt": t.prompt, "reference": str(t.answer)}
        for t in tasks
    ]


def split_math_tasks(seed: int = 0, test_fraction: float = 0.2) -> tuple[list[MathTask], list[MathTask]]:
    """Deterministic train/test split of all math tasks."""
    tasks = all_math_tasks()
    random.Random(seed).shuffle(tasks)
    n_test = int(len(tasks) * test_fraction)
    return tasks[n_test:], tasks[:n_test]
