"""In-container code judge (runs as the sandbox user via `docker exec`, python3 -I -S). Stdlib only.

Protocol on stdin: two length-prefixed JSON parts (8 ASCII digits + bytes). Part 1 is what the candidate may see
(mode, program, limits); part 2 is read only after the candidate process is forked (calls, HumanEval test), so the
candidate never has the test in its memory. The verdict is ONE JSON line on this process's stdout, which the
candidate cannot reach: it runs in a child whose fds are closed, and this process is non-dumpable (no ptrace, no
/proc/<pid>/mem, no /proc/<pid>/fd). Return values cross as tagged plain data and are rebuilt here, so objects
with a rigged __eq__ never reach a comparison. Expected outputs of io_pairs/stdio never enter the container.

Modes: "call" (run fn(*args, **kwargs) per call, return the values), "humaneval" (run test's check(candidate)
here, in the namespace of the task's prompt code, with candidate and the entry point's name proxied to the
child), "stdio" (run the program per input, return its stdout).
Time: every wait (the program's load, a case, a reply) ends at case_timeout and at the job's budget_s, so the
verdict always beats the host's deadline; a load or case that runs out is the candidate's timeout, and the cases
after it are not run.
"""
import ctypes
import json
import os
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from contextlib import suppress


def read_part():
    head = _read_exact(0, 8)
    return json.loads(_read_exact(0, int(head)).decode())


def _read_exact(fd, n):
    out = b""
    while len(out) < n:
        chunk = os.read(fd, n - len(out))
        if not chunk:
            raise EOFError("short read")
        out += chunk
    return out


def encode(v, depth=0):
    """Plain data only (exact types); anything else is an error, so rigged objects cannot pass."""
    if depth > 50:
        raise TypeError("value nested too deeply")
    t = type(v)
    if v is None or t is bool or t is int or t is str:
        return {"v": v} if t is not int or abs(v) < 2 ** 53 else {"i": str(v)}
    if t is float:
        return {"f": repr(v)}
    if t is list or t is tuple or t is set or t is frozenset:
        items = [encode(x, depth + 1) for x in v]
        return {{list: "l", tuple: "t", set: "s", frozenset: "z"}[t]: items}
    if t is dict:
        return {"d": [[encode(k, depth + 1), encode(x, depth + 1)] for k, x in v.items()]}
    if t is bytes:
        return {"b": v.hex()}
    raise TypeError(f"return value of type {t.__name__} is not plain data")


def decode(e):
    (tag, x), = e.items()
    if tag == "v":
        if x is None or type(x) in (bool, int, str):
            return x
        raise ValueError("bad scalar")
    if tag == "i":
        return int(x)
    if tag == "f":
        return float(x)
    if tag in ("l", "t", "s", "z"):
        items = [decode(i) for i in x]
        return {"l": list, "t": tuple, "s": set, "z": frozenset}[tag](items)
    if tag == "d":
        return {decode(k): decode(v) for k, v in x}
    if tag == "b":
        return bytes.fromhex(x)
    raise ValueError(f"bad tag {tag}")


def send(sock, obj):
    data = json.dumps(obj).encode()
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv(sock, timeout):
    """One framed message. `timeout` (seconds; None waits forever) bounds the WHOLE message, so a candidate that
    trickles bytes into its socket cannot stretch a case past its time limit."""
    end = None if timeout is None else time.monotonic() + timeout
    sock.settimeout(timeout)

    def read(n):
        out = b""
        while len(out) < n:
            if end is not None:
                left = end - time.monotonic()
                if left <= 0:
                    raise socket.timeout("message took too long")
                sock.settimeout(left)
            chunk = sock.recv(min(1 << 16, n - len(out)))
            if not chunk:
                raise EOFError
            out += chunk
        return out

    n = struct.unpack(">I", read(4))[0]
    if n > 64 * 1024 * 1024:
        raise EOFError
    return json.loads(read(n).decode())


def child_limits(job):
    mem = int(job.get("memory_mb", 256)) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    cpu = int(job.get("cpu_s", 10))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    # no RLIMIT_NPROC: it counts the uid's processes host-wide; the container's pids cgroup caps fork bombs


