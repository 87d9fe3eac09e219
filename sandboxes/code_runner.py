"""Run candidate programs in the warm pool and judge them on the host side.

Three test formats (the code verifier picks by the sample's fields):
- io_pairs: {"fn": name, "cases": [{"args": [...], "kwargs": {...}, "expected": ...}]}: only the arguments enter
  the sandbox; return values come back as plain data and are compared here.
- stdio: {"cases": [{"input": "...", "output": "..."}]}: stdout comes back; compared here (stripped).
- humaneval: prompt + response + test (defines check(candidate)), run by the in-container judge with the
  candidate proxied across a process boundary; the test runs in the namespace of the prompt's code (its helpers,
  the entry point by name), as in HumanEval's one-program semantics.

Time: a timeout the candidate causes is a wrong answer, not a verifier failure. A case (or the program's load, or
a reload after a crash) past case_timeout_s fails with reason "timeout" and the cases after it are not run (they
count as failed), so a hanging program costs about one case timeout, not one per case. The judge also caps the
whole job at a budget below the pool's wall_s (`judge_budget_s`), so it always answers before the host deadline;
"sandbox_timeout" (no verdict by wall_s: the judge or the container is stuck) and a container stopped from outside
mid-sample (`docker kill`: SandboxError) are the outcomes that are masked; a judge killed by the candidate in a
container that still runs is "no_verdict", a wrong answer. Either way the pool replaces the container.
"""
from __future__ import annotations

import ast
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from sandboxes.container import ExecResult, FrameReader, Sandbox
from sandboxes.harness.judge import END_MARK, decode, encode
from sandboxes.limits import SANDBOX_UID
from sandboxes.pool import SandboxPool

JUDGE_CMD = ["/usr/bin/python3", "-I", "-S", "/opt/mispo/judge.py"]
FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.S | re.I)


class TestFormatError(ValueError):
    """A sample's tests are missing or malformed: the sample cannot be judged (masked), not the policy's fault."""


class SandboxError(RuntimeError):
    """The sandbox itself failed (engine, image, judge bug): the sample is masked, not scored 0."""


@dataclass
class CodeReport:
    """passed/total test cases; reason says why a run scored below 1 (first failure); cases: per-case outcome."""

    passed: int
    total: int
    reason: str = ""
    cases: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def judged(self) -> bool:
        """False when the sandbox produced no verdict within the host deadline. The judge's own limits (case
        timeouts, the job budget) turn the candidate's loops and hangs into failed cases well before it, so this
        points at the sandbox (engine, container): mask, don't score 0."""
        return self.reason != "sandbox_timeout"

    @property
    def score(self) -> float:
        return self.passed / self.total if self.total else 0.0

    @property
    def all_passed(self) -> bool:
        return self.total > 0 and self.passed == self.total


def extract_code(response: str) -> str:
    """The last fenced Python block of the response, or the whole response when it has none."""
    blocks = FENCE.findall(response)
    return blocks[-1] if blocks else response


def prompt_code(prompt: str, entry_point: str) -> str:
    """The prompt's own code, which HumanEval's test and a completion may use (its imports, the helpers it
    defines): the whole prompt when it is Python that defines `entry_point` (a stub with a docstring), or is once
    its last `def ...:` line gets a body; else (instructions around code) only its import lines that parse."""
    for text in (prompt, prompt.rstrip() + "\n    pass\n"):
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        if any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point
               for node in tree.body):
            return text
    return "\n".join(line.strip() for line in prompt.splitlines()
                     if re.match(r"\s*(import|from)\s", line) and _parses(line.strip()))


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
        return True
    except (SyntaxError, ValueError):
        return False


