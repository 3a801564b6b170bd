"""The local cluster's package sources: a real PyPI-style index and a real npm registry, offline.

Owns what runner pods install a pack's requirements.txt and package.json from on the local
cluster (issue #12), as an air-gapped cluster installs from its mirrors:

    pypi            pypiserver (PYPISERVER, in its own venv) serving a directory of wheels filled
                    once by `pip download` of PYTHON_REQUIREMENTS for the runner images' Python
                    (3.11, x86_64), with --disable-fallback: what is not there is not found.
    npm-registry    verdaccio (VERDACCIO, run with the machine's Node.js) serving a storage
                    filled once through verdaccio itself from the public registry (each package
                    of NPM_PACKAGES, metadata and tarball), then served with no uplink.

Both listen on the node's bridge address (10.88.0.1), which pods reach; the URLs are
`sources(ports)` (PIP_INDEX_URL / npm_config_registry, or the operator's PACKGATE_PIP_INDEX_URL /
PACKGATE_NPM_REGISTRY).  Tools and contents are cached under ~/.cache/packgate/ keyed by their
versions and lists: the public registries are reached at the first set-up only.  The cluster
(cluster.py) starts and stops the servers as two of its processes; this module only prepares
them and says how to run and reach them.  Must not: start processes itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from localcluster.node import NODE_IP

PYPISERVER = "pypiserver==2.4.2"
VERDACCIO = "6.1.6"  # verdaccio's version: one that runs on Node.js 18 (Debian bookworm's)
VERDACCIO_OVERRIDES = {"node-fetch": "2.7.0"}
"""npm overrides for verdaccio's tree: it asks for node-fetch by the dist-tag `cjs`, which registry
mirrors do not always carry; 2.7.0 is the CommonJS release that tag names."""
PYTHON_REQUIREMENTS = ("pytest==8.3.5", "PyYAML==6.0.2", "requests==2.32.3")
"""What the index serves, with every dependency (pip download resolves them)."""
PYTHON_TARGET = ("--python-version", "3.11", "--platform", "manylinux2014_x86_64", "--implementation", "cp",
                 "--abi", "cp311")
"""The runner images' Python (Debian bookworm's 3.11 on x86_64): wheels for it, whatever runs the download."""
NPM_PACKAGES = ("semver@7.7.2",)
"""name@version of each package the registry serves (their dependencies are not followed: list them)."""
SERVERS = ("pypi", "npm-registry")
PUBLIC_NPM = "https://registry.npmjs.org/"


class PackagesError(Exception):
    """A package source could not be prepared; the message says which and why."""


@dataclass(frozen=True)
class Ports:
    pypi: int
    npm: int


def sources(ports: Ports) -> dict[str, str]:
    """The operator settings that point runner pods at these servers."""
    return {
        "PACKGATE_PIP_INDEX_URL": f"http://{NODE_IP}:{ports.pypi}/simple/",
        "PACKGATE_NPM_REGISTRY": f"http://{NODE_IP}:{ports.npm}/",
    }


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


def _run(argv: list[str], what: str, env: dict[str, str] | None = None, timeout: float = 900) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PackagesError(f"{what}: {error}") from None
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
        raise PackagesError(f"{what}: {Path(argv[0]).name} exited {proc.returncode}: {tail}")


@dataclass(frozen=True)
class Packages:
    """The two servers of one cluster: caches under `cache_root`, configuration under `config_dir`."""

    cache_root: Path
    config_dir: Path
    ports: Ports

    @property
    def pypiserver_venv(self) -> Path:
        return self.cache_root / "tools" / f"pypiserver-{_key(PYPISERVER, sys.version_info[:2])}"

    @property
    def verdaccio_dir(self) -> Path:
        return self.cache_root / "tools" / f"verdaccio-{_key(VERDACCIO, VERDACCIO_OVERRIDES)}"

    @property
    def wheels(self) -> Path:
        return self.cache_root / "pypi" / _key(PYTHON_REQUIREMENTS, PYTHON_TARGET)

    @property
    def npm_storage(self) -> Path:
        return self.cache_root / "npm" / _key(VERDACCIO, NPM_PACKAGES) / "storage"

    def prepare(self, log: Callable[[str], None] = print) -> None:
        """Install the servers and fill their contents, each once (a `.done` file marks it)."""
        node = shutil.which("node")
        if node is None or shutil.which("npm") is None:
            raise PackagesError("node and npm not found; run hack/install-deps.sh")
        venv = self.pypiserver_venv
        if not (venv / ".done").exists():
            log(f"packages: installing {PYPISERVER}")
            shutil.rmtree(venv, ignore_errors=True)
            _run([sys.executable, "-m", "venv", str(venv)], "pypiserver venv")
            _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", PYPISERVER], "pypiserver")
            (venv / ".done").touch()
        if not (self.wheels / ".done").exists():
            log(f"packages: downloading {', '.join(PYTHON_REQUIREMENTS)} with their dependencies")
            shutil.rmtree(self.wheels, ignore_errors=True)
            _run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                  "--only-binary=:all:", *PYTHON_TARGET, "-d", str(self.wheels), *PYTHON_REQUIREMENTS],
                 "pip download")
            (self.wheels / ".done").touch()
        tool = self.verdaccio_dir
        if not (tool / ".done").exists():
            log(f"packages: installing verdaccio {VERDACCIO}")
            shutil.rmtree(tool, ignore_errors=True)
            tool.mkdir(parents=True)
            manifest = {"private": True, "dependencies": {"verdaccio": VERDACCIO}, "overrides": VERDACCIO_OVERRIDES}
            (tool / "package.json").write_text(json.dumps(manifest, indent=2))
            _run(["npm", "install", "--prefix", str(tool), "--no-audit", "--no-fund", "--omit=dev"],
                 "npm install verdaccio")
            (tool / ".done").touch()
        self.config_dir.mkdir(parents=True, exist_ok=True)
        if not (self.npm_storage.parent / ".done").exists():
            log(f"packages: filling the npm registry with {', '.join(NPM_PACKAGES)}")
            shutil.rmtree(self.npm_storage, ignore_errors=True)
            self._fill_npm()
            (self.npm_storage.parent / ".done").touch()
        (self.config_dir / "verdaccio.yaml").write_text(yaml.safe_dump(self._verdaccio_config(uplink=False)))

    def commands(self) -> dict[str, list[str]]:
        """The command line of each server (component name -> argv), listening on the node's address."""
        return {
            "pypi": [str(self.pypiserver_venv / "bin" / "pypi-server"), "run", "--host", NODE_IP,
                     "--port", str(self.ports.pypi), "--disable-fallback", "--authenticate", ".",
                     "--passwords", ".", str(self.wheels)],
            "npm-registry": self._verdaccio_argv(self.config_dir / "verdaccio.yaml", f"{NODE_IP}:{self.ports.npm}"),
        }

    def health_urls(self) -> dict[str, str]:
        """A URL per server that answers 200 once it serves: a package each of them must hold."""
        first_npm = NPM_PACKAGES[0].rpartition("@")[0]
        return {
            "pypi": f"http://{NODE_IP}:{self.ports.pypi}/simple/pytest/",
            "npm-registry": f"http://{NODE_IP}:{self.ports.npm}/{first_npm}",
        }

    # -- verdaccio ----------------------------------------------------------------------------------

    def _verdaccio_argv(self, config: Path, listen: str) -> list[str]:
        binary = self.verdaccio_dir / "node_modules" / "verdaccio" / "bin" / "verdaccio"
        return [shutil.which("node") or "node", str(binary), "--config", str(config), "--listen", listen]

    def _verdaccio_config(self, *, uplink: bool) -> dict[str, object]:
        access: dict[str, object] = {"access": "$all", "publish": "$authenticated"}
        config: dict[str, object] = {
            "storage": str(self.npm_storage),
            "auth": {"htpasswd": {"file": str(self.npm_storage.parent / "htpasswd"), "max_users": -1}},
            "packages": {"**": access},
            "log": {"type": "stdout", "format": "pretty", "level": "warn"},
        }
        if uplink:
            # The machine's own npm configuration names the public registry (or its proxy).
            asked = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True)
            registry = asked.stdout.strip() if asked.returncode == 0 and asked.stdout.strip() else PUBLIC_NPM
            config["uplinks"] = {"public": {"url": registry}}
            access["proxy"] = "public"
        return config

    def _fill_npm(self) -> None:
        """Start verdaccio on a loopback port with the public registry as its uplink, fetch each
        package's metadata and tarball through it (so it stores them), and stop it."""
        self.npm_storage.mkdir(parents=True, exist_ok=True)
        config = self.npm_storage.parent / "fill.yaml"
        config.write_text(yaml.safe_dump(self._verdaccio_config(uplink=True)))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        log = self.npm_storage.parent / "fill.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(self._verdaccio_argv(config, f"127.0.0.1:{port}"), stdout=out, stderr=out,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{base}/-/ping", timeout=5).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise PackagesError(f"verdaccio did not start to fill the registry; see {log}") from None
                    time.sleep(0.2)
            for spec in NPM_PACKAGES:
                name, _, version = spec.rpartition("@")
                try:
                    with urllib.request.urlopen(f"{base}/{name}", timeout=120) as response:
                        metadata = json.load(response)
                    tarball = metadata["versions"][version]["dist"]["tarball"]
                    with urllib.request.urlopen(tarball, timeout=120) as response:
                        response.read()
                except (OSError, KeyError, ValueError) as error:
                    raise PackagesError(f"could not fetch {spec} through verdaccio: {error}; see {log}") from None
                # verdaccio renames the tarball into place once it has written it all.
                stored = self.npm_storage / name / tarball.rpartition("/")[2]
                while not stored.exists():
                    if time.monotonic() > deadline + 60:
                        raise PackagesError(f"verdaccio did not store {stored}; see {log}")
                    time.sleep(0.1)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _main() -> None:  # pragma: no cover - a manual check: python -m localcluster.packages
    from localcluster.cluster import DEFAULT_BASE_PORT, DEFAULT_STATE_DIR, default_cache_root

    packages = Packages(default_cache_root(), DEFAULT_STATE_DIR / "node" / "packages",
                        Ports(DEFAULT_BASE_PORT + 12, DEFAULT_BASE_PORT + 13))
    packages.prepare()
    print(json.dumps(packages.commands(), indent=2))


if __name__ == "__main__":
    try:
        _main()
    except PackagesError as error:
        raise SystemExit(str(error)) from None
