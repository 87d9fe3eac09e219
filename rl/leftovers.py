"""What a driver killed with SIGKILL leaves behind, and its removal at the next start of the same run directory.

Measured here (Ray 2.60, `ray.init()` starting a local cluster from the driver, the default job with Docker
sandboxes; docs/cluster.md has the table):
- SIGKILL of the driver's whole process group: gcs_server, raylet and the dashboard/log monitors die with it;
  the actors (RolloutWorker, RewardWorker, Learner, Critic: each in its own process group, same session) notice
  the raylet is gone and exit within ~5 s, the reward worker's verifier processes with them. The sandbox
  containers stay: they run `sleep infinity` and only their owner (a verifier process) removed them.
- SIGKILL of the driver pid alone: gcs_server and raylet die with it (Ray fate-shares them with the driver),
  the actors within ~5 s, but ray::DashboardAgent and ray::RuntimeEnvAgent live on for about a minute, and the
  containers stay.
A sandbox pool that starts removes containers whose owner pid is dead (sandboxes/docker_client.py
`reap_orphans`), but only a run that starts a pool on this host does that, and only when the pool starts.

So before `ray.init` the driver calls `reap_previous_run(run_dir)`, then `record_run(run_dir)`:
- `record_run` writes `driver.json` in the run directory (host, driver pid and start time, a token) and keeps it
  current from a daemon thread: every `interval_s` it adds the driver's live descendants (pid, start time,
  command: gcs_server, raylet, the Ray agents and workers, verifier processes) until Ray is shut down. It also
  puts the token in the driver's environment (MISPO_RUN_TOKEN), which the processes the driver starts inherit,
  to catch one started after the last snapshot. Both are needed: a process killed with its parent is
  re-parented to init (the tree is gone), and Ray's processes overwrite their /proc environ when they set their
  title (`ray::DashboardAgent`), so the token is not always readable (measured: lost on most runs).
- `reap_previous_run` reads the previous `driver.json`: a driver still alive refuses the start (two runs in one
  run directory would write the same files); otherwise it SIGKILLs the recorded processes still alive (same
  pid and start time, so a reused pid is never hit) and those carrying the token, then removes the sandbox
  containers whose owner is dead.
On a cluster started by hand (`ray.address` set) the actors live under the cluster's raylets, not the driver:
Ray kills a dead driver's (non-detached) actors itself; their containers go when the next pool starts on that
node. Processes on other hosts are never touched from here.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from config.errors import ConfigError

log = logging.getLogger(__name__)

RECORD = "driver.json"
TOKEN_ENV = "MISPO_RUN_TOKEN"
_watch_generation = [0]  # a newer record_run in this process stops the older watcher


@dataclass
class Reaped:
    """What `reap_previous_run` found. killed: (pid, command) of the previous run's processes it SIGKILLed;
    containers: sandbox containers removed (owner dead); survivors: pids still alive after the wait."""

    previous_pid: int | None = None
    killed: list[tuple[int, str]] = field(default_factory=list)
    containers: int = 0
    survivors: list[int] = field(default_factory=list)
    note: str = ""

    def describe(self) -> str:
        if self.previous_pid is None:
            return self.note or "no earlier driver recorded"
        names = ", ".join(sorted({c for _, c in self.killed})) or "none"
        text = (f"earlier driver pid {self.previous_pid}: killed {len(self.killed)} leftover process(es) ({names}), "
                f"removed {self.containers} orphaned sandbox container(s)")
        if self.survivors:
            text += f"; still alive: {self.survivors}"
        return text + (f"; {self.note}" if self.note else "")


def record_run(run_dir: Path, interval_s: float = 1.0) -> dict:
    """Write `run_dir/driver.json` for this driver and keep it current (call right before ray.init)."""
    token = uuid.uuid4().hex
    os.environ[TOKEN_ENV] = token
    rec = {"host": socket.gethostname(), "pid": os.getpid(), "pid_start": _start_time(os.getpid()),
           "since": _now_ticks(), "token": token, "started_unix": time.time(), "processes": {}}
    _write(Path(run_dir), rec)
    _watch_generation[0] += 1
    threading.Thread(target=_watch, args=(Path(run_dir), rec, interval_s, _watch_generation[0]), daemon=True,
                     name="mispo-leftovers").start()
    return rec


def stop_recording() -> None:
    """Stop this process's watcher (it also stops by itself once Ray was up and is shut down)."""
    _watch_generation[0] += 1


