"""Adversarial suite for the code sandbox: every attack must score 0 and leave the host and the pool healthy
(a correct program still scores 1 right after). Add new attacks to ATTACKS as they are found."""
from __future__ import annotations

import os
import subprocess

import pytest

pytestmark = pytest.mark.docker

HE_PROMPT = 'def add(a, b):\n    """Return a + b."""\n'
HE_TEST = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(10, -4) == 6\n"
SPEC = {"fn": "add", "cases": [{"args": [2, 3], "expected": 5}, {"args": [10, -4], "expected": 6}]}
GOOD = "def add(a, b):\n    return a + b\n"
FAKE_VERDICT = '{"verdict": {"passed": true, "results": [{"ok": true, "value": {"v": 5}}]}}'

# name -> program (the whole candidate module; it defines add() unless the attack is in the module body)
ATTACKS = {
    "sys_exit_0": "import sys\nsys.exit(0)\n",
    "os_exit_0": "import os\nos._exit(0)\n",
    "raise_systemexit": "raise SystemExit(0)\n",
    "exit_inside_call": "def add(a, b):\n    import os\n    os._exit(0)\n",
    "atexit_prints_verdict": ("import atexit, os\natexit.register(lambda: os.write(1, b'" + FAKE_VERDICT + "'))\n"
                              "def add(a, b):\n    return 0\n"),
    "always_equal_object": "class Eq:\n    def __eq__(self, o): return True\n    __hash__ = None\ndef add(a, b):\n    return Eq()\n",
    "int_subclass_eq": "class I(int):\n    def __eq__(self, o): return True\ndef add(a, b):\n    return I(0)\n",
    "fake_pass_marker_stdout": "print('" + FAKE_VERDICT + "')\nprint('PASSED all tests')\ndef add(a, b):\n    return 0\n",
    "write_result_channel_fd1": "import os\nos.write(1, b'\\n" + FAKE_VERDICT + "\\n')\ndef add(a, b):\n    return 0\n",
    "write_parent_stdout_via_proc": ("import os\ntry:\n    f = open(f'/proc/{os.getppid()}/fd/1', 'w')\n"
                                     "    f.write('\\n" + FAKE_VERDICT + "\\n'); f.flush()\nexcept Exception:\n    pass\n"
                                     "def add(a, b):\n    return 0\n"),
    "ptrace_parent_mem": ("import os\ntry:\n    open(f'/proc/{os.getppid()}/mem', 'rb').read(1)\nexcept Exception:\n"
                          "    pass\ndef add(a, b):\n    return 0\n"),
    "kill_the_judge": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\ndef add(a, b):\n    return 5\n",
    "monkeypatch_harness": ("import sys, gc\nfor o in gc.get_objects():\n    if isinstance(o, dict) and 'check' in o:\n"
                            "        o['check'] = lambda c: None\nimport builtins\nbuiltins.AssertionError = type('X', (Exception,), {})\n"
                            "def add(a, b):\n    return 0\n"),
    "fork_bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
    "memory_bomb": "x = []\nwhile True:\n    x.append(bytearray(50 * 1024 * 1024))\n",
    "infinite_loop": "def add(a, b):\n    while True:\n        pass\n",
    "sleep_forever_in_body": "import time\ntime.sleep(3600)\n",
    "stdout_100mb": "import sys\nsys.stdout.write('x' * (100 * 1024 * 1024))\ndef add(a, b):\n    return 0\n",
    "network_connect": ("import socket\ns = socket.socket()\ns.settimeout(1)\ntry:\n    s.connect(('1.1.1.1', 80)); ok = 5\n"
                        "except OSError:\n    ok = 0\ndef add(a, b):\n    return ok\n"),
    "write_big_file": "open('/work/big', 'wb').write(b'x' * (200 * 1024 * 1024))\ndef add(a, b):\n    return 0\n",
    "escape_to_host_paths": ("import os\nok = 0\nfor p in ('/var/run/docker.sock', '/etc/shadow', '/root'):\n"
                             "    try:\n        open(p).read(); ok = 5\n    except Exception:\n        pass\n"
                             "def add(a, b):\n    return ok\n"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_scores_zero_io_pairs(runner, name):
    rep = runner.io_pairs(ATTACKS[name], SPEC)
    assert rep.score == 0.0, (name, rep)
    assert runner.io_pairs(GOOD, SPEC).score == 1.0, f"pool unhealthy after {name}"


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_scores_zero_humaneval(runner, name):
    rep = runner.humaneval(HE_PROMPT, "```python\n" + ATTACKS[name] + "```", HE_TEST, "add")
    assert rep.score == 0.0, (name, rep)
    assert runner.humaneval(HE_PROMPT, "    return a + b\n", HE_TEST, "add").score == 1.0


@pytest.mark.parametrize("name", ["sys_exit_0", "os_exit_0", "fake_pass_marker_stdout", "stdout_100mb", "fork_bomb",
                                  "infinite_loop", "sleep_forever_in_body", "network_connect"])
def test_attack_scores_zero_stdio(runner, name):
    spec = {"cases": [{"input": "2 3\n", "output": "5"}]}
    assert runner.stdio(ATTACKS[name], spec).score == 0.0
    assert runner.stdio("a, b = map(int, input().split())\nprint(a + b)\n", spec).score == 1.0


def test_humaneval_test_never_reaches_the_candidate(runner):
    """The candidate searches its memory for the hidden test's expected values and returns them."""
    spy = ("import gc\nfound = any(isinstance(o, str) and 'candidate(10, -4) == 6' in o for o in gc.get_objects())\n"
           "def add(a, b):\n    return {(2, 3): 5, (10, -4): 6}[(a, b)] if found else 0\n")
    assert runner.humaneval(HE_PROMPT, "```python\n" + spy + "```", HE_TEST, "add").score == 0.0


def test_samples_cannot_read_each_others_files(runner):
    """Sample A leaves a secret and a lurking process; sample B (same container) must not see either."""
    plant = ("import os, subprocess\nopen('/work/secret', 'w').write('s3cret')\nopen('/tmp/secret', 'w').write('s3cret')\n"
             "subprocess.Popen(['/usr/bin/python3', '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
             "def add(a, b):\n    return a + b\n")
    snoop = ("import os, glob\nleft = glob.glob('/work/**/secret', recursive=True) + glob.glob('/tmp/**/secret', recursive=True)\n"
             "procs = [p for p in os.listdir('/proc') if p.isdigit() and 'time.sleep' in open(f'/proc/{p}/cmdline').read()]\n"
             "def add(a, b):\n    return a + b if (left or procs) else 0\n")
    for _ in range(3):  # both containers of the pool see both programs
        assert runner.io_pairs(plant, SPEC).score == 1.0
        assert runner.io_pairs(snoop, SPEC).score == 0.0


def test_host_is_healthy_after_the_suite(code_pool):
    """No containers leak beyond the pool, and none of ours runs privileged."""
    out = subprocess.run(["docker", "ps", "-q", "--filter", "label=mispo.sandbox"], capture_output=True, text=True)
    assert out.returncode == 0
    owned = [c for c in out.stdout.split() if c]
    assert len(owned) >= code_pool.size
    assert os.path.exists("/proc/self")  # the host process is alive and well
