"""Load a YAML config onto a typed schema, apply `dotted.key=value` overrides, and validate.

Errors are one line each, name the key path, and say how to fix it. Nothing here imports torch.
Shared by rl.train, sft.train, distill.merge and rl.evaluate (each passes its own schema dataclass).
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from config.errors import ConfigError

T = TypeVar("T")

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"


def resolve_config_path(name: str, configs_dir: Path = CONFIGS_DIR) -> Path:
    """`name` is a path to a YAML file, or a file name (with or without .yaml) looked up in configs/."""
    candidates = [Path(name)]
    if not Path(name).is_absolute():
        candidates += [configs_dir / name, configs_dir / f"{name}.yaml"]
    for path in candidates:
        if path.is_file():
            return path
    known = sorted(p.name for p in configs_dir.glob("*.yaml")) if configs_dir.is_dir() else []
    raise ConfigError(f"--config {name!r}: no such file (looked in . and {configs_dir}); known configs: {known}")


def _section_keys(schema: Any, dotted: str) -> list[str]:
    """Field names of the dataclass section that `dotted` (a key path) points into."""
    node: Any = schema
    for part in dotted.split(".")[:-1]:
        fields = {f.name: f for f in dataclasses.fields(node)} if dataclasses.is_dataclass(node) else {}
        if part not in fields:
            return []
        value = getattr(node() if isinstance(node, type) else node, part)
        node = value if dataclasses.is_dataclass(value) else None
        if node is None:
            return []
    return [f.name for f in dataclasses.fields(node)] if dataclasses.is_dataclass(node) else []


def _explain(exc: OmegaConfBaseException, schema: type, source: str) -> ConfigError:
    key = getattr(exc, "full_key", None) or "<root>"
    if isinstance(exc, (ConfigKeyError, ConfigAttributeError)):
        allowed = _section_keys(schema, key)
        return ConfigError(
            f"{key}: unknown key (from {source}); allowed keys here: {allowed}. Fix the spelling or remove it."
        )
    if isinstance(exc, MissingMandatoryValue):
        return ConfigError(f"{key}: required but not set; set it in the YAML or pass {key}=VALUE")
    if isinstance(exc, ValidationError):
        first = str(exc).splitlines()[0]
        return ConfigError(f"{key}: {first} (from {source}); fix the value's type")
    return ConfigError(f"{key}: {str(exc).splitlines()[0]} (from {source})")


def _parse_override(item: str) -> tuple[str, Any]:
    if "=" not in item or item.startswith("="):
        raise ConfigError(f"override {item!r}: expected dotted.key=value, for example trainer.total_steps=10")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw  # not YAML: keep the literal string; the schema's type check decides
    return key.strip(), value


def load_config(
    schema: type[T],
    config: str,
    overrides: list[str] | None = None,
    validate: Callable[[T], list[str]] | None = None,
    configs_dir: Path = CONFIGS_DIR,
) -> T:
    """Build a typed config object: schema defaults <- YAML file <- overrides, then `validate`.

    Raises ConfigError with a one-line message for a missing file, unknown keys, wrong types, missing required
    values, or values `validate` rejects.
    """
    path = resolve_config_path(config, configs_dir)
    base = OmegaConf.structured(schema)
    try:
        loaded = OmegaConf.load(path)
    except Exception as exc:  # yaml syntax errors
        detail = " ".join(str(exc).split())[:300]
        raise ConfigError(f"{path}: not valid YAML ({detail}); fix the file") from exc
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"{path}: the top level must be a mapping of sections (model:, data:, ...)")
    try:
        merged = OmegaConf.merge(base, loaded)
    except OmegaConfBaseException as exc:
        raise _explain(exc, schema, str(path)) from None
    for item in overrides or []:
        key, value = _parse_override(item)
        try:
            OmegaConf.update(merged, key, value, merge=True, force_add=False)
        except OmegaConfBaseException as exc:
            if not getattr(exc, "full_key", None):
                exc.full_key = key  # type: ignore[attr-defined]
            raise _explain(exc, schema, f"override {item!r}") from None
    try:
        obj = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise _explain(exc, schema, str(path)) from None
    if validate is not None:
        errors = validate(obj)  # type: ignore[arg-type]
        if errors:
            raise ConfigError(errors[0] if len(errors) == 1 else "; ".join(errors))
    return obj  # type: ignore[return-value]


def to_yaml(cfg: Any) -> str:
    """The resolved config as YAML (what is saved to the run directory)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def parse_cli(prog: str, description: str | None, example: str, argv: list[str] | None = None) -> argparse.Namespace:
    """The arguments every entry point takes: --config NAME, --dry-run, dotted.key=value overrides."""
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="YAML path or a file name under configs/")
    p.add_argument("--dry-run", action="store_true", help="validate, print the resolved config (and plan), exit")
    p.add_argument("overrides", nargs="*", help=f"dotted.key=value overrides, e.g. {example}")
    return p.parse_args(argv)


def load_cli_config(schema: type[T], args: argparse.Namespace, validate: Callable[[T], list[str]] | None,
                    level_of: Callable[[T], str]) -> T | None:
    """Load + validate the entry point's config, print it, set up logging. On a config error, print the one-line
    message to stderr and return None (the caller exits with 2)."""
    import logging
    import sys

    try:
        cfg = load_config(schema, args.config, args.overrides, validate)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return None
    logging.basicConfig(level=level_of(cfg), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(to_yaml(cfg))
    return cfg