def reap_previous_run(run_dir: Path, wait_s: float = 10.0) -> Reaped:
    """Remove what the previous driver of `run_dir` left on this host; refuse if that driver still runs."""
    path = Path(run_dir) / RECORD
    try:
        rec = json.loads(path.read_text())
    except FileNotFoundError:
        return Reaped(containers=_reap_containers(), note="no earlier driver recorded")
    except (OSError, ValueError) as exc:
        return Reaped(containers=_reap_containers(), note=f"unreadable {path} ({exc}); skipped")
    out = Reaped(previous_pid=int(rec["pid"]))
    if rec.get("host") != socket.gethostname():
        out.note = f"it ran on host {rec.get('host')}: leftovers there are not touched from {socket.gethostname()}"
        return out
    pid = int(rec["pid"])
    if pid != os.getpid() and _start_time(pid) == rec.get("pid_start") and _alive(pid):
        raise ConfigError(f"trainer.run_dir: {run_dir} is in use by a running driver (pid {pid}, see {path}); stop "
                          "that run first or set trainer.run_dir (or trainer.run_name) to another directory")
    spared = _ancestors(os.getpid())
    victims = {p: cmd for p, (start, cmd) in ((int(p), v) for p, v in rec.get("processes", {}).items())
               if p not in spared and _start_time(p) == start and _alive(p)}
    since = int(rec.get("since", 0)) - 1  # a tagged process older than the run is not one of its own
    victims.update({p: cmd for p, cmd in tagged_processes(str(rec["token"])) if (_start_time(p) or 0) >= since})
    for p in victims:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + wait_s
    while (left := [p for p in victims if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    out.killed, out.survivors = sorted(victims.items()), left
    out.containers = _reap_containers()
    (log.warning if victims or out.containers else log.info)("leftovers of this run dir: %s", out.describe())
    return out


def tagged_processes(token: str) -> list[tuple[int, str]]:
    """(pid, command) of live processes of this host whose /proc environ still shows MISPO_RUN_TOKEN=`token`;
    this process and its ancestors are never included."""
    needle = f"{TOKEN_ENV}={token}".encode()
    spared = _ancestors(os.getpid())
    found = []
    for pid in _pids():
        if pid in spared:
            continue
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0") and _alive(pid):
            found.append((pid, _command(pid)))
    return found


def descendants(root: int, since: int = 0) -> dict[int, int]:
    """Live descendants of `root` started at or after `since`: pid -> start time (clock ticks since boot)."""
    children: dict[int, list[int]] = {}
    starts = {}
    for pid in _pids():
        fields = _stat(pid)
        if fields and fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(pid)
            starts[pid] = int(fields[19])
    out, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid not in out and pid in starts:
            if starts[pid] >= since:
                out[pid] = starts[pid]
            todo += children.get(pid, [])
    return out


def _watch(run_dir: Path, rec: dict, interval_s: float, generation: int) -> None:
    """Add the driver's live descendants to the record until Ray was up and is shut down again (or a newer
    record_run in this process takes over). Dead entries are dropped; a re-parented one stays while alive. Only
    processes started after record_run count: a driver run in-process (tests) has older children of its own."""
    ray_seen = False
    while _watch_generation[0] == generation:
        try:
            procs = {int(p): v for p, v in rec["processes"].items() if _start_time(int(p)) == v[0]}
            for pid, start in descendants(os.getpid(), rec["since"] - 1).items():
                procs[pid] = [start, _command(pid)]  # the command again: Ray workers set their title after start
            if procs != {int(p): v for p, v in rec["processes"].items()}:
                rec["processes"] = {str(p): v for p, v in procs.items()}
                _write(run_dir, rec)
            ray = sys.modules.get("ray")
            up = bool(ray is not None and ray.is_initialized())
            if ray_seen and not up:
                return
            ray_seen |= up
        except Exception as exc:  # noqa: BLE001 - bookkeeping must never stop the run
            log.debug("leftovers watcher: %s", exc)
        time.sleep(interval_s)


def _write(run_dir: Path, rec: dict) -> None:
    tmp = run_dir / f".{RECORD}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(rec) + "\n")
    os.replace(tmp, run_dir / RECORD)


def _reap_containers() -> int:
    """sandboxes' reaper: containers whose owner process on this host is dead. 0 when Docker is not in use."""
    if not os.environ.get("DOCKER_HOST") and not os.path.exists("/var/run/docker.sock"):
        return 0  # no engine on this machine: nothing to reap, and no client to start
    try:
        from sandboxes.docker_client import reap_orphans

        return reap_orphans()
    except Exception as exc:  # noqa: BLE001 - no engine (a run without sandboxes) is not an error here
        log.debug("container reaper skipped: %s", exc)
        return 0


def _pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 = state, 1 = ppid, 19 = start time)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()


def _now_ticks() -> int:
    """Now, in the unit of /proc/<pid>/stat start times (clock ticks since boot)."""
    return int(float(Path("/proc/uptime").read_text().split()[0]) * os.sysconf("SC_CLK_TCK"))


def _start_time(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def _alive(pid: int) -> bool:
    """Running (a zombie, state Z, has exited and only waits for its parent to collect it)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _ancestors(pid: int) -> set[int]:
    out = set()
    while pid > 0 and pid not in out:
        out.add(pid)
        fields = _stat(pid)
        pid = int(fields[1]) if fields else 0
    return out


def _command(pid: int) -> str:
    """A short name: `ray::RolloutWorker`, `raylet`, `gcs_server`, `dashboard.py` (python's first script)."""
    try:
        argv = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return "?"
    if not argv:
        return "?"
    name = argv[0].split()[0] if argv[0].startswith("ray::") else os.path.basename(argv[0])
    if name.startswith("python"):
        name = next((os.path.basename(a) for a in argv[1:] if a.endswith(".py")), name)
    return name
