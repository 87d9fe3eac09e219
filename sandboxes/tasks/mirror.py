"""A task's offline package mirror, resolved on the host where PyPI and Debian are reachable.

- Python: `pip download` of binary wheels for the task image's Python version and manylinux x86_64, dependencies
  included, into `wheels/`.
- Debian: the host's apt, pointed at the image's suite and at the image's own dpkg status (so only what the image
  lacks is fetched), downloads the .debs into `apt/` and we write the flat-repository `Packages` index.

Both are cached under $MISPO_CACHE/mirror by a hash of what was asked (and of the image's package set), so a task
image rebuild costs no download. The task image gets the mirror at /opt/mispo-mirror with apt and pip configured to
use only it: the network stays off while the image builds, while the agent acts and while the tests run.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandboxes.tasks.spec import TaskError

MIRROR = os.environ.get("MISPO_DEBIAN_MIRROR", "http://deb.debian.org/debian")
GLIBC_MINOR = {"bookworm": 36, "trixie": 41}
LISTS_MAX_AGE_S = 24 * 3600


def cache_root() -> Path:
    return Path(os.environ.get("MISPO_CACHE", Path.home() / ".cache" / "mispo")) / "mirror"


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def platforms(suite: str) -> list[str]:
    """Wheel platform tags the suite's glibc runs (manylinux_2_17 .. its glibc, legacy aliases, pure)."""
    top = GLIBC_MINOR.get(suite, 36)
    tags = [f"manylinux_2_{m}_x86_64" for m in range(top, 4, -1)]
    return tags + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]


def resolve_wheels(requirements: list[str], python: str, suite: str, task: str) -> Path:
    """Download wheels for `requirements` (and their dependencies) for CPython `python` ("3.13"); returns the
    directory. Raises TaskError naming what could not be resolved."""
    dest = cache_root() / "wheels" / _key(sorted(requirements), python, suite)
    if (dest / ".complete").is_file():
        return dest
    if not requirements:
        dest.mkdir(parents=True, exist_ok=True)
        (dest / ".complete").write_text("")
        return dest
    abi = "cp" + python.replace(".", "")
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-input", "--quiet",
           "--only-binary=:all:", "--python-version", python, "--implementation", "cp", "--abi", abi,
           "--abi", "abi3", "--abi", "none", *[f"--platform={p}" for p in platforms(suite)],
           "--index-url", os.environ.get("MISPO_PYPI_INDEX", "https://pypi.org/simple")]
    tmp = Path(tempfile.mkdtemp(prefix="wheels-", dir=_ensure(dest.parent)))
    print(f"[mirror] {task}: downloading wheels for Python {python}: {' '.join(requirements)}", flush=True)
    try:
        res = subprocess.run(cmd + ["--dest", str(tmp), *requirements], capture_output=True, text=True,
                             timeout=1800)
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise TaskError(f"task {task}: pip download of {requirements} took over 30 min; check the host's access "
                        "to PyPI") from exc
    if res.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        missing = re.findall(r"No matching distribution found for (\S+)", res.stderr)
        what = ", ".join(missing) if missing else " ".join(requirements)
        raise TaskError(f"task {task}: cannot resolve Python requirement(s) {what} for CPython {python} on "
                        f"manylinux x86_64 (binary wheels from PyPI). pip said: {_last_lines(res.stderr)}\n"
                        f"Fix: pin a version that publishes a wheel for cp{python.replace('.', '')}, or remove it "
                        "from the task's install steps")
    (tmp / ".complete").write_text(json.dumps({"requirements": requirements, "python": python}))
    _swap_in(tmp, dest)
    return dest


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _swap_in(tmp: Path, dest: Path) -> None:
    try:
        tmp.rename(dest)
    except OSError:  # another build finished it first
        shutil.rmtree(tmp, ignore_errors=True)


def _last_lines(text: str, n: int = 4) -> str:
    return " | ".join(ln.strip() for ln in text.strip().splitlines()[-n:])


