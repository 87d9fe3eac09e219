"""What a task installs, read from its shell text: `pip install` / `uv add` / `uv pip install` requirements and
`apt-get install` packages in Dockerfile RUN steps, test setup scripts and reference solutions.

Terminal-Bench tasks install these from the network (the Dockerfile at build, run-tests.sh before the tests, the
solution during the episode). We run offline, so sandboxes.tasks.mirror resolves them on the host at build time and
serves them from a local mirror inside the task image. Parsing is conservative: only literal package arguments are
taken; local paths, `$VARS` and editable installs are left to the task's own files.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

OPERATORS = {"&&", "||", ";", "|", "&", "(", ")", ";;", "|&", "\n"}
PIP_VALUE_OPTS = {"-r", "--requirement", "-c", "--constraint", "-i", "--index-url", "--extra-index-url", "-f",
                  "--find-links", "-t", "--target", "--prefix", "--root", "--python", "--platform",
                  "--python-version", "--implementation", "--abi", "--src", "--upgrade-strategy", "--progress-bar",
                  "--cache-dir", "-e", "--editable", "--trusted-host", "-C", "--config-settings", "--group",
                  "--optional", "--index", "--default-index", "--extra", "--package", "--only-binary",
                  "--no-binary", "--log", "--timeout", "--retries", "--exists-action", "--report", "-p"}
APT_VALUE_OPTS = {"-o", "--option", "-t", "--target-release", "--default-release", "-c", "--config-file"}
ENV_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass
class Deps:
    """pip: requirement strings; indexes: non-default package indexes named by the text; apt: Debian packages;
    skipped: arguments that were not literal requirements (kept for the validate report)."""

    pip: list[str] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)
    apt: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def merge(self, other: "Deps") -> "Deps":
        return Deps(_uniq(self.pip + other.pip), _uniq(self.indexes + other.indexes), _uniq(self.apt + other.apt),
                    _uniq(self.skipped + other.skipped))


def _uniq(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def dockerfile_run_text(dockerfile: str) -> str:
    """The shell text of every RUN instruction (continuations joined, comment lines inside them dropped as Docker
    drops them; exec form turned into words)."""
    joined = re.sub(r"\\\s*\n", " ", "\n".join(ln for ln in dockerfile.split("\n") if not ln.lstrip().startswith("#")))
    out = []
    for line in joined.splitlines():
        m = re.match(r"^\s*RUN\s+(?:--\S+\s+)*(.*)$", line, re.I)
        if not m:
            continue
        body = m.group(1).strip()
        if body.startswith("["):
            try:
                import json

                body = " ".join(json.loads(body))
            except ValueError:
                pass
        out.append(body)
    return "\n".join(out)


def _commands(text: str) -> list[list[str]]:
    """Simple commands of a shell text (split at operators and newlines; comments dropped)."""
    text = re.sub(r"\\\s*\n", " ", text)
    commands: list[list[str]] = []
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        try:
            tokens = list(lexer)
        except ValueError:  # unbalanced quotes: fall back to plain words
            tokens = line.split()
        skip_next = False
        for tok in tokens:
            if skip_next:           # the target of a redirection
                skip_next = False
                continue
            if ("<" in tok or ">" in tok) and set(tok) <= set("<>&|"):
                if current and current[-1].isdigit():   # `2>&1`: the fd number is no argument
                    current.pop()
                skip_next = True
                continue
            if tok in OPERATORS or set(tok) <= set("&|;()"):
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(tok)
        if current:
            commands.append(current)
    return commands


PREFIXES = {"sudo", "env", "exec", "time", "nohup", "command", "then", "do", "else", "{", "!", "xargs"}


def _strip_prefix(argv: list[str]) -> list[str]:
    while argv and (ENV_ASSIGN.match(argv[0]) or argv[0] in PREFIXES or argv[0] in ("-H", "-E")):
        argv = argv[1:]
    return argv


def _pip_args(argv: list[str]) -> list[str] | None:
    """The arguments after `install`/`add` when argv is a pip or uv install; None otherwise."""
    if not argv:
        return None
    head = Path(argv[0]).name
    if re.fullmatch(r"pip(3(\.\d+)?)?", head) and len(argv) > 1 and argv[1] == "install":
        return argv[2:]
    if re.fullmatch(r"python(3(\.\d+)?)?", head) and argv[1:3] == ["-m", "pip"] and argv[3:4] == ["install"]:
        return argv[4:]
    if head == "uv" and argv[1:2] == ["add"]:
        return argv[2:]
    if head == "uv" and argv[1:3] == ["pip", "install"]:
        return argv[3:]
    return None


def _apt_args(argv: list[str]) -> list[str] | None:
    if argv and Path(argv[0]).name in ("apt-get", "apt", "aptitude") and "install" in argv[1:]:
        i = argv.index("install")
        return argv[1:i] + argv[i + 1:]
    return None


def _is_requirement(arg: str) -> bool:
    if "$" in arg or arg.startswith((".", "/", "~")) or arg.endswith((".whl", ".tar.gz", ".zip")):
        return False
    if "://" in arg or arg.startswith("git+"):
        return False
    return bool(re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?\s*([<>=!~;].*)?$", arg))


def parse_shell(text: str, files: dict[str, bytes] | None = None) -> Deps:
    """Requirements and packages installed by the commands in `text`. `files` (task-relative paths) lets
    `pip install -r requirements.txt` read the file it names."""
    deps = Deps()
    for argv in _commands(text):
        argv = _strip_prefix(argv)
        pip = _pip_args(argv)
        if pip is not None:
            i = 0
            while i < len(pip):
                arg = pip[i]
                if arg in PIP_VALUE_OPTS and i + 1 < len(pip):
                    value = pip[i + 1]
                    if arg in ("-r", "--requirement"):
                        deps = deps.merge(requirements_file(value, files or {}))
                    elif arg in ("-i", "--index-url", "--extra-index-url", "--index", "--default-index"):
                        deps.indexes.append(value)
                    elif arg in ("-e", "--editable"):
                        deps.skipped.append(f"{arg} {value}")
                    i += 2
                    continue
                if arg.startswith("-"):
                    opt, _, value = arg.partition("=")
                    if value and opt in ("--index-url", "--extra-index-url", "--index", "--default-index"):
                        deps.indexes.append(value)
                    elif value and opt == "--requirement":
                        deps = deps.merge(requirements_file(value, files or {}))
                    elif re.fullmatch(r"-[a-zA-Z]*r", arg) and i + 1 < len(pip):   # -qr requirements.txt
                        deps = deps.merge(requirements_file(pip[i + 1], files or {}))
                        i += 2
                        continue
                    i += 1
                    continue
                (deps.pip if _is_requirement(arg) else deps.skipped).append(arg)
                i += 1
            continue
        apt = _apt_args(argv)
        if apt is not None:
            i = 0
            while i < len(apt):
                arg = apt[i]
                if arg in APT_VALUE_OPTS:
                    i += 2
                    continue
                if not arg.startswith("-"):
                    name = re.split(r"[=/]", arg, maxsplit=1)[0]
                    (deps.apt if re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", name) else deps.skipped).append(name)
                i += 1
    return Deps(_uniq(deps.pip), _uniq(deps.indexes), _uniq(deps.apt), _uniq(deps.skipped))


def requirements_file(name: str, files: dict[str, bytes]) -> Deps:
    """Requirements listed in a requirements file of the build context or the tests (found by its relative path,
    else by its file name: `-r /app/requirements.txt` after `COPY requirements.txt .`); missing files are
    reported, not fatal (the Dockerfile may create them). Each line is read as pip reads it: options
    (`-r`, `--index-url`, `--hash=...`) apart from the requirement."""
    key = re.sub(r"^(\./|\$TEST_DIR/|/tests/)", "", name)
    data = files.get(key)
    if data is None:
        by_name = [v for k, v in files.items() if k.rsplit("/", 1)[-1] == name.rsplit("/", 1)[-1]]
        data = by_name[0] if len(by_name) == 1 else None
    if data is None:
        return Deps(skipped=[f"-r {name}"])
    text = re.sub(r"\\\s*\n", " ", data.decode(errors="replace"))
    deps = Deps()
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            deps = deps.merge(parse_shell("pip install " + line, files))
    return deps


def solution_text(solution: list) -> str:
    """The shell text of a task's reference solution steps (commands of solution.sh or solution.yaml)."""
    return "\n".join(getattr(s, "command", str(s)) for s in solution)
