"""Images of the local cluster, built from Debian's packages and pushed to the local registry.

Owns the recipes of the images that Packgate's default settings name (shell, python, pytest, node,
git), the sandbox (pause) image, the Debian Python base the operator image is built on locally, and
the operator image itself (built from the project's Dockerfile with buildah, no daemon).

Every image is pushed to the local registry under the name the defaults use, so a pull of
`docker.io/library/busybox:1.37` is a real pull, served by the local registry (see node.py's
`registry_hosts`).  A recipe's digest keys the cache: the registry's storage lives outside the
checkout, and an image is rebuilt only when its recipe changed.

How the images differ from their upstream namesakes (Debian bookworm's packages):

    docker.io/library/busybox:1.37        Debian's busybox-static 1.35
    docker.io/library/python:3.13-slim    Debian's Python 3.11 with pip and venv
    ghcr.io/packgate/runner-pytest:0.1.0  the python image plus Debian's pytest 7.2
    docker.io/library/node:22-slim        Debian's Node.js 18 with npm 9
    docker.io/alpine/git:2.49.1           Debian's git 2.39 (entrypoint git, like alpine/git)
    registry.k8s.io/pause:3.10.2          Debian's catatonit in pause mode (-P)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

SUITE = "bookworm"
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
RECIPE_VERSION = "1"
OPERATOR_IMAGE = "ghcr.io/packgate/packgate:dev"
PYTHON_BASE = "packgate.local/python-base:3.11-bookworm"
BUILD_HOST_FILES = ("/etc/pip.conf", "/etc/ssl/certs/ca-certificates.crt")
DOCKERFILE_INPUTS = ("Dockerfile", "requirements.lock", "pyproject.toml", "README.md", "operator", "migrations")


class ImageError(Exception):
    """An image could not be built or pushed; the message says which and why."""


@dataclass(frozen=True)
class Recipe:
    """One image: a root filesystem from Debian packages plus its OCI configuration.

    `debs` are unpacked as they are (static binaries need nothing else); `packages` are installed
    into a minimal Debian with mmdebstrap.
    """

    name: str
    debs: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    busybox_links: bool = False
    aliases: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)

    def key(self) -> str:
        text = json.dumps([RECIPE_VERSION, SUITE, self.name, self.debs, self.packages, self.entrypoint,
                           self.cmd, self.env, self.busybox_links, self.aliases,
                           sorted(self.labels.items())])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


PYTHON_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
RECIPES: tuple[Recipe, ...] = (
    Recipe("registry.k8s.io/pause:3.10.2", debs=("catatonit",), entrypoint=("/usr/bin/catatonit", "-P")),
    Recipe("docker.io/library/busybox:1.37", debs=("busybox-static",), cmd=("sh",), busybox_links=True,
           aliases=("docker.io/library/busybox:latest",)),
    Recipe(PYTHON_BASE, packages=PYTHON_PACKAGES, cmd=("python3",)),
    Recipe("docker.io/library/python:3.13-slim", packages=(*PYTHON_PACKAGES, "python3-pip"), cmd=("python3",)),
    Recipe("ghcr.io/packgate/runner-pytest:0.1.0", packages=(*PYTHON_PACKAGES, "python3-pip", "python3-pytest"),
           cmd=("python3", "-m", "pytest")),
    Recipe("docker.io/library/node:22-slim", packages=("nodejs", "npm", "ca-certificates"), cmd=("node",)),
    Recipe("docker.io/alpine/git:2.49.1", packages=("git", "ca-certificates"), entrypoint=("git",)),
)


def registry_path(name: str) -> str:
    """The repository path a registry serves `name` under: the name without its registry host."""
    first, _, rest = name.partition("/")
    return rest if rest and ("." in first or ":" in first or first == "localhost") else name


def _run(argv: Iterable[str], what: str, cwd: Path | None = None) -> str:
    argv = list(argv)
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise ImageError(f"{what}: {Path(argv[0]).name} exited {proc.returncode}: {tail}")
    return proc.stdout


def _rootfs_from_debs(recipe: Recipe, rootfs: Path, scratch: Path) -> None:
    _run(["apt-get", "download", *recipe.debs], f"{recipe.name}: apt-get download", cwd=scratch)
    for deb in sorted(scratch.glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(rootfs)], f"{recipe.name}: unpack {deb.name}")
    if recipe.busybox_links:
        busybox = rootfs / "bin" / "busybox"
        for applet in _run([str(busybox), "--list"], f"{recipe.name}: busybox --list").split():
            link = rootfs / "bin" / applet
            if not link.exists():
                link.symlink_to("busybox")
    for directory in ("tmp", "etc", "proc", "sys", "dev"):
        (rootfs / directory).mkdir(exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")


def _rootfs_from_packages(recipe: Recipe, tarball: Path) -> None:
    sources = str(DEBIAN_SOURCES) if DEBIAN_SOURCES.exists() else "http://deb.debian.org/debian"
    _run(
        [
            "mmdebstrap", "--variant=apt", "--mode=root", "--format=tar", "--quiet",
            "--aptopt=APT::Install-Recommends \"false\"",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--customize-hook=rm -rf \"$1\"/var/lib/apt/lists/* \"$1\"/var/cache/apt/*",
            f"--include={','.join(recipe.packages)}",
            SUITE, str(tarball), sources,
        ],
        f"{recipe.name}: mmdebstrap",
    )


def _commit(recipe: Recipe, source: Path) -> None:
    """Turn a root filesystem (directory or tarball) into image `recipe.name` in buildah's storage."""
    container = _run(["buildah", "from", "--quiet", "scratch"], f"{recipe.name}: buildah from").strip()
    try:
        _run(["buildah", "add", "--quiet", container, str(source), "/"], f"{recipe.name}: buildah add")
        config = ["buildah", "config"]
        for variable in recipe.env:
            config += ["--env", variable]
        config += ["--entrypoint", json.dumps(list(recipe.entrypoint)) if recipe.entrypoint else "[]"]
        config += ["--cmd", json.dumps(list(recipe.cmd)) if recipe.cmd else "[]"]
        config += ["--label", f"dev.packgate.recipe={recipe.key()}"]
        _run([*config, container], f"{recipe.name}: buildah config")
        _run(["buildah", "commit", "--quiet", "--rm", container, recipe.name], f"{recipe.name}: buildah commit")
    except BaseException:
        subprocess.run(["buildah", "rm", container], capture_output=True)
        raise


