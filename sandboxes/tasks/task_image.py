"""Task images: a task's Dockerfile built offline on top of our local images. `FROM` lines are mapped through an
image map (fnmatch pattern -> sandboxes.images name); the app dir the Dockerfile prepares is kept in /opt/mispo-seed
so it can be seeded into the tmpfs /app of a read-only-root container."""
from __future__ import annotations

import fnmatch
import hashlib
import io
import re
import tarfile

from sandboxes.docker_client import docker_client
from sandboxes.images import ensure_image
from sandboxes.tasks.spec import TaskError, TaskSpec, build_context_files

DEFAULT_IMAGE_MAP: dict[str, str] = {
    "ghcr.io/laude-institute/t-bench/*": "terminal",
    "python:*": "terminal",
    "debian:*": "terminal",
    "ubuntu:*": "terminal",
    "mispo/terminal*": "terminal",
    "terminal": "terminal",
}
SEED_DIR = "/opt/mispo-seed"
FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(.*)$", re.I | re.M)


def map_from(image: str, image_map: dict[str, str]) -> str:
    for pattern, name in image_map.items():
        if fnmatch.fnmatch(image, pattern):
            return ensure_image(name)
    raise TaskError(f"Dockerfile FROM {image}: no local image mapped. Fix: add a pattern to the image map "
                    f"(--image-map '{image.split(':')[0]}*=terminal'); known patterns: {sorted(image_map)}")


def render_dockerfile(text: str, image_map: dict[str, str]) -> str:
    """Map FROM lines, run the task's steps as root (our images end as uid 1000), then snapshot /app."""
    def repl(m: re.Match) -> str:
        return f"FROM {map_from(m.group(1), image_map)}{m.group(2)}\nUSER root"

    body = FROM.sub(repl, text)
    return (body.rstrip() + f"\nUSER root\nRUN mkdir -p /app {SEED_DIR} && cp -a /app/. {SEED_DIR}/ "
            f"&& chown -R 1000:1000 {SEED_DIR}\nUSER 1000\nWORKDIR /app\nCMD [\"sleep\", \"infinity\"]\n")


def task_image(task: TaskSpec, image_map: dict[str, str] | None = None) -> str:
    """The image tag an episode of `task` runs in (built once, cached by content)."""
    if task.dockerfile is None:
        return ensure_image(task.image)
    dockerfile = render_dockerfile(task.dockerfile, {**DEFAULT_IMAGE_MAP, **(image_map or {})})
    files = build_context_files(task)
    digest = hashlib.sha256(dockerfile.encode())
    for name, data in files.items():
        digest.update(name.encode() + data)
    slug = re.sub(r"[^a-z0-9_.-]", "-", task.name.lower())[:60]
    tag = f"mispo/task-{slug}:{digest.hexdigest()[:12]}"
    client = docker_client()
    try:
        client.images.get(tag)
        return tag
    except Exception:  # noqa: BLE001 - not built yet
        pass
    ctx = io.BytesIO()
    with tarfile.open(fileobj=ctx, mode="w") as tar:
        for name, data in {**files, "Dockerfile": dockerfile.encode()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    ctx.seek(0)
    try:
        client.images.build(fileobj=ctx, custom_context=True, tag=tag, rm=True, forcerm=True, network_mode="none")
    except Exception as exc:  # noqa: BLE001 - docker BuildError carries the log
        log = "".join(str(c.get("stream", c.get("error", ""))) for c in getattr(exc, "build_log", []) or [])
        raise TaskError(f"task {task.name}: its Dockerfile did not build offline ({exc}). Last output:\n{log[-1500:]}"
                        "\nFix: map its FROM to a local image that has what it needs, or drop steps that need the "
                        "network") from exc
    return tag
