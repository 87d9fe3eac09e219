"""Verifiers in worker processes with a parent-enforced deadline per sample.

Why processes: math-verify/sympy timeouts use signal.alarm (main thread only) and cannot stop C-level work, and a
plugin may hang or leak. Here the parent owns the clock: a sample that exceeds `timeout_s` gets
RewardResult(status="timeout") and its process is killed and replaced, so one pathological answer never stalls
training. Each process has an address-space limit (`memory_mb`); a process that dies (crash, OOM) is replaced
and its sample retried up to `max_retries` times before it is reported as status="error".

This deadline is an infrastructure last resort and its `timeout` is masked: it cannot tell a verifier bug from an
answer that makes the verifier slow. Verifiers must therefore turn answer-caused slowness into a wrong answer
themselves (status ok, score 0) well inside `timeout_s`: the math verifier refuses blow-ups before sympy runs
and gives each answer a CPU budget (rewards/math_guard.py, rewards/math_verifier.py), and the code sandbox scores
the candidate's own timeouts as failed cases (sandboxes/code_runner.py).
Every verifier failure (exception, wrong return type, a score that is NaN, infinite or not a number) is status
"error" with a reason naming the verifier and the fix.

Concurrency is bounded by the number of processes; `score` blocks until every sample has a result.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from rewards.base import Verifier, VerifyRequest
from rewards.types import SCORE_FIX, RewardResult, score_problem

log = logging.getLogger(__name__)
Domains = dict[str, tuple[str, dict[str, Any]]]  # domain -> (verifier name, options)


def _limit_memory(memory_mb: int | None) -> None:
    if memory_mb:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _verify_one(verifiers: dict[str, Verifier], domains: Domains, domain: str, req: VerifyRequest) -> RewardResult:
    """Run one verification in this process; every failure of the verifier itself becomes status "error" with
    a reason that names the verifier."""
    verifier = verifiers.get(domain)
    if verifier is None:
        return RewardResult.failed("error", f"no verifier configured for domain {domain!r}")
    who = f"verifier {domains[domain][0]!r} (rewards.domains.{domain})"
    try:
        res = verifier.verify(req)
    except MemoryError:
        return RewardResult.failed("error", f"{who} ran out of memory (rewards.memory_mb)")
    except Exception as exc:  # noqa: BLE001 - the verifier failed, not the policy
        return RewardResult.failed("error", f"{who}: {type(exc).__name__}: {exc}",
                                   traceback=traceback.format_exc(limit=3))
    if not isinstance(res, RewardResult):
        return RewardResult.failed("error", f"{who} returned {type(res).__name__}, not RewardResult")
    problem = score_problem(res.score)
    if problem is not None:  # e.g. set after construction: never train on it, never turn it into a silent 0
        log.warning("%s returned a score that %s", who, problem)
        return RewardResult.failed("error", f"{who} returned a score that {problem}. {SCORE_FIX}")
    return res


def _worker_main(conn: Connection, domains: Domains, memory_mb: int | None) -> None:
    """Child process: build the verifiers once, then score (index, domain, request) messages until EOF."""
    from rewards.registry import setup_verifier

    _limit_memory(memory_mb)
    verifiers = {d: setup_verifier(name, opts) for d, (name, opts) in domains.items()}
    conn.send(("ready", None))
    while True:
        try:
            idx, domain, req = conn.recv()
        except (EOFError, OSError):
            for v in verifiers.values():  # multiprocessing children skip atexit: release resources here
                try:
                    v.close()
                except Exception:  # noqa: BLE001 - best effort at exit
                    pass
            return
        start = time.perf_counter()
        res = _verify_one(verifiers, domains, domain, req)
        res.details.setdefault("seconds", time.perf_counter() - start)
        conn.send((idx, res))


@dataclass
class _Proc:
    process: mp.Process
    conn: Connection
    queue: deque = field(default_factory=deque)  # sample indices sent, in order; the head is being verified
    started: float = 0.0  # when the head sample started (the previous result's arrival, or its send)


class VerifierProcessPool:
    """A fixed number of verifier processes. Use as a context manager or call close()."""

    PIPELINE = 2  # samples in flight per process

    def __init__(self, domains: Domains, processes: int = 1, timeout_s: float = 10.0, memory_mb: int | None = 4096,
                 max_retries: int = 1, start_timeout_s: float = 120.0) -> None:
        from rewards.registry import setup_verifier

        for name, opts in domains.values():  # fail fast, in the caller, on unknown names or bad options
            setup_verifier(name, opts)
        self.domains, self.timeout_s, self.memory_mb = domains, timeout_s, memory_mb
        self.max_retries, self.start_timeout_s = max_retries, start_timeout_s
        self.ctx = mp.get_context("spawn")
        self.procs = [self._start() for _ in range(max(1, processes))]
        self.restarts = 0

    def _start(self) -> _Proc:
        parent, child = self.ctx.Pipe()
        p = self.ctx.Process(target=_worker_main, args=(child, self.domains, self.memory_mb), daemon=True)
        p.start()
        child.close()
        if not parent.poll(self.start_timeout_s):
            p.kill()
            raise RuntimeError(f"verifier process did not start within {self.start_timeout_s}s")
        try:
            parent.recv()
        except EOFError:
            raise RuntimeError("verifier process died while starting (see its stderr above)") from None
        return _Proc(p, parent)

    def _replace(self, proc: _Proc) -> _Proc:
        proc.process.kill()
        proc.process.join(timeout=5)
        proc.conn.close()
        self.restarts += 1
        return self._start()

    def score(self, items: list[tuple[str, VerifyRequest]]) -> list[RewardResult]:
        """Score (domain, request) pairs; results in input order. Never raises for a sample's failure.

        Each process gets up to `PIPELINE` samples in flight so it never idles between a result and the next
        request; the deadline clock of a queued sample starts when the one before it finishes."""
        results: list[RewardResult | None] = [None] * len(items)
        attempts = [0] * len(items)
        todo = deque(range(len(items)))
        while todo or any(p.queue for p in self.procs):
            now = time.monotonic()
            for p in self.procs:
                while len(p.queue) < self.PIPELINE and todo:
                    idx = todo.popleft()
                    if not p.queue:
                        p.started = now
                    p.queue.append(idx)
                    try:
                        p.conn.send((idx, *items[idx]))
                    except (BrokenPipeError, OSError):  # died while idle: the receive below sees EOF
                        break
            busy = [p for p in self.procs if p.queue]
            deadline = min(p.started for p in busy) + self.timeout_s
            ready = wait([p.conn for p in busy], timeout=max(0.0, deadline - time.monotonic()))
            for i, p in enumerate(self.procs):
                if not p.queue:
                    continue
                if p.conn in ready:
                    try:
                        got_idx, res = p.conn.recv()
                    except (EOFError, OSError):  # the process died mid-sample (crash, OOM kill)
                        self._fail_head(i, todo, attempts, results, "error")
                        continue
                    results[got_idx] = res
                    p.queue.popleft()
                    p.started = time.monotonic()
                elif time.monotonic() - p.started >= self.timeout_s:
                    self._fail_head(i, todo, attempts, results, "timeout")
        assert all(r is not None for r in results), "every sample must have a result"
        return results  # type: ignore[return-value]

    def _fail_head(self, i: int, todo: deque, attempts: list[int], results: list, status: str) -> None:
        """The process's head sample hung (timeout) or killed it (error): replace the process, report or retry the
        head sample, and put the samples queued behind it back in front of the to-do queue."""
        p = self.procs[i]
        head, rest = p.queue[0], list(p.queue)[1:]
        self.procs[i] = self._replace(p)
        todo.extendleft(reversed(rest))
        attempts[head] += 1
        if status == "timeout":
            results[head] = RewardResult.failed("timeout", f"no result within {self.timeout_s}s",
                                                timeout_s=self.timeout_s)
        elif attempts[head] <= self.max_retries:
            todo.appendleft(head)
        else:
            results[head] = RewardResult.failed("error", "verifier process died", attempts=attempts[head])

    def close(self) -> None:
        """EOF first, so verifiers exit cleanly (sandbox pools remove their containers at exit); kill stragglers."""
        for p in self.procs:
            p.conn.close()
        for p in self.procs:
            p.process.join(timeout=10)
            if p.process.is_alive():
                p.process.kill()
                p.process.join(timeout=5)
        self.procs = []

    def __enter__(self) -> "VerifierProcessPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