def candidate_child(sock, job, workdir):
    """Runs in the forked child: load the program, then serve calls until EOF."""
    os.setpgid(0, 0)  # its own process group, so stop() takes down whatever it forked too
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, sock.fileno())
    os.closerange(sock.fileno() + 1, 4096)
    os.chdir(workdir)
    try:
        child_limits(job)
        ns = {"__name__": "__candidate__", "__builtins__": __builtins__}
        exec(compile(job["program"], "<candidate>", "exec"), ns)
        send(sock, {"ready": True})
    except BaseException as exc:  # noqa: B036 - the candidate may raise anything, SystemExit included
        send(sock, {"ready": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
        os._exit(0)
    while True:
        try:
            req = recv(sock, None)
        except BaseException:
            os._exit(0)
        try:
            fn = ns[req["fn"]]
            args = decode(req["args"])
            kwargs = decode(req["kwargs"])
            reply = {"ok": True, "value": encode(fn(*args, **kwargs))}
        except BaseException as exc:  # noqa: B036
            reply = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        send(sock, reply)


def time_left(job, deadline):
    """Seconds the next wait may take: one case's timeout, capped by what is left of the job's budget."""
    return min(float(job.get("case_timeout", 3)), deadline - time.monotonic())


class Candidate:
    """The candidate's process, restarted after a crash (call mode), never after a failed load. A load or call
    past its time limit is the candidate's timeout (timed_out); the caller stops running cases after one."""

    def __init__(self, job, workdir, deadline):
        self.job, self.workdir, self.deadline, self.pid, self.sock = job, workdir, deadline, None, None
        self.load_failed, self.timed_out = False, False

    def start(self):
        parent, child = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            parent.close()
            try:
                candidate_child(child, self.job, self.workdir)
            finally:
                os._exit(0)
        child.close()
        self.pid, self.sock = pid, parent
        try:
            hello = recv(parent, max(0.001, time_left(self.job, self.deadline)))
            error = None if hello.get("ready") else hello.get("error", "load failed")
        except socket.timeout:  # the top level hangs: the candidate's timeout, not worth a reload per case
            error, self.timed_out = "timeout", True
        except BaseException as exc:
            error = f"program did not load: {type(exc).__name__}"
        if error:
            self.stop()
            self.load_failed = True
        return error

    def call(self, fn, args, kwargs):
        if self.pid is None:
            if self.job["mode"] != "call":  # a restarted child would hold the HumanEval test in its memory
                return {"ok": False, "error": "candidate is gone"}
            if self.load_failed:
                return {"ok": False, "error": "not run: the program did not load"}
            err = self.start()
            if err:
                return {"ok": False, "error": err}
        left = time_left(self.job, self.deadline)
        try:
            if left <= 0:
                raise socket.timeout("the job's time budget is spent")
            send(self.sock, {"fn": fn, "args": args, "kwargs": kwargs})
            reply = recv(self.sock, left)
            if reply.get("ok"):
                decode(reply["value"])  # malformed data is the candidate's failure, caught below
            return reply
        except socket.timeout:
            self.stop()
            self.timed_out = True
            return {"ok": False, "error": "timeout"}
        except BaseException as exc:
            self.stop()
            return {"ok": False, "error": f"candidate died ({type(exc).__name__})"}

    def stop(self):
        if self.pid is not None:
            with suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
            with suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        if self.sock is not None:
            self.sock.close()
        self.pid, self.sock = None, None


def run_call(cand, part2):
    """One result per call; after a timeout (of a call or of a reload) the remaining calls are not run: an
    infinite loop would repeat, and each would wait out another case timeout."""
    results = []
    for c in part2["calls"]:
        if cand.timed_out:
            why = "the program did not load" if cand.load_failed else "an earlier case timed out"
            results.append({"ok": False, "error": f"not run: {why}"})
            continue
        results.append(cand.call(c["fn"], c["args"], c["kwargs"]))
    return {"results": results, "timeout": cand.timed_out}


def run_humaneval(cand, part2, entry_point):
    """HumanEval's program is `prompt + completion + test + check(entry_point)`. The test runs here, in the
    namespace of the task's own code (`part2["prompt"]`: its imports and the helpers it defines, from the host,
    never from the candidate), with the entry point, under its name and as `candidate`, proxied to the candidate
    process. So a test that calls a prompt helper or the entry point by name sees the task's names, and a candidate
    that redefines a helper the test relies on changes nothing here."""
    def proxy(*args, **kwargs):
        reply = cand.call(entry_point, encode(args), encode(kwargs))
        if not reply.get("ok"):
            raise RuntimeError(reply.get("error"))
        return decode(reply["value"])

    ns = {"__name__": "__judge__"}
    try:
        exec(compile(part2.get("prompt", ""), "<prompt>", "exec"), ns)
    except BaseException as exc:  # noqa: B036 - the candidate loaded the same code, so this is its program failing
        return {"passed": False, "error": f"prompt: {type(exc).__name__}: {str(exc)[:300]}", "timeout": False}
    ns[entry_point] = proxy
    try:
        exec(compile(part2["test"], "<test>", "exec"), ns)
        ns["check"](proxy)
        return {"passed": not cand.timed_out, "timeout": cand.timed_out}
    except BaseException as exc:  # noqa: B036
        return {"passed": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}", "timeout": cand.timed_out}


def run_stdio(job, part2, workdir, deadline):
    """Run the program once per input; after a case times out the rest are not run (counted as failed)."""
    path = os.path.join(workdir, "candidate.py")
    with open(path, "w") as f:
        f.write(job["program"])
    results, timed_out = [], False
    for text in part2["inputs"]:
        if timed_out:
            results.append({"stdout": "", "exit": None, "timeout": False, "truncated": False, "skipped": True})
            continue
        proc = subprocess.Popen(["/usr/bin/python3", "-I", path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, cwd=workdir, start_new_session=True, close_fds=True,
                                preexec_fn=lambda: child_limits(job))
        out, truncated, timed_out = pump(proc, text.encode(), time.monotonic() + time_left(job, deadline),
                                         int(job.get("output_bytes", 65536)))
        with suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
        results.append({"stdout": out.decode(errors="replace"), "exit": code, "timeout": timed_out,
                        "truncated": truncated})
    return {"results": results, "timeout": timed_out}


def pump(proc, data, case_end, budget):
    """Feed `data` to stdin and collect stdout until EOF, `budget` bytes, or case_end: (out, truncated, timed_out).
    Never blocks past case_end, so a program that does not read a large input cannot stall the judge."""
    out, pending = b"", memoryview(data)
    fd_in, fd_out = proc.stdin.fileno(), proc.stdout.fileno()
    os.set_blocking(fd_in, False)
    os.set_blocking(fd_out, False)
    while True:
        if not pending and not proc.stdin.closed:
            proc.stdin.close()
        left = case_end - time.monotonic()
        if left <= 0:
            return out, False, True
        readable, writable, _ = select.select([fd_out], [fd_in] if pending else [], [], left)
        if writable:
            try:
                pending = pending[os.write(fd_in, pending[:65536]):]
            except BlockingIOError:
                pass
            except OSError:  # the program exited or closed its stdin
                pending = pending[:0]
        if readable:
            try:
                chunk = os.read(fd_out, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                return out, False, False
            if len(out) >= budget:
                return out, True, False
            out += chunk[: budget - len(out)]


def kill_others(keep):
    """SIGKILL every process we may signal except `keep` (init, the server, ourselves)."""
    if keep is None:
        with suppress(OSError):
            os.kill(-1, signal.SIGKILL)  # kills all of this uid except the caller (and init)
        return
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in keep:
            with suppress(OSError):
                os.kill(int(name), signal.SIGKILL)


def clean_slate(keep=None):
    """Kill everything this uid runs (but `keep`) and wipe the writable dirs: nothing of an earlier sample
    survives into this one."""
    kill_others(keep)
    for d in ("/work", "/tmp"):
        for name in os.listdir(d) if os.path.isdir(d) else ():
            p = os.path.join(d, name)
            with suppress(OSError):
                shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)


def run_job(job, get_part2, keep=None):
    """One sample: fork the candidate from part 1 alone, then fetch part 2, judge, and clean up. Every wait is
    capped by the job's budget_s (set below the host's deadline), so the verdict arrives before that deadline."""
    deadline = time.monotonic() + float(job.get("budget_s", 1e9))
    workdir = tempfile.mkdtemp(dir="/work")
    cand = Candidate(job, workdir, deadline)
    load_error = None
    if job["mode"] in ("call", "humaneval"):
        load_error = cand.start()
    part2 = get_part2()
    if job["mode"] == "call":
        verdict = {"load_error": load_error, **run_call(cand, part2)}
    elif job["mode"] == "humaneval":
        verdict = ({"passed": False, "error": f"load: {load_error}", "timeout": cand.timed_out} if load_error
                   else run_humaneval(cand, part2, job["entry_point"]))
    else:
        verdict = run_stdio(job, part2, workdir, deadline)
    cand.stop()
    kill_others(keep)
    return verdict


def emit(verdict):
    sys.stdout.write("\n" + json.dumps({"verdict": verdict}) + "\n")
    sys.stdout.flush()


def main():
    """One job per process (a `docker exec` each)."""
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4 -> 0
    clean_slate()
    job = read_part()
    emit(run_job(job, read_part))


def serve():
    """Many jobs over one exec (a warm judge): per job, read part 1, fork a job process (it forks the
    candidate, then asks for part 2 through a pipe), relay its verdict, kill leftovers, print END_MARK. The server
    reads part 2 only after the candidate exists, so no candidate ever has its own test in memory."""
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
    me = os.getpid()
    while True:
        try:
            job = read_part()
        except (EOFError, ValueError):
            return
        clean_slate(keep={1, me})
        ask_r, ask_w = os.pipe()
        give_r, give_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(ask_r)
            os.close(give_w)

            def get_part2():
                os.write(ask_w, b"1")
                data = b""
                while True:
                    chunk = os.read(give_r, 1 << 16)
                    if not chunk:
                        break
                    data += chunk
                return json.loads(data.decode())

            try:
                emit(run_job(job, get_part2, keep={1, me, os.getpid()}))
            finally:
                os._exit(0)
        os.close(ask_w)
        os.close(give_r)
        asked = os.read(ask_r, 1)  # b"" when the job process died before asking
        part2 = read_part()
        if asked:
            data = memoryview(json.dumps(part2).encode())
            try:
                while data:
                    data = data[os.write(give_w, data):]
            except OSError:
                pass
        del part2
        os.close(give_w)
        os.close(ask_r)
        os.waitpid(pid, 0)
        kill_others({1, me})
        sys.stdout.write("\n" + END_MARK + "\n")
        sys.stdout.flush()


END_MARK = "__MISPO_JOB_END__"

if __name__ == "__main__":
    serve() if "--serve" in sys.argv else main()
