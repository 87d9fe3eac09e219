"""A persistent bash session inside a sandbox: state (cwd, variables, functions) carries across commands, each
command's output and exit code come back, a command past its deadline is killed and the shell restarted."""
from __future__ import annotations

import base64
import re
import secrets
import time
from dataclasses import dataclass

from sandboxes.container import FrameReader, Sandbox
from sandboxes.limits import SANDBOX_UID

BASH = ["/bin/bash", "--noprofile", "--norc"]


@dataclass
class CommandResult:
    """output: stdout+stderr (the middle elided past the byte budget); exit_code None after a timeout."""

    output: str
    exit_code: int | None
    timed_out: bool = False
    truncated: bool = False
    seconds: float = 0.0


def _clip(data: bytes, budget: int) -> tuple[str, bool]:
    """Keep the head and the tail (errors are usually at the end)."""
    if len(data) <= budget:
        return data.decode(errors="replace"), False
    half = budget // 2
    skipped = len(data) - 2 * half
    return (data[:half].decode(errors="replace") + f"\n[... {skipped} bytes truncated ...]\n"
            + data[-half:].decode(errors="replace")), True


class Shell:
    """Runs commands as `user` (the sandbox user by default) in `workdir`. Commands run through `eval` with stdin
    from /dev/null, so a command that reads stdin cannot swallow the protocol."""

    def __init__(self, sb: Sandbox, workdir: str = "/app", output_bytes: int = 16384, user: str = str(SANDBOX_UID),
                 home: str | None = None, own_session: bool = False) -> None:
        """own_session: the shell runs in a session of its own, and a restart kills only that session's process
        group (a root agent's daemons, e.g. a server it started with `service`, survive it); otherwise a restart
        kills every process of `user`."""
        self.sb, self.workdir, self.output_bytes, self.user = sb, workdir, output_bytes, user
        self.home, self.own_session, self.pid = home or workdir, own_session, None
        self._open()

    def _open(self) -> None:
        cmd = ["setsid", "-w", *BASH] if self.own_session else BASH
        _, self.raw = self.sb.open_exec(cmd, user=self.user, workdir=self.workdir,
                                        environment={"TERM": "dumb", "HOME": self.home, "PS1": "", "PS2": ""})
        # head and tail of the output are kept (the marker is at the very end); _clip trims to the budget
        self.reader = FrameReader(self.raw, self.output_bytes, keep_tail=True)
        if self.own_session:   # the session leader's pid = its process group (read directly: no restart loop)
            self.raw.sendall(b"printf '__MISPO_PID_%s__\\n' \"$$\"\n")
            self.reader.pump(time.monotonic() + 30, until=lambda out: re.search(rb"__MISPO_PID_\d+__", out) is not None)
            out, _ = self.reader.take()
            found = re.search(rb"__MISPO_PID_(\d+)__", out)
            self.pid = int(found.group(1)) if found else None

    def run(self, command: str, timeout: float) -> CommandResult:
        start = time.monotonic()
        marker = f"__MISPO_DONE_{secrets.token_hex(8)}__"
        encoded = base64.b64encode(command.encode()).decode()
        script = (f'eval "$(printf %s {encoded} | base64 -d)" </dev/null 2>&1; '
                  f"printf '\\n{marker}%s\\n' \"$?\"\n")
        self.raw.sendall(script.encode())
        tag = marker.encode()
        finished = self.reader.pump(start + timeout, until=lambda out: _has_code(out, tag))
        out, _ = self.reader.take()
        truncated_stream = self.reader.truncated
        self.reader.truncated = False
        if not finished or self.reader.eof and tag not in out:
            self.restart()
            text, clipped = _clip(out, self.output_bytes)
            note = (f"[command timed out after {timeout:.0f} s; the shell was restarted in {self.workdir}]"
                    if not finished else "[the shell exited; a new one was started]")
            return CommandResult(f"{text}\n{note}", None, not finished, clipped or truncated_stream,
                                 time.monotonic() - start)
        body, _, rest = out.partition(b"\n" + tag)
        code = int(rest.split(b"\n", 1)[0] or b"0")
        text, clipped = _clip(body, self.output_bytes)
        return CommandResult(text, code, False, clipped or truncated_stream, time.monotonic() - start)

    def restart(self) -> None:
        """Kill every process of the shell's user (the shell included) and open a fresh shell."""
        try:
            self.raw.close()
        except OSError:
            pass
        target = f"-{self.pid}" if self.own_session and self.pid else "-1"
        self.sb.exec(["/bin/kill", "-9", "--", target], user=self.user, timeout=10)
        self._open()

    def close(self) -> None:
        try:
            self.raw.close()
        except OSError:
            pass


def _has_code(out: bytearray, tag: bytes) -> bool:
    """The marker line is complete: marker, exit code digits, newline."""
    idx = out.find(tag)
    return idx >= 0 and out.find(b"\n", idx + len(tag)) >= 0
