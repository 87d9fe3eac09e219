"""Code judging in real containers: io_pairs, stdio and HumanEval formats, positive and negative."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker

ADD = {"fn": "add", "cases": [{"args": [2, 3], "expected": 5}, {"args": [-1, 1], "expected": 0},
                              {"args": [], "kwargs": {"a": 1, "b": 2}, "expected": 3}]}
HE_PROMPT = 'def add(a, b):\n    """Return a + b."""\n'
HE_TEST = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(0, 0) == 0\n    assert candidate(-2, 1) == -1\n"


def test_io_pairs_correct_and_partial(runner):
    assert runner.io_pairs("def add(a, b):\n    return a + b\n", ADD).score == 1.0
    rep = runner.io_pairs("def add(a, b):\n    return 5 if a == 2 else a - b\n", ADD)
    assert (rep.passed, rep.total, rep.reason) == (1, 3, "wrong_answer")


def test_io_pairs_types_are_strict(runner):
    spec = {"fn": "is_even", "cases": [{"args": [4], "expected": True}, {"args": [3], "expected": False}]}
    assert runner.io_pairs("def is_even(n):\n    return n % 2 == 0\n", spec).score == 1.0
    assert runner.io_pairs("def is_even(n):\n    return 1 - n % 2\n", spec).score == 0.0  # 1 is not True
    tup = {"fn": "pair", "cases": [{"args": [], "expected": [1, 2.5]}]}
    assert runner.io_pairs("def pair():\n    return (1, 2.5000000001)\n", tup).score == 1.0


def test_io_pairs_missing_function_and_syntax_error(runner):
    assert runner.io_pairs("def plus(a, b):\n    return a + b\n", ADD).score == 0.0
    rep = runner.io_pairs("def add(a, b) return a + b", ADD)
    assert rep.score == 0.0 and rep.reason.startswith("load_error: SyntaxError")


def test_stdio(runner):
    spec = {"cases": [{"input": "3\n", "output": "6"}, {"input": "10\n", "output": "20\n"}]}
    assert runner.stdio("print(int(input()) * 2)\n", spec).score == 1.0
    assert runner.stdio("print(int(input()) + 3)\n", spec).passed == 1
    assert runner.stdio("import sys\nsys.exit(3)\n", spec).reason == "exit_3"


def test_humaneval_continuation_and_fenced(runner):
    assert runner.humaneval(HE_PROMPT, "    return a + b\n", HE_TEST, "add").score == 1.0
    fenced = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```\n"
    assert runner.humaneval(HE_PROMPT, fenced, HE_TEST, "add").score == 1.0
    rep = runner.humaneval(HE_PROMPT, "    return a * b\n", HE_TEST, "add")
    assert rep.score == 0.0 and "AssertionError" in rep.reason


def test_extract_code_takes_last_python_block():
    from sandboxes.code_runner import extract_code

    text = "```python\nx = 1\n```\nthen\n```py\ny = 2\n```"
    assert extract_code(text) == "y = 2\n"
    assert extract_code("no fence") == "no fence"


def test_hardening_flags(code_pool):
    """The container really runs as uid 1000 with no capabilities, no network and a read-only root."""
    with code_pool.sandbox() as sb:
        attrs = sb.container.attrs["HostConfig"]
        assert attrs["NetworkMode"] == "none" and attrs["ReadonlyRootfs"] is True
        assert attrs["CapDrop"] == ["ALL"] and "no-new-privileges" in attrs["SecurityOpt"][0]
        assert attrs["PidsLimit"] == 64 and attrs["Memory"] == 512 * 1024 * 1024 and not attrs.get("Binds")
        res = sb.exec(["sh", "-c", "id -u; grep CapEff /proc/self/status; touch /usr/x 2>&1; echo w > /work/ok && echo rw"])
        out = res.stdout.decode()
        assert out.splitlines()[0] == "1000"
        assert "CapEff:\t0000000000000000" in out and "Read-only file system" in out and out.strip().endswith("rw")


def test_gvisor_runtime(python_image):
    """`runtime: runsc` runs the same judge under gVisor (one exec per job there)."""
    from sandboxes.code_runner import CodeRunner
    from sandboxes.limits import SandboxLimits
    from sandboxes.pool import SandboxPool

    pool = SandboxPool(python_image, SandboxLimits(wall_s=20.0, runtime="runsc"), size=1)
    try:
        with pool.sandbox() as sb:
            assert sb.container.attrs["HostConfig"]["Runtime"] == "runsc"
        runner = CodeRunner(pool, case_timeout_s=5.0)
        assert not runner.warm_judge
        assert runner.io_pairs("def add(a, b):\n    return a + b\n", ADD).score == 1.0
        assert runner.io_pairs("import os\nos._exit(0)\n", ADD).score == 0.0
    finally:
        pool.close()