def values_match(actual: Any, expected: Any) -> bool:
    """Strict structural equality: bool is not int, tuples compare as lists (JSON has no tuples), floats within
    1e-6 relative."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, float) or isinstance(actual, float):
        if not isinstance(actual, (int, float)) or not isinstance(expected, (int, float)):
            return False
        return math.isclose(actual, expected, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(actual) and math.isnan(expected))
    if isinstance(expected, (list, tuple)):
        return (isinstance(actual, (list, tuple)) and len(actual) == len(expected)
                and all(values_match(a, e) for a, e in zip(actual, expected)))
    if isinstance(expected, dict):
        return (isinstance(actual, dict) and actual.keys() == expected.keys()
                and all(values_match(actual[k], expected[k]) for k in expected))
    return type(actual) is type(expected) and actual == expected


def _frame(obj: dict) -> bytes:
    data = json.dumps(obj).encode()
    return f"{len(data):08d}".encode() + data


@dataclass
class ProgramOutput:
    """stdout of one run (truncated to the pool's output budget); exit_code None on timeout."""

    output: str
    exit_code: int | None


class JudgeServer:
    """A judge kept running in a warm container (`judge.py --serve`): one exec per container instead of one per
    sample. A job past its deadline kills the container; a server killed by a candidate marks it dead."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        _, self.raw = sb.open_exec(JUDGE_CMD + ["--serve"], user=str(SANDBOX_UID))
        self.reader = FrameReader(self.raw, 4 * 1024 * 1024, keep_tail=True)

    def run(self, frames: bytes, wall_s: float) -> ExecResult:
        start = time.monotonic()
        mark = ("\n" + END_MARK + "\n").encode()
        try:
            self.raw.sendall(frames)
            finished = self.reader.pump(start + wall_s, until=lambda out: mark in out)
        except OSError:
            finished = True
        out, err = self.reader.take()
        if not finished:
            self.sb.kill()
            return ExecResult(None, out, err, True, False, time.monotonic() - start)
        if mark not in out:  # the server died: the candidate killed it
            self.sb.dead = True
        return ExecResult(0, out.split(mark)[0], err, False, False, time.monotonic() - start)


def _judge_server(sb: Sandbox) -> JudgeServer:
    server = sb.judge_server
    if server is None:
        server = sb.judge_server = JudgeServer(sb)
    return server


def judge_budget_s(wall_s: float) -> float:
    """Seconds the in-container judge may spend on one job: wall_s less a margin for the exec, the judge's start
    and the verdict's trip back (max(1 s, 20%)), and never below half of wall_s."""
    return max(wall_s - max(1.0, 0.2 * wall_s), 0.5 * wall_s)


class CodeRunner:
    """Judges programs in `pool`. case_timeout_s bounds one case (or the program's load) inside the sandbox; the
    judge stops the whole job at judge_budget_s(wall_s); the pool's wall_s bounds the job from the host (a job past
    it kills its container and is masked as "sandbox_timeout")."""

    def __init__(self, pool: SandboxPool, case_timeout_s: float = 3.0, memory_mb: int = 256,
                 warm_judge: bool | None = None) -> None:
        self.pool, self.case_timeout_s, self.memory_mb = pool, case_timeout_s, memory_mb
        # a warm judge server per container (6x the throughput) on runc; under gVisor (runsc) the long-lived
        # exec died after a few jobs (measured), so each job gets its own exec there
        self.warm_judge = pool.limits.runtime in (None, "runc") if warm_judge is None else warm_judge

    def _run(self, part1: dict, part2: dict) -> tuple[dict | None, str]:
        wall_s = self.pool.limits.wall_s
        part1 = {"case_timeout": self.case_timeout_s, "memory_mb": self.memory_mb, "cpu_s": int(wall_s) + 1,
                 "budget_s": judge_budget_s(wall_s), "output_bytes": self.pool.limits.output_bytes, **part1}
        try:
            with self.pool.sandbox() as sb:
                if self.warm_judge:
                    res = _judge_server(sb).run(_frame(part1) + _frame(part2), sb.limits.wall_s)
                else:
                    res = sb.exec(JUDGE_CMD, stdin=_frame(part1) + _frame(part2), output_bytes=4 * 1024 * 1024)
                if res.timed_out:
                    return None, "sandbox_timeout"
                lines = res.stdout.decode(errors="replace").strip().splitlines()
                if not lines or not lines[-1].startswith('{"verdict"'):
                    if sb.stopped():  # killed from outside mid-sample: the sandbox failed (masked), not the policy
                        raise SandboxError("the sandbox container stopped mid-sample (killed from outside?)")
                    sb.dead = True  # the judge was killed (by the candidate): recycle to be safe
                    return None, "no_verdict"
                return json.loads(lines[-1])["verdict"], ""
        except SandboxError:
            raise
        except Exception as exc:  # noqa: BLE001 - engine/API failures are the sandbox's, not the policy's
            raise SandboxError(f"{type(exc).__name__}: {exc}") from exc

    def io_pairs(self, program: str, spec: dict) -> CodeReport:
        fn, cases = spec["fn"], spec["cases"]
        calls = [{"fn": fn, "args": encode(list(c.get("args", []))), "kwargs": encode(dict(c.get("kwargs", {})))}
                 for c in cases]
        verdict, why = self._run({"mode": "call", "program": program}, {"calls": calls})
        if verdict is None:
            return CodeReport(0, len(cases), why)
        outcomes, passed, reason = [], 0, ""
        for case, res in zip(cases, verdict["results"]):
            if res.get("ok"):
                try:
                    ok = values_match(decode(res["value"]), case["expected"])
                except (ValueError, TypeError, KeyError):
                    ok = False
                err = "" if ok else "wrong_answer"
            else:
                ok, err = False, res.get("error", "error")
            passed += ok
            reason = reason or err
            outcomes.append({"passed": ok, **({"error": err} if err else {})})
        if verdict.get("load_error") == "timeout":  # the program's top level hung: no case ran
            reason = "timeout"
        elif verdict.get("load_error"):
            reason = f"load_error: {verdict['load_error']}"
        return CodeReport(passed, len(cases), reason, outcomes)

    def stdio(self, program: str, spec: dict) -> CodeReport:
        cases = spec["cases"]
        verdict, why = self._run({"mode": "stdio", "program": program}, {"inputs": [c["input"] for c in cases]})
        if verdict is None:
            return CodeReport(0, len(cases), why)
        outcomes, passed, reason = [], 0, ""
        for case, res in zip(cases, verdict["results"]):
            ok = (not res["timeout"] and not res["truncated"] and res["exit"] == 0
                  and res["stdout"].strip() == str(case["output"]).strip())
            err = "" if ok else ("timeout" if res["timeout"] else "not_run" if res.get("skipped")
                                 else "output_limit" if res["truncated"]
                                 else f"exit_{res['exit']}" if res["exit"] else "wrong_answer")
            passed += ok
            reason = reason or err
            outcomes.append({"passed": ok, **({"error": err} if err else {})})
        return CodeReport(passed, len(cases), reason, outcomes)

    def run_program(self, program: str, stdin: str = "") -> ProgramOutput:
        """Run a program once (a code tool): its stdout, or why it produced none."""
        verdict, why = self._run({"mode": "stdio", "program": program}, {"inputs": [stdin]})
        if verdict is None:
            return ProgramOutput(f"[{why}]", None)
        res = verdict["results"][0]
        note = "\n[timed out]" if res["timeout"] else "\n[output truncated]" if res["truncated"] else ""
        return ProgramOutput(res["stdout"] + note, None if res["timeout"] else res["exit"])

    def humaneval(self, prompt: str, response: str, test: str, entry_point: str) -> CodeReport:
        """HumanEval semantics: one program, prompt + completion + test + check(entry_point). The candidate process
        runs the prompt's code and the completion (a body that continues the prompt, or fenced code that defines
        the entry point itself, after the prompt's code); the test runs in the judge, in the namespace of the
        prompt's code, with the entry point proxied (sandboxes/harness/judge.py: run_humaneval)."""
        code = extract_code(response)
        context = prompt_code(prompt, entry_point)
        if re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", code, re.M):
            program = f"{context}\n{code}"
        else:
            program = prompt + code
        verdict, why = self._run({"mode": "humaneval", "program": program, "entry_point": entry_point},
                                 {"test": test, "prompt": context})
        if verdict is None:
            return CodeReport(0, 1, why)
        ok = bool(verdict.get("passed"))
        reason = "" if ok else "timeout" if verdict.get("timeout") else str(verdict.get("error", "failed"))[:200]
        return CodeReport(int(ok), 1, reason)

    def run_tests(self, response: str, tests: Mapping[str, Any], prompt: str = "") -> CodeReport:
        """Judge a policy response on a sample's tests, whichever format they are in (the one dispatch the code
        verifier and the agent loop's Python tool share):
        - `io_pairs` / `stdio`: the response's last fenced code block (or the whole response) is the program;
        - `test` + `entry_point` (HumanEval): prompt + response + test, where the prompt is `code_prompt` when
          given (the code the response continues), else `prompt`.
        Raises TestFormatError when none of the formats is present or a spec is malformed."""
        try:
            if "io_pairs" in tests:
                return self.io_pairs(extract_code(response), tests["io_pairs"])
            if "stdio" in tests:
                return self.stdio(extract_code(response), tests["stdio"])
            if "test" in tests and "entry_point" in tests:
                return self.humaneval(tests.get("code_prompt", prompt), response, tests["test"], tests["entry_point"])
        except (KeyError, TypeError) as exc:
            raise TestFormatError(f"malformed tests: {type(exc).__name__}: {exc}") from exc
        raise TestFormatError("sample has no tests: give io_pairs, stdio, or test + entry_point (dataset columns or "
                              "a dict reference)")

