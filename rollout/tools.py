"""Tool-call parsing for the agent loop, pluggable: `xml` (default; `<bash>...</bash>`-style tags) or any
`pkg.module:Class` implementing ToolParser."""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ToolCall:
    """name: the tool (the tag); body: its argument text (a shell command, a Python program...)."""

    name: str
    body: str


class ToolParser(Protocol):
    def parse(self, text: str) -> ToolCall | None:
        """The tool call in one policy turn, or None when the turn is a final answer."""


class XMLToolParser:
    """The LAST complete `<tag>...</tag>` block of the turn for any of `tags`; whitespace around the body is
    stripped. A turn without one is a final answer."""

    def __init__(self, tags: tuple[str, ...] = ("bash",)) -> None:
        if not tags:
            raise ValueError("rollout.agent.tool_tags: give at least one tag, e.g. [bash]")
        alt = "|".join(re.escape(t) for t in tags)
        self.pattern = re.compile(rf"<({alt})>(.*?)</\1>", re.S)

    def parse(self, text: str) -> ToolCall | None:
        found = self.pattern.findall(text)
        if not found:
            return None
        name, body = found[-1]
        return ToolCall(name, body.strip())


def setup_tool_parser(name: str, tags: tuple[str, ...]) -> ToolParser:
    if name == "xml":
        return XMLToolParser(tags)
    module, _, attr = name.partition(":")
    if not attr:
        raise ValueError(f"rollout.agent.tool_parser: {name!r} is not 'xml' or 'pkg.module:Class'")
    return getattr(importlib.import_module(module), attr)(tags)
