"""Task images: a task's Dockerfile built offline on top of our local images.

- `FROM` lines are mapped through an image map (fnmatch pattern -> sandboxes.images name; the user's entries are
  tried first). Terminal-Bench base images and `python:X.Y` map to the image with that Python where Debian has
  it (3.13: trixie; 3.11: bookworm); other versions get the nearest one, said at build time.
- Each mapped stage gets the conventions of what it replaces (docs/tasks.md): the offline package mirror
  (apt and pip work, from packages resolved on the host), WORKDIR /app for Terminal-Bench base images, and for
  `python` images `python`/`pip` on PATH with system-wide pip installs allowed.
- Terminal-Bench tasks: the test requirements of run-tests.sh and tests/*.sh (`uv add ...`, `pip install ...`,
  pytest pinned as Terminal-Bench pins it when absent) are installed into /opt/mispo-judge/site, which only the
  test run puts on sys.path (Terminal-Bench installs them in a uv environment after the agent is done).
- Our format: the app dir the Dockerfile prepares is kept in /opt/mispo-seed, seeded into the tmpfs /app of a
  read-only-root container.
"""
from __future__ import annotations

import fnmatch
import hashlib
import io
import re
import shlex
import subprocess
import tarfile
from dataclasses import dataclass

from sandboxes.docker_client import docker_client
from sandboxes.images import ImageSpec, ensure_image, image_spec
from sandboxes.tasks import deps as deps_mod
from sandboxes.tasks import mirror
from sandboxes.tasks.spec import TaskError, TaskSpec, build_context_files

DEFAULT_IMAGE_MAP: dict[str, str] = {
    "ghcr.io/laude-institute/t-bench/python-3-13*": "terminal-py313",
    "ghcr.io/laude-institute/t-bench/*": "terminal",
    "python:3.13*": "terminal-py313",
    "python:3.14*": "terminal-py313",
    "python:*": "terminal",
    "debian:trixie*": "terminal-py313",
    "debian:*": "terminal",
    "ubuntu:*": "terminal",
    "mispo/terminal*": "terminal",
    "terminal": "terminal",
}
TB_BASE = "ghcr.io/laude-institute/t-bench/*"
PYTHON_FLAVOUR = ("python:*", "ghcr.io/laude-institute/t-bench/python-*")
MIRROR_LAYOUT = 2            # bump when what goes into a task image changes (its tag changes with it)
TB_PYTEST = "pytest==8.4.1"   # what Terminal-Bench's setup-uv-pytest.sh pins
SEED_DIR = "/opt/mispo-seed"
MIRROR_DIR = "/opt/mispo-mirror"
JUDGE_SITE = "/opt/mispo-judge/site"
FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(.*)$", re.I | re.M)


@dataclass(frozen=True)
class MappedBase:
    source: str          # the FROM image as written
    name: str            # sandboxes.images name
    spec: ImageSpec


def map_from(image: str, image_map: dict[str, str]) -> MappedBase:
    """First pattern that matches wins; a pattern that matches nothing in either map is an error naming the fix."""
    image = image.split("#", 1)[0].strip()
    for pattern, name in image_map.items():
        if fnmatch.fnmatch(image, pattern):
            return MappedBase(image, name, image_spec(name))
    raise TaskError(f"Dockerfile FROM {image}: no local image mapped. Fix: add a pattern to the image map "
                    f"(--image-map '{image.split(':')[0]}*=terminal'); known patterns: {sorted(image_map)}")


def stages(dockerfile: str, image_map: dict[str, str]) -> list[MappedBase]:
    """The mapped base of every FROM (stages named earlier in the file are not images)."""
    names: set[str] = set()
    out = []
    for m in FROM.finditer(dockerfile):
        src = m.group(1).split("#", 1)[0]
        alias = re.search(r"\bAS\s+(\S+)", m.group(2), re.I)
        if src not in names:
            out.append(map_from(src, image_map))
        if alias:
            names.add(alias.group(1))
    if not out:
        raise TaskError("the task's Dockerfile has no FROM line")
    return out


