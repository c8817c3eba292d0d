"""What the public API tells about builds, usage and project tokens, through the package: a
finished build's steps and a step's log, its summary (time saved by a cached rebuild), a share
link that works until sharing stops, usage, and a project token's life."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import depot_rs
from depot_rs import sync

from conftest import Server, make_context


def fetch_status(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


async def test_steps_logs_summary_share_usage_and_tokens(api: Server, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    contexts = make_context(tmp_path, f"RUN echo insight-{marker} && sleep 1\n")
    client = await depot_rs.Client.connect()

    async def build() -> str:
        handle = await client.build(tmp_path / "context", build_contexts=contexts)
        await handle.result()
        return handle.build_id

    first = await build()
    steps = await client.build_steps(first)
    run = next(s for s in steps if f"insight-{marker}" in s["name"])
    assert run["has_logs"] and not run["cached"]
    assert isinstance(run["started_at"], datetime) and isinstance(run["completed_at"], datetime)
    lines = await client.build_step_logs(first, run["digest"])
    assert any(line["message"].endswith(f"insight-{marker}") for line in lines), lines
    assert all(isinstance(line["timestamp"], datetime) for line in lines)

    second = await build()
    summary = await client.get_build(second)
    assert summary["status"] == "success"
    assert (summary["cached_steps"] or 0) >= 2, summary
    assert (summary["saved_duration_seconds"] or 0) >= 1, summary
    assert [b["build_id"] for b in await client.list_builds(limit=2)] == [second, first]

    link = await client.share_build(first)
    status, page = fetch_status(link)
    assert status == 200 and f"insight-{marker}" in page
    await client.stop_sharing_build(first)
    assert fetch_status(link)[0] == 404

    usage = await client.usage()
    assert isinstance(usage["period_start"], datetime)
    assert sum(u["build_count"] for u in usage["container_builds"]) >= 2, usage
    assert sum(u["minutes_saved"] for u in usage["container_builds"]) > 0, usage
    an_hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    project_usage = await client.project_usage(start=an_hour_ago)
    assert project_usage["project_id"] == api.project_id
    assert project_usage["build_count"] >= 2

    created = await client.create_token("python ci")
    as_token = await depot_rs.Client.connect(token=created["secret"])
    assert len(await as_token.list_builds(limit=1)) == 1
    await client.update_token(created["token_id"], "python ci (renamed)")
    mine = [t for t in await client.list_tokens() if t["token_id"] == created["token_id"]]
    assert mine == [{"token_id": created["token_id"], "description": "python ci (renamed)"}]
    await client.delete_token(created["token_id"])
    with pytest.raises(depot_rs.AuthError):
        await as_token.list_builds()


def test_the_sync_layer_reads_builds_and_tokens(api: Server) -> None:
    client = sync.Client.connect()
    created = client.create_token("sync")
    assert any(t["token_id"] == created["token_id"] for t in client.list_tokens())
    client.delete_token(created["token_id"])
    assert not any(t["token_id"] == created["token_id"] for t in client.list_tokens())
    assert isinstance(client.list_builds(), list)
    client.close()
