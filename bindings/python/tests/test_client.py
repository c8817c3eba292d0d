"""Client, projects, pull tokens, errors, the fork-safe runtime and the bundled CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import depot_rs
from depot_rs.sync import Client as SyncClient

from conftest import Server


def test_the_package_is_the_installed_one() -> None:
    source_tree = Path(__file__).resolve().parents[1]
    assert source_tree not in Path(depot_rs.__file__).resolve().parents
    assert "site-packages" in depot_rs.__file__


async def test_connect_resolves_like_the_cli(api: Server, tmp_path: Path) -> None:
    client = await depot_rs.Client.connect()
    assert client.api_url == api.url
    assert client.project == api.project_id

    # Flags win over the environment; the project file is found upward from cwd.
    (tmp_path / "depot.json").write_text(json.dumps({"id": "from-file"}))
    (tmp_path / "sub").mkdir()
    os.environ.pop("DEPOT_PROJECT_ID")
    client = await depot_rs.Client.connect(cwd=tmp_path / "sub")
    assert client.project == "from-file"
    client = await depot_rs.Client.connect(project="from-flag", cwd=tmp_path / "sub")
    assert client.project == "from-flag"


async def test_projects_and_pull_tokens(api: Server) -> None:
    client = await depot_rs.Client.connect()
    projects = await client.list_projects()
    assert api.project_id in [p["id"] for p in projects]
    assert all(p["org_id"] and p["org_name"] for p in projects), projects

    created = await client.create_project("from-python")
    assert created["name"] == "from-python"
    assert created["org_name"] is None
    assert created["id"] in [p["id"] for p in await client.list_projects()]

    token = await client.pull_token()
    assert token["token"].startswith("dpl_")
    assert token["registry_host"] == api.host


async def test_errors_are_typed_with_codes_and_causes(api: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEPOT_TOKEN")
    with pytest.raises(depot_rs.AuthError) as missing:
        await depot_rs.Client.connect()
    assert missing.value.code == "unauthenticated"

    bad = await depot_rs.Client.connect(token="dpu_not-a-token")
    with pytest.raises(depot_rs.AuthError) as refused:
        await bad.list_projects()
    assert refused.value.code == "unauthenticated"

    client = await depot_rs.Client.connect(token=api.token)
    with pytest.raises(depot_rs.NotFoundError) as unknown:
        await client.push("no-such-build", ["127.0.0.1:1/x:y"])
    assert unknown.value.code == "not_found"
    assert isinstance(unknown.value, depot_rs.DepotError)

    monkeypatch.delenv("DEPOT_PROJECT_ID")
    no_project = await depot_rs.Client.connect(token=api.token, cwd="/")
    with pytest.raises(depot_rs.ConfigError) as config:
        await no_project.list_images()
    assert config.value.code == "config"

    unreachable = await depot_rs.Client.connect(token=api.token, api_url="http://127.0.0.1:1")
    with pytest.raises(depot_rs.DepotError) as down:
        await unreachable.list_projects()
    assert down.value.code == "unavailable"
    assert isinstance(down.value.__cause__, depot_rs.DepotError)


def test_an_error_is_never_lost_when_its_class_cannot_be_made() -> None:
    # With depot_rs.errors unimportable, the failure still arrives: its code and message, and
    # why the class could not be made as the cause.
    script = (
        "import asyncio, sys, depot_rs\n"
        "sys.modules['depot_rs.errors'] = None\n"
        "try:\n"
        "    asyncio.run(depot_rs.copy_image('127.0.0.1:1/a:b', []))\n"
        "except RuntimeError as error:\n"
        "    print(type(error.__cause__).__name__, error)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        "ModuleNotFoundError invalid_argument: name at least one destination to copy to"
    ), out


def test_the_sync_layer(api: Server) -> None:
    client = SyncClient.connect()
    assert api.project_id in [p["id"] for p in client.list_projects()]
    assert client.pull_token()["registry_host"] == api.host
    client.close()


def test_a_forked_child_gets_a_fresh_runtime(api: Server) -> None:
    # The parent's runtime is running (its threads exist only in the parent).
    asyncio.run(depot_rs.Client.connect())
    pid = os.fork()
    if pid == 0:
        try:
            client = SyncClient.connect()
            ok = api.project_id in [p["id"] for p in client.list_projects()]
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's runtime still works.
    assert asyncio.run(depot_rs.Client.connect()).project == api.project_id


def test_the_depot_command_runs_the_bundled_cli(api: Server) -> None:
    # The console script pip installed next to this interpreter.
    depot = str(Path(sys.executable).parent / "depot")
    assert Path(depot_rs.binary_path()).is_file()
    out = subprocess.run(
        [depot, "list", "projects", "--output", "json"], capture_output=True, text=True, check=True
    ).stdout
    assert api.project_id in [p["id"] for p in json.loads(out)]


EXITING = """
import asyncio, depot_rs
async def main():
    client = await depot_rs.Client.connect()
    await client.list_projects()
    builder = await client.acquire_builder()
    await builder.release()
asyncio.run(main())
"""


def test_the_interpreter_exits_cleanly_after_using_the_runtime(api: Server) -> None:
    # Runtime threads outliving the interpreter crashed about one exit in three; the package
    # stops them at exit. Several runs, so a regression shows.
    for _ in range(8):
        run = subprocess.run([sys.executable, "-c", EXITING], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
