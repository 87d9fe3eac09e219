"""The one exception every config problem raises: a one-line message naming the key and the fix."""
from __future__ import annotations


class ConfigError(ValueError):
    """A user-facing configuration error: the message is one line naming the key and the fix."""