def _apt_options(suite: str, status: Path, archives: Path) -> list[str]:
    base = _ensure(cache_root() / "apt" / suite)
    lists = _ensure(base / "lists" / "partial").parent
    empty = _ensure(base / "empty")
    sources = base / "sources.list"
    if not sources.is_file() or sources.read_text() != f"deb {MIRROR} {suite} main\n":
        tmp = base / f"sources.list.{os.getpid()}"
        tmp.write_text(f"deb {MIRROR} {suite} main\n")
        tmp.replace(sources)   # atomic: a concurrent reader never sees it empty
    _ensure(archives / "partial")
    _ensure(base / "cache")
    opts = {"Dir::Etc::SourceList": sources, "Dir::Etc::SourceParts": empty, "Dir::Etc::Preferences": "/dev/null",
            "Dir::Etc::PreferencesParts": empty, "Dir::State::Lists": lists, "Dir::State::status": status,
            "Dir::State::extended_states": base / "extended_states", "Dir::Cache": base / "cache",
            "Dir::Cache::archives": archives, "APT::Architecture": "amd64", "APT::Architectures": "amd64",
            "Debug::NoLocking": "true", "APT::Sandbox::User": "root"}
    return [f"-o{k}={v}" for k, v in opts.items()]


def _apt(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    try:
        return subprocess.run(["apt-get", "-q", *args], capture_output=True, text=True, env=env, timeout=1800)
    except subprocess.TimeoutExpired as exc:
        raise TaskError(f"apt-get {args[-1]} took over 30 min; check the host's access to {MIRROR}") from exc


def resolve_debs(packages: list[str], suite: str, dpkg_status: str, task: str) -> Path:
    """Download the .debs `packages` need on top of an image whose dpkg status is `dpkg_status`, into a flat
    repository directory (with its Packages index); returns the directory."""
    dest = cache_root() / "apt" / suite / "repos" / _key(sorted(packages), suite, dpkg_status, "recommends")
    if (dest / ".complete").is_file():
        return dest
    # one resolver per suite at a time (the apt lists are shared; apt's own locking is off for the private dirs)
    with open(_ensure(cache_root() / "apt") / f"{suite}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (dest / ".complete").is_file():
            return dest
        return _resolve_debs_locked(packages, suite, dpkg_status, task, dest)


def _resolve_debs_locked(packages: list[str], suite: str, dpkg_status: str, task: str, dest: Path) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="repo-", dir=_ensure(dest.parent)))
    if packages:
        if shutil.which("apt-get") is None:
            raise TaskError(f"task {task}: installs Debian packages {packages} but this host has no apt-get to "
                            "resolve them. Fix: build the task image on a Debian/Ubuntu host")
        status = tmp / "status"
        status.write_text(dpkg_status)
        opts = _apt_options(suite, status, tmp)
        stamp = cache_root() / "apt" / suite / "lists.updated"   # apt dates list files by the server's clock
        if not stamp.is_file() or time.time() - stamp.stat().st_mtime > LISTS_MAX_AGE_S:
            print(f"[mirror] {task}: apt-get update ({suite})", flush=True)
            upd = _apt([*opts, "update"])
            if upd.returncode != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                raise TaskError(f"task {task}: could not read the Debian {suite} index from {MIRROR}: "
                                f"{_last_lines(upd.stderr or upd.stdout)}. Fix: check the host can reach the mirror "
                                "(MISPO_DEBIAN_MIRROR)")
            stamp.touch()
        print(f"[mirror] {task}: downloading Debian packages ({suite}): {' '.join(packages)}", flush=True)
        res = _apt([*opts, "install", "--download-only", "-y", *packages])
        if res.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            missing = re.findall(r"Unable to locate package (\S+)", res.stderr)
            missing += re.findall(r"Package '?(\S+?)'? has no installation candidate", res.stderr)
            what = ", ".join(dict.fromkeys(missing)) if missing else " ".join(packages)
            raise TaskError(f"task {task}: cannot resolve Debian package(s) {what} in {suite}. apt said: "
                            f"{_last_lines(res.stderr or res.stdout)}\nFix: use the package's Debian {suite} name, "
                            "or remove it from the task's install steps")
        status.unlink()
        shutil.rmtree(tmp / "partial", ignore_errors=True)
        for lock in tmp.glob("lock"):
            lock.unlink()
    write_packages_index(tmp)
    (tmp / ".complete").write_text(json.dumps({"packages": packages, "suite": suite}))
    _swap_in(tmp, dest)
    return dest


def write_packages_index(repo: Path) -> None:
    """The `Packages` file of a flat apt repository: each .deb's control fields plus Filename, Size, SHA256."""
    stanzas = []
    for deb in sorted(repo.glob("*.deb")):
        control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
        data = deb.read_bytes()
        stanzas.append(control.rstrip("\n") + f"\nFilename: ./{deb.name}\nSize: {len(data)}\n"
                       f"SHA256: {hashlib.sha256(data).hexdigest()}\n")
    (repo / "Packages").write_text("\n".join(stanzas))
