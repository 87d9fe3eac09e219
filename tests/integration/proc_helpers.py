"""Process inspection shared by the tests that kill drivers and Ray nodes (imported as a sibling module)."""
from __future__ import annotations

import os
from pathlib import Path


def session_procs(sid: int) -> dict[int, str]:
    """Live (non-zombie) processes of Unix session `sid`: pid -> command line head."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            out[int(entry)] = cmd[:60].strip()
    return out