def requested_python(image: str) -> str | None:
    m = re.match(r"^python:(\d+\.\d+)", image)
    if m:
        return m.group(1)
    m = re.search(r"/python-(\d+)-(\d+)", image)
    return f"{m.group(1)}.{m.group(2)}" if m else None


@dataclass
class TaskDeps:
    """What a task installs, by when: build (Dockerfile RUN), tests (run-tests.sh, tests/*.sh), solution; and
    whether its build or solution uses uv (installed from PyPI into the image, as astral's installer would)."""

    build: deps_mod.Deps
    tests: deps_mod.Deps
    solution: deps_mod.Deps
    uv: bool = False


UV_VERSION = "0.7.13"   # the version Terminal-Bench's scripts install
USES_UV = re.compile(r"\buvx?\s+(add|pip|run|init|sync|venv|lock|tool|python)\b|astral\.sh/uv")


def task_deps(task: TaskSpec) -> TaskDeps:
    files = build_context_files(task)
    plain, _, scripts = expand_heredocs(task.dockerfile or "")
    build_text = deps_mod.dockerfile_run_text(plain) + "\n" + "\n".join(scripts)
    build = deps_mod.parse_shell(build_text, files)
    test_text = "\n".join(data.decode(errors="replace") for name, data in sorted(task.tests.items())
                          if name.endswith(".sh"))
    run_tests = task.path / "run-tests.sh"
    if run_tests.is_file():
        test_text = run_tests.read_text(errors="replace") + "\n" + test_text
    tests = deps_mod.parse_shell(test_text, {**files, **task.tests})
    if task.format == "terminal-bench" and not any(re.match(r"^pytest\b", r) and not r.startswith("pytest-")
                                                   for r in tests.pip):
        tests.pip.insert(0, TB_PYTEST)
    solution_text = deps_mod.solution_text(task.solution)
    solution = deps_mod.parse_shell(solution_text, files)
    uv = bool(USES_UV.search(build_text + "\n" + solution_text))
    return TaskDeps(build, tests, solution, uv)


def _dpkg_status(tag: str) -> str:
    res = subprocess.run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "/bin/cat", tag,
                          "/var/lib/dpkg/status"], capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise TaskError(f"could not read the dpkg status of {tag}: {res.stderr[-300:]}")
    return res.stdout


def _unreachable_indexes(found: TaskDeps) -> list[str]:
    return [ix for d in (found.build, found.tests, found.solution) for ix in d.indexes
            if "pypi.org" not in ix and "pythonhosted.org" not in ix]


def build_mirror(task: TaskSpec, base: MappedBase, found: TaskDeps) -> dict[str, bytes]:
    """Resolve the task's packages on the host; returns the build-context files of /opt/mispo-mirror."""
    odd = _unreachable_indexes(found)
    if odd:
        print(f"[tasks] {task.name}: package index {odd} is not reachable offline; its requirements are resolved "
              "from PyPI instead", flush=True)
    spec = base.spec
    files: dict[str, bytes] = {}
    groups = [sorted(g.pip) for g in (found.build, found.tests, found.solution)]
    if found.uv:
        groups.append([f"uv=={UV_VERSION}"])
    for group in groups:
        wheels = mirror.resolve_wheels(group, spec.python, spec.suite, task.name)
        for whl in sorted(wheels.glob("*.whl")):
            files[f".mispo-mirror/wheels/{whl.name}"] = whl.read_bytes()
    apt = sorted({*found.build.apt, *found.tests.apt, *found.solution.apt})
    repo = mirror.resolve_debs(apt, spec.suite, _dpkg_status(ensure_image(base.name)), task.name)
    for deb in sorted(repo.glob("*.deb")):
        files[f".mispo-mirror/apt/{deb.name}"] = deb.read_bytes()
    files[".mispo-mirror/apt/Packages"] = (repo / "Packages").read_bytes()
    return files


