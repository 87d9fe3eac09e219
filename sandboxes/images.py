"""Sandbox images, built offline: debootstrap a Debian rootfs with the image's packages, `docker import` it as a
base, then `docker build` our Dockerfile on top (users, harness). Tags carry a hash of everything that went in,
so a rebuild happens only when the spec, the Dockerfile or the harness changes.

More languages are a config entry away: add an ImageSpec (name, packages) to IMAGES, or pass your own spec.
CLI: `python -m sandboxes.images build [NAME ...]` (also run by scripts/build_sandbox_images.sh).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sandboxes.docker_client import docker_client

HERE = Path(__file__).resolve().parent
DOCKERFILE = HERE / "dockerfiles" / "sandbox.Dockerfile"
HARNESS = HERE / "harness"
SUITE = "bookworm"
MIRROR = os.environ.get("MISPO_DEBIAN_MIRROR", "http://deb.debian.org/debian")


@dataclass(frozen=True)
class ImageSpec:
    """name: short name used in configs (`sandbox.image`); packages: Debian packages on top of minbase; suite:
    the Debian release (bookworm: Python 3.11, trixie: Python 3.13); python: its python3 version."""

    name: str
    packages: tuple[str, ...]
    suite: str = SUITE
    python: str = "3.11"

    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(f"{self.suite}|{' '.join(sorted(self.packages))}".encode())
        h.update(DOCKERFILE.read_bytes())
        for f in sorted(HARNESS.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                h.update(f.relative_to(HARNESS).as_posix().encode() + f.read_bytes())
        return h.hexdigest()[:12]

    def base_digest(self) -> str:
        return hashlib.sha256(f"{self.suite}|{' '.join(sorted(self.packages))}".encode()).hexdigest()[:12]

    @property
    def tag(self) -> str:
        return f"mispo/sandbox-{self.name}:{self.digest()}"

    @property
    def base_tag(self) -> str:
        return f"mispo/base-{self.name}:{self.base_digest()}"


TERMINAL_PACKAGES = ("bash", "coreutils", "procps", "tmux", "python3", "python3-pytest", "python3-pip")
IMAGES: dict[str, ImageSpec] = {
    "python": ImageSpec("python", ("python3",)),
    "terminal": ImageSpec("terminal", TERMINAL_PACKAGES),
    # Terminal-Bench's python-3-13 base (and python:3.13 FROMs): Debian trixie ships CPython 3.13
    "terminal-py313": ImageSpec("terminal-py313", TERMINAL_PACKAGES, suite="trixie", python="3.13"),
}


def image_spec(name: str) -> ImageSpec:
    if name not in IMAGES:
        raise ValueError(f"sandbox image {name!r} is unknown; known: {sorted(IMAGES)}. Fix: pick one, or add an "
                         f"ImageSpec(name, packages) to sandboxes.images.IMAGES")
    return IMAGES[name]


def _image_exists(tag: str) -> bool:
    import docker

    try:
        docker_client().images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _debootstrap_base(spec: ImageSpec) -> None:
    """debootstrap + docker import. The .deb cache under $MISPO_CACHE makes rebuilds fast."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed. Fix: `apt-get install debootstrap` (scripts/setup_docker.sh "
                           "does it), or build from a registry with sandboxes/dockerfiles/sandbox.Dockerfile")
    cache = Path(os.environ.get("MISPO_CACHE", Path.home() / ".cache" / "mispo")) / "debs"
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mispo-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(spec.packages)}",
               f"--cache-dir={cache}", spec.suite, str(root), MIRROR]
        print(f"[images] {spec.name}: debootstrap {spec.suite} {' '.join(spec.packages)} (about a minute)", flush=True)
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"debootstrap failed for image {spec.name!r}:\n{res.stdout[-2000:]}{res.stderr[-2000:]}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / junk, ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(["docker", "import", "-", spec.base_tag], stdin=tar.stdout, capture_output=True, text=True)
        tar.wait()
        if imp.returncode != 0:
            raise RuntimeError(f"docker import failed for {spec.base_tag}: {imp.stderr}")


def build_image(spec: ImageSpec, force: bool = False) -> str:
    """Build (or find) the image for `spec`; returns its tag."""
    if not force and _image_exists(spec.tag):
        return spec.tag
    if force or not _image_exists(spec.base_tag):
        _debootstrap_base(spec)
    with tempfile.TemporaryDirectory(prefix="mispo-build-") as ctx:
        shutil.copy(DOCKERFILE, Path(ctx) / "Dockerfile")
        shutil.copytree(HARNESS, Path(ctx) / "harness", ignore=shutil.ignore_patterns("__pycache__"))
        print(f"[images] {spec.name}: docker build {spec.tag}", flush=True)
        docker_client().images.build(path=ctx, tag=spec.tag, rm=True, forcerm=True, network_mode="none",
                                     buildargs={"BASE": spec.base_tag, "PACKAGES": " ".join(spec.packages)})
    return spec.tag


def ensure_image(name: str) -> str:
    """Tag of the named image, building it offline when missing (minutes the first time, instant after)."""
    return build_image(image_spec(name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandboxes.images", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build sandbox images (all by default)")
    b.add_argument("names", nargs="*", default=sorted(IMAGES))
    b.add_argument("--force", action="store_true", help="rebuild even when the tag exists")
    args = parser.parse_args(argv)
    build_all([image_spec(n) for n in args.names], force=args.force)
    return 0


def build_all(specs: list[ImageSpec], force: bool = False) -> dict[str, str]:
    """Build several images: one thread per Debian suite (images of one suite share debootstrap's .deb cache, so
    they build one after another; different suites download and unpack in parallel)."""
    from concurrent.futures import ThreadPoolExecutor

    by_suite: dict[str, list[ImageSpec]] = {}
    for spec in specs:
        by_suite.setdefault(spec.suite, []).append(spec)

    def run(group: list[ImageSpec]) -> dict[str, str]:
        out = {}
        for spec in group:
            out[spec.name] = build_image(spec, force=force)
            print(f"[images] {spec.name}: {out[spec.name]}", flush=True)
        return out

    tags: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=len(by_suite) or 1) as pool:
        for result in pool.map(run, by_suite.values()):
            tags.update(result)
    return tags


if __name__ == "__main__":
    sys.exit(main())
