"""Domain experts: reuse a checkpoint, or build it with the SFT trainer (then optional domain RL with rl.train).

A built expert is reused while the resolved SFT config saved inside its final checkpoint (sft_config.yaml, written
after training finished) equals the current one (its `logging` section aside); a changed config or a missing
checkpoint rebuilds it. (Changed data files under an unchanged config are not detected: delete the checkpoint.)
"""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from config.distill import ExpertConfig
from config.errors import ConfigError
from config.load import load_config, to_yaml
from config.sft import SFTConfig, validate_sft_config

log = logging.getLogger(__name__)


def _is_checkpoint(path: Path) -> bool:
    return (path / "config.json").is_file()


def _recipe(yaml_text: str) -> str:
    """What determines the weights: the resolved config without its `logging:` section."""
    return yaml_text.split("\nlogging:", 1)[0]


def _rl_stage(name: str, cfg: ExpertConfig, sft_ckpt: Path, run_dir: Path) -> Path:
    """Domain RL from the SFT checkpoint in a child process (rl.train starts its own Ray cluster)."""
    rl_dir = run_dir.parent / f"{run_dir.name}_rl"
    ckpt = rl_dir / "checkpoints" / "final"
    stamp = rl_dir / "built_from.txt"
    built = max(p.stat().st_mtime_ns for p in sft_ckpt.iterdir())  # a rebuilt SFT expert invalidates the RL one
    wanted = f"{cfg.rl_config} {cfg.rl_overrides} {sft_ckpt} {built}"
    if _is_checkpoint(ckpt) and stamp.is_file() and stamp.read_text() == wanted:
        log.info("expert %s: reusing RL checkpoint %s", name, ckpt)
        return ckpt
    cmd = [sys.executable, "-m", "rl.train", "--config", str(cfg.rl_config), *cfg.rl_overrides,
           f"model.path={sft_ckpt}", f"trainer.run_dir={rl_dir}", f"trainer.run_name={run_dir.name}_rl"]
    log.info("expert %s: domain RL: %s", name, " ".join(cmd))
    if subprocess.run(cmd).returncode != 0:
        raise RuntimeError(f"experts.{name}.rl_config: `{' '.join(cmd)}` failed (see its output above)")
    stamp.write_text(wanted)
    return ckpt


def ensure_expert(name: str, cfg: ExpertConfig) -> Path:
    """The expert's HF checkpoint directory, building it when needed."""
    if cfg.checkpoint:
        path = Path(cfg.checkpoint)
        if not _is_checkpoint(path):
            raise ConfigError(f"experts.{name}.checkpoint: {path} is not an HF checkpoint (no config.json); "
                              f"fix the path or remove it to build the expert from experts.{name}.sft_config")
        return path
    from sft.trainer import final_checkpoint, run_dir_of, train_sft

    sft_cfg = load_config(SFTConfig, str(cfg.sft_config), list(cfg.sft_overrides), validate_sft_config)
    ckpt = final_checkpoint(sft_cfg)
    saved = ckpt / "sft_config.yaml"
    if _is_checkpoint(ckpt) and saved.is_file() and _recipe(saved.read_text()) == _recipe(to_yaml(sft_cfg)):
        log.info("expert %s: reusing %s", name, ckpt)
    else:
        log.info("expert %s: building with sft.train --config %s", name, cfg.sft_config)
        ckpt = train_sft(sft_cfg)
    if cfg.rl_config:
        ckpt = _rl_stage(name, cfg, ckpt, run_dir_of(sft_cfg))
    return ckpt
