"""Keystrokes into a terminal (tmux) inside a sandbox: how Terminal-Bench's solution.yaml entries run.

`send` types a command; with `block` it waits until the command finished (the shell signals a tmux channel after
it), otherwise it waits `min_timeout_s` and returns while the command may still run, so the next entry is read by
whatever is in the foreground (a REPL, an editor, or the shell once the command ends).
"""
from __future__ import annotations

import secrets
import time

from sandboxes.container import Sandbox

SESSION = "mispo-keys"


class KeystrokeTerminal:
    def __init__(self, sb: Sandbox, user: str, workdir: str, home: str, width: int = 200, height: int = 50) -> None:
        self.sb, self.user, self.workdir, self.home = sb, user, workdir, home
        res = self._tmux(["new-session", "-d", "-s", SESSION, "-x", str(width), "-y", str(height), "-c", workdir],
                         timeout=30)
        if res.exit_code != 0:
            raise RuntimeError(f"could not start tmux in the sandbox: {(res.stdout + res.stderr).decode()[-300:]}. "
                               "Fix: the task image needs tmux (our terminal images have it)")

    def _tmux(self, args: list[str], timeout: float):
        return self.sb.exec(["tmux", *args], user=self.user, workdir=self.workdir, timeout=timeout,
                            environment={"HOME": self.home, "TERM": "xterm-256color"})

    def send(self, command: str, block: bool, min_timeout_s: float = 0.0, max_timeout_s: float = 180.0,
             append_enter: bool = True) -> bool:
        """Type `command`; returns False when a blocking command did not finish within max_timeout_s."""
        start = time.monotonic()
        command = command.rstrip("\n")   # a YAML block scalar ends in a newline; Terminal-Bench strips it too
        if block and append_enter:
            channel = f"done-{secrets.token_hex(4)}"
            self._tmux(["send-keys", "-t", SESSION, "-l", f"{command}; tmux wait -S {channel}"], timeout=30)
            self._tmux(["send-keys", "-t", SESSION, "Enter"], timeout=30)
            res = self.sb.exec(["timeout", str(max(max_timeout_s, 1.0)), "tmux", "wait", channel], user=self.user,
                               timeout=max_timeout_s + 30, environment={"HOME": self.home})
            return res.exit_code == 0
        self._tmux(["send-keys", "-t", SESSION, "-l", command], timeout=30)
        if append_enter:
            self._tmux(["send-keys", "-t", SESSION, "Enter"], timeout=30)
        left = min_timeout_s - (time.monotonic() - start)
        if left > 0:
            time.sleep(left)
        return True

    def screen(self) -> str:
        res = self._tmux(["capture-pane", "-p", "-t", SESSION], timeout=30)
        return res.stdout.decode(errors="replace")