def build(recipe: Recipe) -> None:
    """Build one recipe into buildah's local storage."""
    with tempfile.TemporaryDirectory(prefix="packgate-image-") as tmp:
        scratch = Path(tmp)
        if recipe.debs:
            rootfs = scratch / "rootfs"
            rootfs.mkdir()
            _rootfs_from_debs(recipe, rootfs, scratch)
            _commit(recipe, rootfs)
        else:
            tarball = scratch / "rootfs.tar"
            _rootfs_from_packages(recipe, tarball)
            _commit(recipe, tarball)


def push(name: str, registry: str) -> str:
    """Push `name` from buildah's storage to the local registry (plain HTTP); return its digest."""
    target = f"docker://{registry}/{registry_path(name)}"
    with tempfile.NamedTemporaryFile("r", prefix="packgate-digest-") as digest:
        _run(["buildah", "push", "--quiet", "--tls-verify=false", f"--digestfile={digest.name}", name, target],
             f"{name}: buildah push")
        return digest.read().strip()


def dockerfile_key(repo: Path) -> str:
    """A digest of everything the Dockerfile copies (tracked files only)."""
    files = _run(["git", "ls-files", "-z", *DOCKERFILE_INPUTS], "git ls-files", cwd=repo).split("\0")
    digest = hashlib.sha256()
    for name in sorted(f for f in files if f):
        path = repo / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_operator(repo: Path, name: str = OPERATOR_IMAGE) -> None:
    """`buildah bud` of the project's Dockerfile on the local Debian Python base."""
    # The build machine's own pip configuration and CA bundle (a TLS-inspecting proxy's CA, say)
    # are mounted into the RUN steps only; nothing of them ends up in the image.
    host_config = [f"--volume={path}:{path}:ro" for path in BUILD_HOST_FILES if Path(path).is_file()]
    _run(
        ["buildah", "bud", "--quiet", "--layers", "--isolation=chroot", "--pull=never", *host_config,
         f"--build-arg=BASE_IMAGE={PYTHON_BASE}", "-t", name, "-f", str(repo / "Dockerfile"), str(repo)],
        f"{name}: buildah bud",
    )


@dataclass(frozen=True)
class Stamps:
    """Which recipe each image in the registry was built from (files beside the registry's storage)."""

    root: Path

    def _path(self, name: str) -> Path:
        return self.root / hashlib.sha256(name.encode()).hexdigest()[:16]

    def current(self, name: str, key: str) -> str | None:
        """The digest pushed for `name` from recipe `key`, or None when it is missing or stale."""
        try:
            recorded_key, _name, digest = self._path(name).read_text().split()
        except (OSError, ValueError):
            return None
        return digest if recorded_key == key else None

    def record(self, name: str, key: str, digest: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._path(name).write_text(f"{key} {name} {digest}\n")


def _in_storage(name: str, key: str) -> bool:
    proc = subprocess.run(["buildah", "inspect", "--type", "image", "--format",
                           '{{index .OCIv1.Config.Labels "dev.packgate.recipe"}}', name],
                          capture_output=True, text=True)
    return proc.returncode == 0 and proc.stdout.strip() == key


def ensure(registry: str, stamps: Stamps, repo: Path, *, operator: bool = True,
           log: Callable[[str], None] = print) -> str | None:
    """Build what is missing or stale and push it to the registry at `registry` (host:port).

    Returns the operator image pinned by digest (`name@sha256:...`) when `operator` is set.
    """
    for tool in ("buildah", "mmdebstrap", "apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise ImageError(f"{tool} not found; run hack/install-deps.sh")
    for recipe in RECIPES:
        key = recipe.key()
        if stamps.current(recipe.name, key):
            continue
        if not _in_storage(recipe.name, key):
            log(f"images: building {recipe.name} from Debian packages")
            build(recipe)
        digest = push(recipe.name, registry)
        for alias in recipe.aliases:
            _run(["buildah", "tag", recipe.name, alias], f"{alias}: buildah tag")
            push(alias, registry)
        stamps.record(recipe.name, key, digest)
    if not operator:
        return None
    key = dockerfile_key(repo)
    digest = stamps.current(OPERATOR_IMAGE, key)
    if digest is None:
        log(f"images: building {OPERATOR_IMAGE} from the Dockerfile")
        build_operator(repo)
        digest = push(OPERATOR_IMAGE, registry)
        stamps.record(OPERATOR_IMAGE, key, digest)
    return f"{OPERATOR_IMAGE}@{digest}"
