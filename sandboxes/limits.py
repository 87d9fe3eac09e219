"""Resource limits and the hardened container settings every sandbox starts with."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SANDBOX_UID = 1000   # candidate code and agents
JUDGE_UID = 1001     # hidden tests; owns /tests (mode 700)


@dataclass(frozen=True)
class SandboxLimits:
    """memory_mb: RAM (swap equal, so no swap); cpus: CPU share; pids: process cap (fork bombs stop here);
    file_size_mb: largest file a process may write; tmpfs_mb: size of each writable dir; wall_s: host-enforced
    deadline of one exec; output_bytes: stdout/stderr kept per exec (the rest is dropped and flagged);
    runtime: None (runc) or "runsc" (gVisor); read_only_root: root filesystem read-only (writable dirs are tmpfs);
    writable_dirs: the tmpfs mounts, owned by the sandbox user; exec_dirs: which of them allow exec;
    user: the container's user ("uid:gid"); cap_add: capabilities kept (all others are dropped); workdir/home:
    the container's working dir and HOME (default: the first writable dir)."""

    memory_mb: int = 512
    cpus: float = 1.0
    pids: int = 64
    file_size_mb: int = 16
    tmpfs_mb: int = 64
    wall_s: float = 10.0
    output_bytes: int = 64 * 1024
    runtime: str | None = None
    read_only_root: bool = True
    writable_dirs: tuple[str, ...] = ("/work", "/tmp")
    exec_dirs: tuple[str, ...] = ()
    user: str = f"{SANDBOX_UID}:{SANDBOX_UID}"
    cap_add: tuple[str, ...] = ()
    workdir: str | None = None
    home: str | None = None

    def __post_init__(self) -> None:
        if self.runtime not in (None, "runc", "runsc"):
            raise ValueError(f"sandbox runtime {self.runtime!r} is not one of None, 'runc', 'runsc'")
        for name in ("memory_mb", "pids", "file_size_mb", "tmpfs_mb", "output_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"sandbox limit {name} must be > 0, got {getattr(self, name)}")
        if self.cpus <= 0 or self.wall_s <= 0:
            raise ValueError("sandbox limits cpus and wall_s must be > 0")


def container_kwargs(image: str, limits: SandboxLimits, labels: dict[str, str], judge_dir: bool) -> dict[str, Any]:
    """docker SDK `containers.run` keyword arguments: no network, no capabilities (but `cap_add`), no new
    privileges, non-root unless `user` says otherwise, read-only root (unless turned off) with tmpfs work dirs,
    pid/memory/CPU/file-size limits, no host mounts."""
    import docker

    tmpfs = {}
    for d in limits.writable_dirs:
        mode = "1777" if d == "/tmp" else "0755"
        exec_opt = "exec" if d in limits.exec_dirs else "noexec"
        tmpfs[d] = f"rw,{exec_opt},nosuid,nodev,size={limits.tmpfs_mb}m,uid={SANDBOX_UID},gid={SANDBOX_UID},mode={mode}"
    if judge_dir:
        tmpfs["/tests"] = f"rw,noexec,nosuid,nodev,size={limits.tmpfs_mb}m,uid={JUDGE_UID},gid={JUDGE_UID},mode=0700"
    fsize = limits.file_size_mb * 1024 * 1024
    kwargs: dict[str, Any] = dict(
        image=image, command=["sleep", "infinity"], detach=True, labels=labels,
        network_mode="none", read_only=limits.read_only_root, tmpfs=tmpfs,  # loopback only (+ /etc/hosts: localhost)
        user=limits.user, cap_drop=["ALL"], cap_add=list(limits.cap_add) or None, security_opt=["no-new-privileges"],
        pids_limit=limits.pids, mem_limit=f"{limits.memory_mb}m", memswap_limit=f"{limits.memory_mb}m",
        nano_cpus=int(limits.cpus * 1e9), hostname="sandbox", working_dir=limits.workdir or limits.writable_dirs[0],
        ulimits=[docker.types.Ulimit(name="fsize", soft=fsize, hard=fsize),
                 docker.types.Ulimit(name="nofile", soft=256, hard=256),
                 docker.types.Ulimit(name="core", soft=0, hard=0)],
        environment={"HOME": limits.home or limits.writable_dirs[0], "LANG": "C.UTF-8"},
    )
    if limits.runtime and limits.runtime != "runc":
        kwargs["runtime"] = limits.runtime
    return kwargs
