"""Resumable run checkpoints on the driver side: the directory layout, atomic commits, retention, finding the
checkpoint to resume from and refusing one written by a different config.

    <run_dir>/checkpoints/step_<N>/
        meta.json          step, policy version, the config that wrote it (for the resume check), sizes
        trainer_state.pt   driver state: sampler position, RNGs, counters, adaptive band, wandb id
        actor/state/       DeepSpeed checkpoint of every actor rank (weights, optimizer, LR scheduler, rank RNG)
        critic/state/      the same for the critic (actor-critic runs)
        hf/                the actor in HF format (AutoModelForCausalLM.from_pretrained)

A checkpoint is written into `checkpoints/.step_<N>.tmp`, flushed (fsync) and renamed: a directory named
`step_<N>` with a meta.json is always complete. A crash or a full disk mid-save leaves the earlier ones intact.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

STEP_DIR = re.compile(r"^step_(\d+)$")
# keys that may differ between the run that wrote a checkpoint and the run that resumes it: how long to run,
# how to save and log, where Ray is. Everything else (model, world size, algorithm, data, ...) must match.
RESUME_FREE_KEYS = ("trainer.total_steps", "trainer.resume", "trainer.resume_allow_changed", "trainer.save_every",
                    "trainer.keep_last", "trainer.run_dir", "trainer.max_fault_frac",
                    "trainer.worker_restart_timeout_s", "trainer.rollout_hang_timeout_s", "trainer.log_samples",
                    "logging", "ray")


def fsync_tree(root: str | Path) -> None:
    """Flush every file under `root` and the directories themselves to stable storage (what a rename then
    publishes is complete even after a power loss)."""
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or resumed; the message says why and what to do."""


@dataclass
class Checkpoint:
    step: int
    path: Path

    def meta(self) -> dict[str, Any]:
        return json.loads((self.path / "meta.json").read_text())