UV_ENV = """#!/bin/sh
# what astral's uv installer leaves in ~/.local/bin/env: put ~/.local/bin on PATH
case ":${PATH}:" in *:"$HOME/.local/bin":*) ;; *) export PATH="$HOME/.local/bin:$PATH" ;; esac
"""


def setup_script(base: MappedBase, judge_requirements: list[str], uv: bool = False) -> str:
    """Shell run as root right after each mapped FROM: the base image's conventions and the offline mirror."""
    lines = ["set -e",
             "rm -rf /etc/apt/sources.list /etc/apt/sources.list.d && mkdir -p /etc/apt/sources.list.d",
             f"echo 'deb [trusted=yes] file:{MIRROR_DIR}/apt ./' > /etc/apt/sources.list.d/mispo-mirror.list",
             "printf 'Acquire::Languages \"none\";\\n' > /etc/apt/apt.conf.d/90mispo-mirror",
             f"printf '[global]\\nno-index = true\\nfind-links = {MIRROR_DIR}/wheels\\n"
             "disable-pip-version-check = true\\n' > /etc/pip.conf"]
    if any(fnmatch.fnmatch(base.source, p) for p in PYTHON_FLAVOUR):
        lines += ["rm -f /usr/lib/python3*/EXTERNALLY-MANAGED",
                  "ln -sf /usr/bin/python3 /usr/local/bin/python && ln -sf /usr/bin/pip3 /usr/local/bin/pip"]
    if uv:   # uv from the mirror where astral's installer puts it; resolving from the mirror only
        lines += [f"python3 -m pip install -q --no-index --find-links {MIRROR_DIR}/wheels --target /opt/mispo-uv "
                  f"--break-system-packages --no-warn-script-location uv=={UV_VERSION}",
                  "mkdir -p /root/.local/bin /etc/uv",
                  "ln -sf /opt/mispo-uv/bin/uv /opt/mispo-uv/bin/uvx /root/.local/bin/",
                  f"cp {MIRROR_DIR}/uv-env /root/.local/bin/env",
                  f"printf 'no-index = true\\nfind-links = [\"{MIRROR_DIR}/wheels\"]\\npython-downloads = \"never\"\\n"
                  "python-preference = \"only-system\"\\n' > /etc/uv/uv.toml"]
    if judge_requirements:
        lines.append(f"python3 -m pip install -q --no-index --find-links {MIRROR_DIR}/wheels --target {JUDGE_SITE} "
                     "--break-system-packages --no-warn-script-location --no-compile "
                     + " ".join(shlex.quote(r) for r in judge_requirements))
    return "\n".join(lines) + "\n"


HEREDOC = re.compile(r"(?<!<)<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")   # not <<< (a here-string)
INSTR = re.compile(r"^(\s*(RUN|COPY|ADD)\s+(?:--\S+\s+)*)(.*)$", re.I)


