"""A sandbox container killed from outside (`docker kill`) while the code verifier runs a sample's tests in it: the
sample is a sandbox failure, status error (masked from the loss), not a wrong answer scored 0; the pool replaces the
container and the next sample is judged normally. A judge killed by the candidate itself, in a container that
still runs, stays the policy's fault (status ok, score 0)."""
from __future__ import annotations

import subprocess
import threading
import time

import pytest

pytestmark = pytest.mark.docker
SPEC = {"fn": "slow", "cases": [{"args": [1], "expected": 1}]}


def test_container_killed_mid_sample_is_masked_and_replaced(python_image):
    from rewards.base import VerifyRequest
    from rewards.code_verifier import CodeVerifier

    verifier = CodeVerifier(pool_size=1, wall_s=8.0, case_timeout_s=5.0)
    good = VerifyRequest("p", "def slow(x):\n    return x\n", None, {"io_pairs": SPEC})
    slow = VerifyRequest("p", "import time\ndef slow(x):\n    time.sleep(4)\n    return x\n", None, {"io_pairs": SPEC})
    try:
        assert verifier.verify(good).score == 1.0  # the pool and its warm judge are up
        pool = verifier.runner().pool
        (victim,) = [sb.id for sb in pool._all]
        killed = {}

        def kill() -> None:
            time.sleep(1.0)  # the judge is inside slow()'s sleep
            subprocess.run(["docker", "kill", victim], check=True, capture_output=True)
            killed["at"] = time.monotonic()

        killer = threading.Thread(target=kill)
        killer.start()
        res = verifier.verify(slow)
        noticed = time.monotonic()
        killer.join()
        print(f"\ndocker kill mid-sample: {res.status} after {noticed - killed['at']:.2f} s: {res.details}")
        assert res.status == "error" and "stopped mid-sample" in res.details["reason"], res
        assert noticed - killed["at"] < 3.0  # not the 8 s host deadline
        (fresh,) = [sb.id for sb in pool._all]
        assert fresh != victim and pool.started == 2
        state = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", fresh], capture_output=True, text=True)
        assert state.stdout.strip() == "true"
        assert verifier.verify(good).score == 1.0

        kill_judge = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\ndef slow(x):\n    return x\n"
        res = verifier.verify(VerifyRequest("p", kill_judge, None, {"io_pairs": SPEC}))
        assert res.status == "ok" and res.score == 0.0, res  # the candidate's doing: a wrong answer
    finally:
        verifier.close()
