"""Where a job's model comes from. `model.path` is a local HF directory, a hub id (where a hub is reachable), or
the name of one of the project's own tiny models (`mispo-tiny`, `mispo-tiny-agent`), which are built
deterministically into $MISPO_CACHE the first time they are named (rl/tiny_model/)."""
from __future__ import annotations

BUILTIN_MODELS = ("mispo-tiny", "mispo-tiny-agent")


def resolve_model_path(path: str) -> str:
    """A directory or hub id that `from_pretrained` accepts: built-in names map to their cache directory (built
    when missing); anything else is returned unchanged."""
    if path not in BUILTIN_MODELS:
        return path
    from rl.tiny_model.build import ensure_built

    return ensure_built(path)