def expand_heredocs(text: str) -> tuple[str, dict[str, bytes], list[str]]:
    """Dockerfile heredocs (`COPY <<EOF dest`, `RUN <<EOF`, `RUN cmd <<EOF`) need BuildKit, which the classic
    builder of Docker 20.10 lacks: each body becomes a build-context file, COPY takes that file, RUN runs it (or
    reads it on stdin). Returns (Dockerfile, context files, the RUN heredoc bodies: they are shell too)."""
    lines, out, files, scripts, i = text.split("\n"), [], {}, [], 0
    while i < len(lines):
        line, m = lines[i], INSTR.match(lines[i])
        docs = list(HEREDOC.finditer(line)) if m else []
        if not docs:
            out.append(line)
            i += 1
            continue
        bodies, j = [], i + 1
        for d in docs:
            body = []
            while j < len(lines) and (lines[j].lstrip("\t") if d.group(1) else lines[j]) != d.group(3):
                body.append(lines[j].lstrip("\t") if d.group(1) else lines[j])
                j += 1
            if j >= len(lines):
                raise TaskError(f"Dockerfile: heredoc <<{d.group(3)} (line {i + 1}) is never closed")
            bodies.append("\n".join(body) + "\n")
            j += 1
        instr = m.group(2).upper()
        names = [f".mispo-heredoc/{len(files) + k}" for k in range(len(docs))]
        files.update({n: b.encode() for n, b in zip(names, bodies)})
        if instr in ("COPY", "ADD"):
            if len(docs) != 1:
                raise TaskError(f"Dockerfile line {i + 1}: COPY with {len(docs)} heredocs is not supported; "
                                "use one COPY per heredoc")
            out.append(line[:docs[0].start()] + names[0] + line[docs[0].end():])
        else:
            scripts += bodies
            out += [f"COPY {n} /tmp/{n.replace('/', '-')}" for n in names]
            if m.group(3).startswith("<<"):   # RUN <<EOF: the body is the script (its #! line picks the program)
                script = f"/tmp/{names[0].replace('/', '-')}"
                run = f"chmod +x {script} && {script}" if bodies[0].startswith("#!") else f"/bin/sh {script}"
                out.append(f"{m.group(1)}{run}")
            else:                             # RUN cmd <<EOF: the body is cmd's stdin
                cmd = line
                for d, n in reversed(list(zip(docs, names))):
                    cmd = cmd[:d.start()] + f"< /tmp/{n.replace('/', '-')}" + cmd[d.end():]
                out.append(cmd)
        i = j
    return "\n".join(out), files, scripts


def render_dockerfile(task: TaskSpec, image_map: dict[str, str]) -> tuple[str, list[MappedBase]]:
    """The task's Dockerfile with FROM lines mapped and the conventions injected; and the mapped bases."""
    plain = expand_heredocs(task.dockerfile or "")[0]
    bases = stages(plain, image_map)   # heredoc bodies are not instructions (a `from x import y` line is no FROM)
    by_source = {b.source: b for b in bases}
    tb = task.format == "terminal-bench"

    def repl(m: re.Match) -> str:
        src = m.group(1).split("#", 1)[0]
        base = by_source.get(src)
        if base is None:   # FROM an earlier stage
            return m.group(0)
        alias = re.search(r"\bAS\s+\S+", m.group(2), re.I)
        head = f"FROM {ensure_image(base.name)}{' ' + alias.group(0) if alias else ''}\nUSER root\n"
        head += (f"COPY .mispo-mirror/ {MIRROR_DIR}/\nRUN /bin/sh {MIRROR_DIR}/setup-{base.name}.sh\n")
        if fnmatch.fnmatch(src, TB_BASE):   # Terminal-Bench's base images end with WORKDIR /app
            head += "WORKDIR /app\n"
        return head

    body = FROM.sub(repl, plain)
    if tb:
        tail = "\nUSER root\nCMD [\"sleep\", \"infinity\"]\n"
    else:
        tail = (f"\nUSER root\nRUN mkdir -p /app {SEED_DIR} && cp -a /app/. {SEED_DIR}/ "
                f"&& chown -R 1000:1000 {SEED_DIR}\nUSER 1000\nWORKDIR /app\nCMD [\"sleep\", \"infinity\"]\n")
    return body.rstrip() + tail, bases


def _mode(task: TaskSpec, name: str) -> int:
    """A build-context file's mode: the task file's own (COPY keeps it: executables stay executable)."""
    src = task.path / task.context / name
    if not name.startswith(".mispo-mirror/") and src.is_file():
        return src.stat().st_mode & 0o7777
    return 0o755 if name.endswith(".sh") else 0o644


