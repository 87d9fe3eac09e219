"""Metrics sinks: metrics.jsonl in the run directory (always) and wandb (offline by default).
Every metric name is `area/name` and documented in docs/metrics.md."""
from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from config.common import WandbConfig

log = logging.getLogger(__name__)


class MetricsLogger:
    """`run_id`: the wandb run to continue (a resumed run logs under the id its checkpoint recorded)."""

    def __init__(self, run_dir: Path, wandb_cfg: WandbConfig, run_name: str, config: dict[str, Any],
                 run_id: str | None = None) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.file = self.path.open("a")
        self.wandb = None
        if wandb_cfg.mode != "disabled":
            import wandb

            os.environ.setdefault("WANDB_SILENT", "true")
            self.wandb = wandb.init(project=wandb_cfg.project, entity=wandb_cfg.entity, name=run_name,
                                    mode=wandb_cfg.mode, dir=str(run_dir), config=config, reinit="finish_previous",
                                    id=run_id, resume="allow" if run_id else None)

    @property
    def run_id(self) -> str | None:
        return self.wandb.id if self.wandb is not None else None

    def log(self, step: int, metrics: dict[str, float]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}
        self.file.write(json.dumps({"step": step, **clean}) + "\n")
        self.file.flush()
        if self.wandb is not None:
            self.wandb.log({k: v for k, v in metrics.items()}, step=step)

    def close(self) -> None:
        self.file.close()
        if self.wandb is not None:
            self.wandb.finish()