def checkpoint_root(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def complete_checkpoints(run_dir: Path) -> list[Checkpoint]:
    """The run's complete checkpoints, oldest first (a committed step_<N> directory holding meta.json)."""
    root = checkpoint_root(run_dir)
    found = []
    if root.is_dir():
        for d in root.iterdir():
            m = STEP_DIR.match(d.name)
            if m and (d / "meta.json").is_file():
                found.append(Checkpoint(int(m.group(1)), d))
    return sorted(found, key=lambda c: c.step)


def remove_partial(run_dir: Path) -> list[str]:
    """Delete temporary directories left by a save that crashed (a `.old` one whose replacement never landed is put
    back). Returns their names."""
    root = checkpoint_root(run_dir)
    gone = []
    if root.is_dir():
        for d in [*root.glob(".step_*.tmp"), *root.glob(".step_*.old")]:
            final = root / d.name[1:].rsplit(".", 1)[0]
            if d.suffix == ".old" and not final.exists():
                d.rename(final)
                continue
            shutil.rmtree(d, ignore_errors=True)
            gone.append(d.name)
    return gone


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _covered(key: str, prefixes: tuple[str, ...] | list[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def config_differences(saved: dict[str, Any], current: dict[str, Any], allowed: list[str]) -> list[str]:
    """`key: saved -> current` for every differing config key that neither the free list nor `allowed` covers."""
    a, b = flatten(saved), flatten(current)
    diffs = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<unset>") != b.get(key, "<unset>") and not _covered(key, RESUME_FREE_KEYS) \
                and not _covered(key, allowed):
            diffs.append(f"{key}: {a.get(key, '<unset>')!r} -> {b.get(key, '<unset>')!r}")
    return diffs


def find_resume(resume: str, run_dir: Path) -> Checkpoint | None:
    """The checkpoint `trainer.resume` designates: None to start fresh. `never` refuses a run dir that already
    holds checkpoints (starting over there would mix two runs)."""
    found = complete_checkpoints(run_dir)
    if resume == "never":
        if found:
            raise CheckpointError(
                f"{checkpoint_root(run_dir)} already holds checkpoints of an earlier run (newest: {found[-1].path.name})"
                f"; continue it with trainer.resume=auto, or start over with a new trainer.run_name (or delete that "
                "directory)")
        return None
    if resume == "auto":
        return found[-1] if found else None
    path = Path(resume)
    if not (path / "meta.json").is_file():
        raise CheckpointError(f"trainer.resume={resume}: not a complete mispo checkpoint (no meta.json there); pass "
                              "a checkpoints/step_<N> directory, auto or never")
    m = STEP_DIR.match(path.name)
    step = int(m.group(1)) if m else int(json.loads((path / "meta.json").read_text())["step"])
    return Checkpoint(step, path)


def check_compatible(ckpt: Checkpoint, current: dict[str, Any], allowed: list[str]) -> None:
    diffs = config_differences(ckpt.meta()["config"], current, allowed)
    if diffs:
        keys = ",".join(d.split(":")[0] for d in diffs)
        raise CheckpointError(
            f"{ckpt.path} was written by a different config; resuming it would not continue that run:\n  "
            + "\n  ".join(diffs)
            + f"\nIf the change is intended, pass trainer.resume_allow_changed=[{keys}]; to start a new run instead, "
              "use another trainer.run_name (or trainer.resume=never in a fresh run dir)")


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CheckpointWriter:
    """Atomic save + retention. `write(step, fill)`: `fill(tmp_dir)` writes every part (the learners write theirs
    into subdirectories), then meta.json is added, the tree flushed and the directory renamed to step_<N>."""

    def __init__(self, run_dir: Path, keep_last: int) -> None:
        self.run_dir, self.keep_last = run_dir, keep_last
        self.root = checkpoint_root(run_dir)

    def check_space(self, need_bytes: int) -> None:
        """Refuse before writing when the file system cannot hold one more checkpoint."""
        self.root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.root).free
        if need_bytes > free:
            raise CheckpointError(self._space_message("not started", need_bytes, free))

    def _space_message(self, what: str, need: int, free: int) -> str:
        prev = complete_checkpoints(self.run_dir)
        kept = f"the previous checkpoint {prev[-1].path.name} is intact" if prev else "there is no earlier checkpoint"
        return (f"checkpoint {what}: it needs about {need / 2**30:.2f} GiB and {self.root} has {free / 2**30:.2f} GiB "
                f"free; {kept}. Free space (or lower trainer.keep_last, or point trainer.run_dir at a larger disk), "
                "then continue with trainer.resume=auto")

    def stage(self, step: int, meta: dict[str, Any], fill: Callable[[Path], None],
              need_bytes: int = 0) -> tuple[Path, float, int]:
        """Write every part into `.step_<N>.tmp` (`fill(tmp)`; the learners write theirs into subdirectories), add
        meta.json and flush. Returns (tmp, seconds, bytes); `commit(step, tmp)` publishes it. On any failure the
        temporary directory is removed and CheckpointError says what happened; committed checkpoints are untouched.
        """
        t0 = time.perf_counter()
        self.check_space(need_bytes)
        tmp = self.root / f".step_{step}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir(parents=True)
            fill(tmp)
            size = dir_bytes(tmp)
            (tmp / "meta.json").write_text(json.dumps({**meta, "step": step, "bytes": size}, indent=1, default=str))
            fsync_tree(tmp)
        except Exception as exc:  # noqa: BLE001 - any failure: clean up, keep the earlier checkpoints, explain
            written = dir_bytes(tmp) if tmp.exists() else 0
            shutil.rmtree(tmp, ignore_errors=True)
            free = shutil.disk_usage(self.root).free
            if _is_no_space(exc):
                raise CheckpointError(self._space_message(f"step_{step} failed (disk full after {written / 2**20:.1f}"
                                                          " MiB)", max(need_bytes, written), free)) from exc
            raise CheckpointError(f"checkpoint step_{step} failed ({type(exc).__name__}: {str(exc)[:300]}); the "
                                  "earlier checkpoints are intact: continue with trainer.resume=auto") from exc
        return tmp, time.perf_counter() - t0, size

    def commit(self, step: int, tmp: Path) -> Path:
        """Publish a staged checkpoint by renaming it (atomic), then apply retention."""
        final = self.root / f"step_{step}"
        if final.exists():  # a re-save of the same step: swap it whole
            old = self.root / f".step_{step}.old"
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
        _fsync_dir(self.root)
        self.prune()
        return final

    def write(self, step: int, meta: dict[str, Any], fill: Callable[[Path], None], need_bytes: int = 0) -> Path:
        """stage + commit."""
        tmp, _, _ = self.stage(step, meta, fill, need_bytes)
        return self.commit(step, tmp)

    def prune(self) -> list[Path]:
        """Keep the newest `keep_last` complete checkpoints (0 keeps all)."""
        found = complete_checkpoints(self.run_dir)
        old = found[:-self.keep_last] if self.keep_last and len(found) > self.keep_last else []
        for c in old:
            shutil.rmtree(c.path, ignore_errors=True)
        return [c.path for c in old]


def _is_no_space(exc: BaseException) -> bool:
    """ENOSPC anywhere in the cause chain or the text (a learner's error arrives wrapped by Ray)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (28, 122):  # ENOSPC, EDQUOT
            return True
        seen = seen.__cause__ or seen.__context__
    return "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc)


def truncate_jsonl(path: Path, last_step: int) -> int:
    """Drop rows with step > last_step (written after the checkpoint a run resumes from). Returns rows dropped."""
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            row_step = json.loads(line).get("step", 0)
        except json.JSONDecodeError:  # a row cut by the kill
            dropped += 1
            continue
        if row_step <= last_step:
            kept.append(line)
        else:
            dropped += 1
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    tmp.replace(path)
    return dropped
