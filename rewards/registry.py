"""Verifier registry: built-in names, the `mispo.verifiers` entry-point group, and `pkg.module:Class` paths."""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from rewards.base import Verifier

ENTRY_POINT_GROUP = "mispo.verifiers"
BUILTINS: dict[str, str] = {
    "math": "rewards.math_verifier:MathVerifier",
    "code": "rewards.code_verifier:CodeVerifier",
    "env": "rewards.env_verifier:EnvResultVerifier",
    "preference": "rewards.preference_verifier:PreferenceVerifier",
}


def _load_dotted(path: str) -> type:
    module_name, _, attr = path.partition(":")
    if not attr:
        raise ValueError(f"verifier path {path!r}: expected 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"verifier {path!r}: cannot import module {module_name!r} ({exc}); is it installed?") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"verifier {path!r}: module {module_name!r} has no attribute {attr!r}") from None


def known_verifiers() -> dict[str, str]:
    """name -> 'module:Class' for built-ins and installed plugins."""
    names = dict(BUILTINS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        names.setdefault(ep.name, ep.value)
    return names


def verifier_class(name: str) -> type[Verifier]:
    """Resolve a registered name or a dotted path to a Verifier subclass, with an error listing the known names."""
    known = known_verifiers()
    target = known.get(name) or (name if ":" in name else None)
    if target is None:
        raise ValueError(f"unknown verifier {name!r}; known verifiers: {sorted(known)} (or use 'pkg.module:Class')")
    cls = _load_dotted(target)
    if not (isinstance(cls, type) and issubclass(cls, Verifier)):
        raise ValueError(f"verifier {name!r} -> {target}: not a subclass of rewards.base.Verifier")
    return cls


def setup_verifier(name: str, options: dict[str, Any] | None = None) -> Verifier:
    """Instantiate a verifier with its config options (errors name the verifier and the bad option)."""
    cls = verifier_class(name)
    try:
        return cls(**(options or {}))
    except TypeError as exc:
        raise ValueError(f"verifier {name!r}: bad options {sorted((options or {}).keys())}: {exc}") from exc


class PreflightError(RuntimeError):
    """A verifier's external needs are not met; the message names the domain and the fix."""


def preflight(domains: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """Run each domain's verifier preflight (e.g. the code verifier brings up its sandbox image)."""
    for domain, (name, options) in domains.items():
        try:
            verifier_class(name).preflight(**(options or {}))
        except Exception as exc:  # noqa: BLE001 - reported as one line with the domain
            raise PreflightError(f"rewards.domains.{domain} (verifier {name}): {exc}") from exc
