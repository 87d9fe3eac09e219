"""Run candidate programs in the warm pool and judge them on the host side.

Three test formats (the code verifier picks by the sample's fields):
- io_pairs: {"fn": name, "cases": [{"args": [...], "kwargs": {...}, "expected": ...}]}: only the arguments enter
  the sandbox; return values come back as plain data and are compared here.
- stdio: {"cases": [{"input": "...", "output": "..."}]}: stdout comes back; compared here (stripped).
- humaneval: prompt + response + test (defines check(candidate)), run by the in-container judge with the
  candidate proxied across a process boundary.
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from sandboxes.container import ExecResult, FrameReader, Sandbox
from sandboxes.harness.judge import END_MARK, decode, encode
from sandboxes.limits import SANDBOX_UID
from sandboxes.pool import SandboxPool

JUDGE_CMD = ["/usr/bin/python3", "-I", "-S", "/opt/mispo/judge.py"]
FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.S | re.I)


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
        """False when the sandbox produced no verdict within the host deadline. In-judge limits catch the
        candidate's own loops and hangs, so this points at the sandbox (load, engine): mask, don't score 0."""
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


class CodeRunner:
    """Judges programs in `pool`. case_timeout_s bounds one case inside the sandbox; the pool's wall_s bounds the
    whole job from the host (a job past it kills its container)."""

    def __init__(self, pool: SandboxPool, case_timeout_s: float = 3.0, memory_mb: int = 256,
                 warm_judge: bool | None = None) -> None:
        self.pool, self.case_timeout_s, self.memory_mb = pool, case_timeout_s, memory_mb
        # a warm judge server per container (6x the throughput) on runc; under gVisor (runsc) the long-lived
        # exec died after a few jobs (measured), so each job gets its own exec there
        self.warm_judge = pool.limits.runtime in (None, "runc") if warm_judge is None else warm_judge

    def _run(self, part1: dict, part2: dict) -> tuple[dict | None, str]:
        part1 = {"case_timeout": self.case_timeout_s, "memory_mb": self.memory_mb,
                 "cpu_s": int(self.pool.limits.wall_s) + 1, "output_bytes": self.pool.limits.output_bytes, **part1}
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
        if verdict.get("load_error"):
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
            err = "" if ok else ("timeout" if res["timeout"] else "output_limit" if res["truncated"]
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
        code = extract_code(response)
        if re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", code, re.M):
            imports = "\n".join(l for l in prompt.splitlines() if re.match(r"\s*(import|from)\s", l))
            program = f"{imports}\n{code}"
        else:
            program = prompt + code
        verdict, why = self._run({"mode": "humaneval", "program": program, "entry_point": entry_point}, {"test": test})
        if verdict is None:
            return CodeReport(0, 1, why)
        ok = bool(verdict.get("passed"))
        return CodeReport(int(ok), 1, "" if ok else str(verdict.get("error", "failed"))[:200])
