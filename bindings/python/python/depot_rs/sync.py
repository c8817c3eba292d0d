"""A synchronous layer over the asyncio API, for scripts::

    from depot_rs.sync import Client

    client = Client.connect()
    build = client.build("./app", save=True)
    for event in build:
        print(event["type"], event.get("name", ""))
    print(build.result()["image_digest"])

Each synchronous client runs its calls on an event loop of its own; do not use it from inside
a running event loop (use :mod:`depot_rs` there).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Awaitable, Iterator, List, Optional, Sequence, TypeVar

from . import client as aio
from .build import Build as AsyncBuild
from .client import Credentials, PathArg
from .types import BuildEvent, BuildResult, CiToken, ExchangedToken, Image, Project, PullResult
from .types import PullToken, PushResult
from .types import BuildStep, BuildSummary, CreatedToken, LogLine, ProjectToken, ProjectUsage, Usage

__all__ = ["Client", "Build", "detect_ci_token", "copy_image"]

T = TypeVar("T")


class _Loop:
    """An event loop that runs one awaitable at a time."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapper() -> T:
            return await awaitable

        return self._loop.run_until_complete(wrapper())

    def close(self) -> None:
        self._loop.close()


def _run(awaitable: Awaitable[T]) -> T:
    loop = _Loop()
    try:
        return loop.run(awaitable)
    finally:
        loop.close()


class Build:
    """A running build: iterate it for events, then call :meth:`result`."""

    def __init__(self, loop: _Loop, build: AsyncBuild) -> None:
        self._loop = loop
        self._build = build

    @property
    def build_id(self) -> str:
        """The build's ID."""
        return self._build.build_id

    @property
    def project_id(self) -> str:
        """The build's project."""
        return self._build.project_id

    @property
    def build_url(self) -> str:
        """The build's page on the server (empty when it has none)."""
        return self._build.build_url

    def __iter__(self) -> Iterator[BuildEvent]:
        """The build's events from the first one; iterating again replays them."""
        events = self._build.__aiter__()
        while True:
            try:
                yield self._loop.run(events.__anext__())
            except StopAsyncIteration:
                return

    def result(self) -> BuildResult:
        """Waits for the build to end; returns its result or raises its error."""
        return self._loop.run(self._build.result())

    def cancel(self) -> None:
        """Cancels the build and waits until it has ended."""
        self._loop.run(self._build.cancel())


