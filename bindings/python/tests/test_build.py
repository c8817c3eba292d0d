"""Builds against depot-server and Docker Engine 26's BuildKit: events, result, save, pull
(Docker and OCI layout), push to a second registry, list/delete, failure and cancellation."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, cast

import pytest

import depot_rs
from depot_rs import sync
from depot_rs.types import BuildEvent, RegistryProgress

from conftest import Server, make_context, unique_image

STEPS = (
    "RUN echo first-step-line-1 && echo first-step-line-2\n"
    "RUN echo second-step > /tmp/second && cat /tmp/second\n"
)


def step_index(events: List[BuildEvent], kind: str, name_part: str) -> int:
    """The position of the first `kind` event of the step whose name contains `name_part`."""
    for i, event in enumerate(events):
        if event["type"] == kind and name_part in str(event.get("name", "")):
            return i
    raise AssertionError(f"no {kind} for {name_part}: {[e['type'] for e in events]}")


def log_index(events: List[BuildEvent], vertex: str, text: str) -> int:
    for i, event in enumerate(events):
        if event["type"] == "log" and event["vertex"] == vertex and text in event["text"]:
            return i
    raise AssertionError(f"no log {text!r} of {vertex}")


async def test_build_streams_events_saves_pulls_and_pushes(
    api: Server, tmp_path: Path, registry: str
) -> None:
    contexts = make_context(tmp_path, STEPS)
    client = await depot_rs.Client.connect()
    build = await client.build(
        tmp_path / "context", build_contexts=contexts, save=True, save_tags=["py-latest"]
    )
    assert build.build_id
    assert build.project_id == api.project_id
    assert build.build_id in build.build_url
    events = [event async for event in build]
    result = await build.result()
    # Iterating again replays every event, as in the Node package.
    assert [event async for event in build] == events

    # Step names and logs arrive in order: each RUN starts, logs its lines, completes; the
    # second runs after the first.
    first_started = step_index(events, "vertex_started", "RUN echo first-step")
    first = events[first_started]["vertex"]  # type: ignore[typeddict-item]
    line_1 = log_index(events, first, "first-step-line-1")
    line_2 = log_index(events, first, "first-step-line-2")
    first_done = step_index(events, "vertex_completed", "RUN echo first-step")
    second_started = step_index(events, "vertex_started", "RUN echo second-step")
    second = events[second_started]["vertex"]  # type: ignore[typeddict-item]
    second_log = log_index(events, second, "second-step")
    second_done = step_index(events, "vertex_completed", "RUN echo second-step")
    assert first_started < line_1 <= line_2 < first_done < second_started < second_log < second_done
    assert step_index(events, "vertex_completed", "[depot] connecting to") < first_started

    # The result: build, digest, saved tags and the --metadata-file JSON.
    digest = result["image_digest"]
    assert digest is not None and digest.startswith("sha256:")
    assert result["build_id"] == build.build_id
    assert result["project_id"] == api.project_id
    assert f"{api.host}/{api.project_id}:{build.build_id}" in result["saved_tags"]
    assert f"{api.host}/{api.project_id}:py-latest" in result["saved_tags"]
    assert result["metadata"]["containerimage.digest"] == digest
    assert result["metadata"]["depot.build"] == {
        "buildID": build.build_id,
        "projectID": api.project_id,
    }
    assert api.build_status(build.build_id) == "finished"

    # Pulled back into an OCI layout and into the Docker Engine: the same image.
    layout = tmp_path / "layout"
    pulled = await client.pull(build.build_id, oci_layout=layout, tags=["app"])
    assert pulled["digest"] == digest
    index = json.loads((layout / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [digest]
    name = unique_image("python-pull")
    await client.pull(build.build_id, tags=[name])
    docker_id = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", name],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert docker_id == digest
    # A project tag pulls too.
    by_tag = await client.pull("py-latest", oci_layout=tmp_path / "by-tag")
    assert by_tag["digest"] == digest
    # A bake target of a plain build is refused, saying why.
    with pytest.raises(depot_rs.DepotError, match=r'has no bake target "web" \(it is not a bake build\)') as no_target:
        await client.pull(build.build_id, target="web", oci_layout=layout)
    assert no_target.value.code == "invalid_argument"

    # Pushed to a second registry: same digest there.
    destination = f"{registry}/team/app:v1"
    progress: List[RegistryProgress] = []
    pushed = await client.push(build.build_id, [destination], progress=progress.append)
    assert pushed == {"digest": digest}
    # Its progress, per blob, ending with the manifest, all delivered before the result.
    done = [e for e in progress if e["type"] == "blob_done"]
    assert len(done) >= 2, progress
    assert all(e["target"] == destination and e["digest"].startswith("sha256:") for e in done)
    assert any(e["transfer"] == "copied" for e in done), done
    assert progress[-1] == {"type": "manifest", "target": destination, "digest": digest}
    request = urllib.request.Request(
        f"http://{registry}/v2/team/app/manifests/v1",
        method="HEAD",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(request) as response:
        assert response.headers["Docker-Content-Digest"] == digest
    copied = await depot_rs.copy_image(f"{registry}/team/app:v1", [f"{registry}/other/app:v2"])
    assert copied == {"digest": digest}
    with pytest.raises(depot_rs.DepotError) as nowhere:
        await depot_rs.copy_image(f"{registry}/team/app:v1", [])
    assert nowhere.value.code == "invalid_argument"

    # Listed, deleted, gone.
    tags = [image["tag"] for image in await client.list_images()]
    assert "py-latest" in tags and build.build_id in tags
    await client.delete_images(["py-latest"])
    assert "py-latest" not in [image["tag"] for image in await client.list_images()]


async def test_a_two_platform_build_runs_a_builder_per_architecture(
    api: Server, tmp_path: Path
) -> None:
    # COPY only (a file per architecture): no emulation needed on the arm64 builder.
    context = tmp_path / "multi"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}.txt /arch.txt\n")
    for arch in ("amd64", "arm64"):
        (context / f"{arch}.txt").write_text(f"built for {arch}\n")
    client = await depot_rs.Client.connect()
    build = await client.build(context, platforms=["linux/amd64", "linux/arm64"], save=True)
    events = [event async for event in build]
    result = await build.result()
    started = [str(e.get("name", "")) for e in events if e["type"] == "vertex_started"]
    assert "[depot] connecting to amd64 builder" in started, started
    assert "[depot] connecting to arm64 builder" in started, started
    for platform in ("linux/amd64", "linux/arm64"):
        assert any(
            e["type"] == "vertex_completed" and f"[{platform}" in str(e.get("name", ""))
            for e in events
        ), (platform, started)

    # One index: each platform pulls its own image, with its own file.
    digests = {}
    for arch in ("amd64", "arm64"):
        layout = tmp_path / f"layout-{arch}"
        pulled = await client.pull(build.build_id, oci_layout=layout, platform=f"linux/{arch}")

        def blob(digest: str) -> Dict[str, Any]:
            return cast(Dict[str, Any], json.loads((layout / "blobs/sha256" / digest[7:]).read_text()))

        config = blob(blob(pulled["digest"])["config"]["digest"])
        assert config["architecture"] == arch
        digests[arch] = pulled["digest"]
    assert digests["amd64"] != digests["arm64"]
    assert result["image_digest"] not in digests.values()


BAKE_FILE = """
variable "GREETING" { default = "unset" }
group "default" { targets = ["app"] }
target "base" { dockerfile = "base.Dockerfile" }
target "app" {
  contexts = { base = "target:base" }
  dockerfile-inline = "FROM base\\nCOPY app.txt /app.txt\\n"
  labels = { greeting = "${GREETING}" }
}
"""


async def test_a_bake_builds_its_targets_with_events_naming_their_target(
    api: Server, tmp_path: Path
) -> None:
    project = tmp_path / "bake"
    project.mkdir()
    (project / "docker-bake.hcl").write_text(BAKE_FILE)
    (project / "base.Dockerfile").write_text("FROM scratch\nCOPY base.txt /base.txt\n")
    (project / "base.txt").write_text("the base\n")
    (project / "app.txt").write_text("the app\n")
    name = unique_image("py-bake")
    client = await depot_rs.Client.connect()
    bake = await client.bake(
        dir=project,
        files=["docker-bake.hcl"],
        variables={"GREETING": "hello from python"},
        set=[f"app.tags={name}"],
        save=True,
        load=True,
    )
    events = [event async for event in bake]
    result = await bake.result()
    assert result["targets"] == ["app", "base"]
    assert result["metadata"]["depot.build"] == {
        "buildID": bake.build_id,
        "projectID": api.project_id,
    }
    for target in ("app", "base"):
        assert result["metadata"][target]["containerimage.digest"].startswith("sha256:")
        assert any(
            e.get("target") == target
            and e["type"] == "vertex_completed"
            and "COPY" in str(e.get("name", ""))
            for e in events
        ), (target, events)
    assert all(
        "target" not in e
        for e in events
        if e["type"] == "vertex_started" and str(e.get("name", "")).startswith("[depot]")
    )

    # Each target pulls back; app is built on base's layer, labelled from the variable.
    layers = {}
    for target in ("app", "base"):
        layout = tmp_path / f"bake-{target}"
        pulled = await client.pull(bake.build_id, target=target, oci_layout=layout)

        def blob(digest: str) -> Dict[str, Any]:
            return cast(Dict[str, Any], json.loads((layout / "blobs/sha256" / digest[7:]).read_text()))

        manifest = blob(pulled["digest"])
        layers[target] = [layer["digest"] for layer in manifest["layers"]]
        if target == "app":
            labels = blob(manifest["config"]["digest"])["config"]["Labels"]
            assert labels["greeting"] == "hello from python"
    assert len(layers["app"]) == 2 and layers["app"][0] == layers["base"][0]
    # load: the tagged target is in the Docker Engine.
    subprocess.run(["docker", "image", "inspect", name], check=True, capture_output=True)


async def test_a_bake_file_that_does_not_evaluate_names_its_line_and_column(
    api: Server, tmp_path: Path
) -> None:
    client = await depot_rs.Client.connect()
    with pytest.raises(depot_rs.DepotError) as failed:
        await client.bake(definition='target "app" {\n  tags = [UNDEFINED]\n}\n', dir=tmp_path)
    assert failed.value.code == "invalid_argument"
    assert str(failed.value).startswith('inline:2:3: target "app": tags:'), str(failed.value)


async def test_a_failing_build_raises_build_failed_with_the_step_log(
    api: Server, tmp_path: Path
) -> None:
    contexts = make_context(tmp_path, "RUN echo about-to-fail && exit 3\n")
    client = await depot_rs.Client.connect()
    build = await client.build(tmp_path / "context", build_contexts=contexts)
    events = [event async for event in build]
    with pytest.raises(depot_rs.BuildFailed) as failed:
        await build.result()
    error = failed.value
    assert error.code == "build_failed"
    assert error.build_id == build.build_id
    assert error.step is not None and "RUN echo about-to-fail" in error.step
    assert error.exit_code == 3
    assert any("about-to-fail" in line for line in error.logs)
    assert step_index(events, "vertex_errored", "RUN echo about-to-fail") >= 0
    assert api.build_status(build.build_id) == "failed"


async def test_cancelling_the_task_cancels_the_build_on_the_server(
    api: Server, tmp_path: Path
) -> None:
    contexts = make_context(tmp_path, "RUN echo sleeping-now && sleep 300\n")
    client = await depot_rs.Client.connect()
    build = await client.build(tmp_path / "context", build_contexts=contexts)
    sleeping = asyncio.Event()

    async def follow() -> None:
        async for event in build:
            if event["type"] == "log" and "sleeping-now" in event["text"]:
                sleeping.set()

    task = asyncio.create_task(follow())
    await sleeping.wait()
    assert api.build_status(build.build_id) == "running"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Cancelling the task waited until the server knew.
    assert api.build_status(build.build_id) == "canceled"
    with pytest.raises(depot_rs.BuildCanceled) as canceled:
        await build.result()
    assert canceled.value.code == "canceled"


async def test_a_builder_can_be_acquired_and_released(api: Server) -> None:
    client = await depot_rs.Client.connect()
    builder = await client.acquire_builder()
    assert builder.endpoint.startswith("tcp://127.0.0.1:")
    assert builder.ca_pem is not None and "BEGIN CERTIFICATE" in builder.ca_pem
    assert builder.cert_pem is not None and "BEGIN CERTIFICATE" in builder.cert_pem
    assert builder.key_pem is not None and "PRIVATE KEY" in builder.key_pem
    assert builder.server_name
    assert api.build_status(builder.build_id) == "running"
    await builder.release()
    assert api.build_status(builder.build_id) == "finished"
    # Released as canceled, it is reported so.
    canceled = await client.acquire_builder()
    await canceled.release("canceled")
    assert api.build_status(canceled.build_id) == "canceled"


async def test_a_builder_garbage_collected_unreleased_is_reported_canceled(api: Server) -> None:
    client = await depot_rs.Client.connect()
    builder = await client.acquire_builder()
    build_id = builder.build_id
    del builder
    gc.collect()
    # The report goes out in the background; wait for it (bounded).
    for _ in range(100):
        if api.build_status(build_id) == "canceled":
            break
        await asyncio.sleep(0.1)
    assert api.build_status(build_id) == "canceled"


def test_a_build_with_the_sync_layer_build_args_and_a_local_output(
    api: Server, tmp_path: Path
) -> None:
    contexts = make_context(tmp_path, "ARG WHO\nRUN echo hello-$WHO > /tmp/greeting && cat /tmp/greeting\n")
    client = sync.Client.connect()
    out = tmp_path / "out"
    build = client.build(
        tmp_path / "context",
        build_contexts=contexts,
        build_args={"WHO": "from-a-script"},
        outputs=[f"type=local,dest={out}"],
    )
    logs = [e["text"] for e in build if e["type"] == "log"]
    assert any("hello-from-a-script" in text for text in logs)
    result = build.result()
    assert result["build_id"] == build.build_id
    assert (out / "tmp" / "greeting").read_text() == "hello-from-a-script\n"
    client.close()


async def test_an_output_to_standard_output_is_refused(api: Server, tmp_path: Path) -> None:
    contexts = make_context(tmp_path, "RUN true\n")
    client = await depot_rs.Client.connect()
    with pytest.raises(depot_rs.DepotError) as refused:
        await client.build(
            tmp_path / "context", build_contexts=contexts, outputs=["type=tar,dest=-"]
        )
    assert refused.value.code == "invalid_argument"
    assert "dest=-" in refused.value.message
    # Flags fail like the CLI's, with the same message.
    with pytest.raises(depot_rs.DepotError) as bad_label:
        await client.build(tmp_path / "context", labels={"": "x"})
    assert str(bad_label.value) == 'invalid --label "=x": expected KEY=VALUE'


async def test_registry_failures_raise_registry_errors(api: Server, tmp_path: Path) -> None:
    client = await depot_rs.Client.connect()
    with pytest.raises(depot_rs.RegistryError) as missing:
        await client.pull("no-such-tag", oci_layout=tmp_path / "layout")
    assert missing.value.code == "registry"
    with pytest.raises(depot_rs.RegistryError) as unreachable:
        await depot_rs.copy_image("127.0.0.1:1/a:b", ["127.0.0.1:1/c:d"])
    assert unreachable.value.code == "registry"
    assert unreachable.value.__cause__ is not None