def task_image(task: TaskSpec, image_map: dict[str, str] | None = None) -> str:
    """The image tag an episode of `task` runs in (built once, cached by content)."""
    if task.dockerfile is None:
        return ensure_image(task.image)
    full_map = {**(image_map or {}), **{k: v for k, v in DEFAULT_IMAGE_MAP.items() if k not in (image_map or {})}}
    dockerfile, bases = render_dockerfile(task, full_map)
    final = bases[-1]
    want = requested_python(final.source)
    if want and want != final.spec.python:
        print(f"[tasks] {task.name}: FROM {final.source} asks for Python {want}; runs on CPython "
              f"{final.spec.python} (the nearest Debian offers offline)", flush=True)
    found = task_deps(task)
    judge = found.tests.pip if task.format == "terminal-bench" else []
    files = {**build_context_files(task), **expand_heredocs(task.dockerfile)[1]}
    for base in bases:
        files[f".mispo-mirror/setup-{base.name}.sh"] = setup_script(base, judge, found.uv).encode()
    if found.uv:
        files[".mispo-mirror/uv-env"] = UV_ENV.encode()
    digest = hashlib.sha256(f"{MIRROR_LAYOUT}|{dockerfile}".encode())
    for name, data in files.items():
        digest.update(name.encode() + data + oct(_mode(task, name)).encode())
    for group in (found.build, found.tests, found.solution):
        digest.update(repr((sorted(group.pip), sorted(group.apt))).encode())
    digest.update(f"uv={found.uv}".encode())
    slug = re.sub(r"[^a-z0-9_.-]", "-", task.name.lower())[:60]
    tag = f"mispo/task-{slug}:{digest.hexdigest()[:12]}"
    client = docker_client()
    try:
        client.images.get(tag)
        return tag
    except Exception:  # noqa: BLE001 - not built yet
        pass
    files.update(build_mirror(task, final, found))
    ctx = io.BytesIO()
    with tarfile.open(fileobj=ctx, mode="w") as tar:
        for name, data in {**files, "Dockerfile": dockerfile.encode()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = _mode(task, name)
            tar.addfile(info, io.BytesIO(data))
    ctx.seek(0)
    try:
        client.images.build(fileobj=ctx, custom_context=True, tag=tag, rm=True, forcerm=True, network_mode="none")
    except Exception as exc:  # noqa: BLE001 - docker BuildError carries the log
        log = "".join(str(c.get("stream", c.get("error", ""))) for c in getattr(exc, "build_log", []) or [])
        raise TaskError(f"task {task.name}: its Dockerfile did not build offline ({exc}). Last output:\n{log[-1500:]}"
                        "\nFix: map its FROM to a local image that has what it needs, or drop steps that need the "
                        "network (packages named in pip/apt install lines are served from the offline mirror)"
                        ) from exc
    return tag


def image_workdir(tag: str) -> str:
    """The WORKDIR an image ends with ("/" when unset): where the agent's shell and the tests start."""
    return docker_client().images.get(tag).attrs.get("Config", {}).get("WorkingDir") or "/"


URL = re.compile(r"\b(?:https?|ftp)://[^\s'\"<>)]+")


def network_urls(task: TaskSpec) -> list[str]:
    """URLs the task's build steps or reference solution fetch from (they fail offline; test setup scripts are
    not listed: their uv/pytest downloads are replaced by the offline judge)."""
    text = deps_mod.dockerfile_run_text(task.dockerfile or "") + "\n" + deps_mod.solution_text(task.solution)
    text += "\n" + "\n".join(d.decode(errors="replace") for n, d in build_context_files(task).items()
                             if n.endswith(".sh"))
    return sorted(set(URL.findall(text)))


def describe(task: TaskSpec) -> dict:
    """What `validate` reports about a task's packages (and the URLs it would fetch, which cannot work offline)."""
    found = task_deps(task)
    out: dict = {group: {"pip": d.pip, "apt": d.apt} for group, d in
                 (("build", found.build), ("tests", found.tests), ("solution", found.solution)) if d.pip or d.apt}
    urls = network_urls(task)
    if urls:
        out["network_urls"] = urls
    return out

