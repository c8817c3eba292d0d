"""Uses the public API the way an application would, for `mypy --strict` (scripts/test.sh):
every call, result and error below must type-check against the installed package."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import List, Optional

import depot_rs
from depot_rs import sync
from depot_rs.types import (
    BuildEvent,
    BuildResult,
    BuildStep,
    BuildSummary,
    CiToken,
    Image,
    LogLine,
    ProjectToken,
    Usage,
    Project,
    PushResult,
    RegistryProgress,
)


async def build_and_ship(registry: str) -> Optional[str]:
    client = await depot_rs.Client.connect(project="proj", api_url="http://127.0.0.1:8080")
    projects: List[Project] = await client.list_projects()
    names: List[str] = [p["name"] for p in projects]
    orgs: List[Optional[str]] = [p["org_name"] for p in projects]
    token: str = (await client.pull_token())["token"]
    build: depot_rs.Build = await client.build(
        ".", tags=["app:1"], build_args={"V": "1"}, save=True, platforms=["linux/amd64"]
    )
    async for event in build:
        handle(event)
    try:
        result: BuildResult = await build.result()
    except depot_rs.BuildFailed as failed:
        step: Optional[str] = failed.step
        lines: List[str] = failed.logs
        exit_code: Optional[int] = failed.exit_code
        print(step, lines, exit_code, failed.code, failed.build_id, failed.__cause__)
        return None
    except depot_rs.BuildCanceled:
        return None
    digest: Optional[str] = result["image_digest"]
    await client.pull(result["build_id"], oci_layout="./layout", tags=["app"])
    def show(event: RegistryProgress) -> None:
        if event["type"] == "blob_done":
            print(event["target"], event.get("digest"), event.get("transfer"))

    pushed: PushResult = await client.push(
        result["build_id"], [f"{registry}/app:1"], target="web", credentials=("u", "p"), progress=show
    )
    images: List[Image] = await client.list_images()
    when: Optional[datetime] = images[0]["pushed_at"] if images else None
    await client.delete_images(["v1"])
    builds: List[BuildSummary] = await client.list_builds(limit=5)
    summary = await client.get_build(builds[0]["build_id"])
    saved: Optional[int] = summary["saved_duration_seconds"]
    steps: List[BuildStep] = await client.build_steps(summary["build_id"])
    step_log: List[LogLine] = await client.build_step_logs(summary["build_id"], steps[0]["digest"])
    printed: Optional[datetime] = step_log[0]["timestamp"]
    link: str = await client.share_build(summary["build_id"])
    await client.stop_sharing_build(summary["build_id"])
    usage: Usage = await client.usage(start=datetime(2026, 1, 1))
    minutes: float = usage["container_builds"][0]["minutes_saved"]
    count: int = (await client.project_usage(project="proj"))["build_count"]
    created = await client.create_token("ci")
    await client.update_token(created["token_id"], "ci (renamed)")
    tokens: List[ProjectToken] = await client.list_tokens()
    await client.delete_token(created["token_id"])
    print(saved, printed, link, minutes, count, created["secret"], tokens)
    builder = await client.acquire_builder(platform="linux/amd64")
    endpoint: str = builder.endpoint
    await builder.release("error", "the tests failed")
    ci: Optional[CiToken] = await depot_rs.detect_ci_token(audience="https://depot.dev")
    if ci is not None:
        exchanged = await client.exchange_ci_token(token=ci["token"])
        expires: Optional[datetime] = exchanged["expires_at"]
        print(expires)
    bake: depot_rs.Build = await client.bake(
        ["app"], files=["docker-bake.hcl"], set=["*.platform=linux/amd64"], variables={"T": "1"}
    )
    async for event in bake:
        target: Optional[str] = event.get("target")
        print(target, event["type"])
    baked: BuildResult = await bake.result()
    targets: List[str] = baked["targets"]
    print(targets)
    copied: PushResult = await depot_rs.copy_image("a.example/app:1", ["b.example/app:1"])
    print(names, orgs, token, pushed["digest"], copied["digest"], when, endpoint)
    print(build.build_url, depot_rs.binary_path())
    return digest


def handle(event: BuildEvent) -> None:
    if event["type"] == "log":
        text: str = event["text"]
        print(text, end="")
    elif event["type"] == "vertex_errored":
        error: str = event["error"]
        print(event["name"], error)


def script() -> str:
    client = sync.Client.connect()
    recent: List[BuildSummary] = client.list_builds(limit=1)
    logged: List[LogLine] = client.build_step_logs(recent[0]["build_id"], "sha256:…")
    print(len(logged), client.usage()["period_end"], client.list_tokens())
    build = client.bake(definition='target "default" {}', save=True)
    build = client.build(".", save=True)
    for event in build:
        handle(event)
    try:
        return build.result()["build_id"]
    except depot_rs.DepotError as err:
        code: str = err.code
        return code


if __name__ == "__main__":
    print(asyncio.run(build_and_ship("127.0.0.1:5000")), script())