class Client:
    """The synchronous twin of :class:`depot_rs.Client`; same methods, same results."""

    def __init__(self, loop: _Loop, client: aio.Client) -> None:
        self._loop = loop
        self._client = client

    @classmethod
    def connect(
        cls,
        token: Optional[str] = None,
        api_url: Optional[str] = None,
        project: Optional[str] = None,
        cwd: Optional[PathArg] = None,
    ) -> Client:
        """Resolves configuration like the CLI (see :meth:`depot_rs.Client.connect`)."""
        loop = _Loop()
        return cls(loop, loop.run(aio.Client.connect(token, api_url, project, cwd)))

    @property
    def project(self) -> Optional[str]:
        """The resolved project ID, if any."""
        return self._client.project

    @property
    def api_url(self) -> str:
        """The API's base URL."""
        return self._client.api_url

    def list_projects(self) -> List[Project]:
        """The projects the token can see."""
        return self._loop.run(self._client.list_projects())

    def create_project(self, name: str, **options: Optional[str]) -> Project:
        """Creates a project (``organization_id``, ``region_id``)."""
        return self._loop.run(self._client.create_project(name, **options))

    def pull_token(
        self, *, project: Optional[str] = None, build_id: Optional[str] = None
    ) -> PullToken:
        """A short-lived, read-only registry token."""
        return self._loop.run(self._client.pull_token(project=project, build_id=build_id))

    def build(self, context: PathArg = ".", **options: Any) -> Build:
        """Starts a build (options as :meth:`depot_rs.Client.build`)."""
        return Build(self._loop, self._loop.run(self._client.build(context, **options)))

    def bake(self, targets: Sequence[str] = (), **options: Any) -> Build:
        """Starts a bake (options as :meth:`depot_rs.Client.bake`)."""
        return Build(self._loop, self._loop.run(self._client.bake(targets, **options)))

    def pull(self, reference: str, **options: Any) -> PullResult:
        """Pulls into the Docker Engine or an OCI layout (see :meth:`depot_rs.Client.pull`)."""
        return self._loop.run(self._client.pull(reference, **options))

    def push(self, build_id: str, tags: Sequence[str], **options: Any) -> PushResult:
        """Pushes a saved build to other registries (see :meth:`depot_rs.Client.push`)."""
        return self._loop.run(self._client.push(build_id, tags, **options))

    def list_images(self, *, project: Optional[str] = None) -> List[Image]:
        """The images of the project's registry."""
        return self._loop.run(self._client.list_images(project=project))

    def delete_images(self, tags: Sequence[str], *, project: Optional[str] = None) -> None:
        """Deletes tags from the project's registry."""
        self._loop.run(self._client.delete_images(tags, project=project))

    def get_build(self, build_id: str) -> BuildSummary:
        """A build's summary (see :meth:`depot_rs.Client.get_build`)."""
        return self._loop.run(self._client.get_build(build_id))

    def list_builds(
        self, *, project: Optional[str] = None, limit: Optional[int] = None
    ) -> List[BuildSummary]:
        """The project's builds, newest first."""
        return self._loop.run(self._client.list_builds(project=project, limit=limit))

    def build_steps(self, build_id: str) -> List[BuildStep]:
        """Every step of a build."""
        return self._loop.run(self._client.build_steps(build_id))

    def build_step_logs(self, build_id: str, digest: str) -> List[LogLine]:
        """Every kept line of one step of a build."""
        return self._loop.run(self._client.build_step_logs(build_id, digest))

    def share_build(self, build_id: str) -> str:
        """Shares a build; its link."""
        return self._loop.run(self._client.share_build(build_id))

    def stop_sharing_build(self, build_id: str) -> None:
        """Stops sharing a build."""
        self._loop.run(self._client.stop_sharing_build(build_id))

    def usage(self, *, start: Optional[datetime] = None, end: Optional[datetime] = None) -> Usage:
        """Usage of every project the token administers, in a period."""
        return self._loop.run(self._client.usage(start=start, end=end))

    def project_usage(
        self,
        *,
        project: Optional[str] = None,
        start: Optional[datetime] = None,
        end: Optional[datetime] = None,
    ) -> ProjectUsage:
        """One project's builds in a period."""
        return self._loop.run(self._client.project_usage(project=project, start=start, end=end))

    def list_tokens(self, *, project: Optional[str] = None) -> List[ProjectToken]:
        """The project's tokens."""
        return self._loop.run(self._client.list_tokens(project=project))

    def create_token(self, description: str, *, project: Optional[str] = None) -> CreatedToken:
        """Creates a project token; its secret is shown only now."""
        return self._loop.run(self._client.create_token(description, project=project))

    def update_token(self, token_id: str, description: str) -> None:
        """Changes a project token's description."""
        self._loop.run(self._client.update_token(token_id, description))

    def delete_token(self, token_id: str) -> None:
        """Deletes a project token."""
        self._loop.run(self._client.delete_token(token_id))

    def exchange_ci_token(
        self, *, project: Optional[str] = None, token: Optional[str] = None
    ) -> ExchangedToken:
        """Exchanges a CI job's OIDC token for a short-lived project token."""
        return self._loop.run(self._client.exchange_ci_token(project=project, token=token))

    def close(self) -> None:
        """Closes the client's event loop."""
        self._loop.close()


def detect_ci_token(*, audience: Optional[str] = None) -> Optional[CiToken]:
    """The CI job's OIDC token, or ``None`` outside CI."""
    return _run(aio.detect_ci_token(audience=audience))


def copy_image(
    source: str,
    destinations: Sequence[str],
    *,
    source_credentials: Optional[Credentials] = None,
    destination_credentials: Optional[Credentials] = None,
) -> PushResult:
    """Copies an image between registries; returns its digest."""
    return _run(
        aio.copy_image(
            source,
            destinations,
            source_credentials=source_credentials,
            destination_credentials=destination_credentials,
        )
    )
