"""Fixtures: a real depot-server (built from this workspace) on a loopback port, bootstrapped
with an organization, user, project and token; a CNCF distribution registry; build contexts
that need no base image (FROM scratch plus a busybox root file system)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

BIN_DIR = Path(os.environ.get("DEPOT_RS_BIN_DIR", Path(__file__).parents[3] / "target" / "debug"))
TOOLS = ["sh", "cat", "echo", "ls", "sleep", "mkdir", "test", "uname"]


@dataclass
class Server:
    url: str
    data_dir: Path
    project_id: str
    token: str
    org_id: str

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]

    def admin(self, *args: str) -> str:
        out = subprocess.run(
            [str(BIN_DIR / "depot-server"), *args, "--database-url", str(self.data_dir / "depot.db")],
            env={**os.environ, "DEPOT_SERVER_DATA_DIR": str(self.data_dir), "DEPOT_SERVER_LOG": "warn"},
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout

    def build_status(self, build_id: str) -> str:
        shown: Dict[str, Any] = json.loads(self.admin("build", "show", build_id, "--output", "json"))
        return str(shown["status"])


@contextmanager
def start_server(*extra_args: str) -> Iterator[Server]:
    """A depot-server on a free loopback port with a fresh database, bootstrapped."""
    data_dir = Path(tempfile.mkdtemp(prefix="depot-rs-py-"))
    env = {**os.environ, "DEPOT_SERVER_DATA_DIR": str(data_dir), "DEPOT_SERVER_LOG": "warn"}
    db = ["--database-url", str(data_dir / "depot.db")]
    process = subprocess.Popen(
        [str(BIN_DIR / "depot-server"), "--listen", "127.0.0.1:0", *db, *extra_args],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("depot-server listening on "):
                url = line.split(" on ", 1)[1].strip()
                break
        assert url, "depot-server did not report its address"
        boot = json.loads(
            subprocess.run(
                [str(BIN_DIR / "depot-server"), "bootstrap", "--user", "alice", "--output", "json", *db],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        yield Server(url, data_dir, boot["project_id"], boot["token"], boot["org_id"])
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    # arm64 builders that are really this host's engines (testing only), for two-platform builds.
    with start_server("--builder-test-arch", "arm64") as started:
        yield started


@pytest.fixture
def api(server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Server:
    """The server as the environment's API: DEPOT_API_URL, DEPOT_TOKEN, DEPOT_PROJECT_ID, and a
    HOME of its own (no user config)."""
    monkeypatch.setenv("DEPOT_API_URL", server.url)
    monkeypatch.setenv("DEPOT_TOKEN", server.token)
    monkeypatch.setenv("DEPOT_PROJECT_ID", server.project_id)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return server


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A CNCF distribution registry on a loopback port; yields its host:port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = f"127.0.0.1:{port}"
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {tmp_path / 'registry'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {host}\n"
    )
    process = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield host
    finally:
        process.kill()
        process.wait()


def make_context(directory: Path, steps: str) -> Dict[str, str]:
    """Writes a Dockerfile running `steps` on a busybox root file system into `directory`;
    returns the build contexts the build needs. Each root file system is unique, so a canceled
    build's cache never reaches another test."""
    rootfs = directory / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
    for tool in TOOLS:
        (rootfs / "bin" / tool).symlink_to("busybox")
    (rootfs / "tmp").mkdir()
    (rootfs / "etc").mkdir()
    (rootfs / "etc" / "depot-rs-test").write_text(uuid.uuid4().hex)
    context = directory / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM scratch\nCOPY --from=rootfs / /\n{steps}")
    return {"rootfs": str(rootfs)}


def unique_image(base: str) -> str:
    """A local image name no other test uses (scripts/test.sh removes them at the end)."""
    return f"depot-rs-test/{base}:{uuid.uuid4().hex[:12]}"
