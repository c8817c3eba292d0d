"""The asyncio client."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from os import PathLike
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union, cast

from . import _native
from .build import Build
from .types import (
    BuildStep,
    BuildSummary,
    CiToken,
    CreatedToken,
    ExchangedToken,
    Image,
    LogLine,
    Project,
    ProjectToken,
    ProjectUsage,
    PullResult,
    PullToken,
    PushResult,
    RegistryProgress,
    Usage,
)

__all__ = ["Client", "AcquiredBuilder", "detect_ci_token", "copy_image"]

PathArg = Union[str, "PathLike[str]"]
Credentials = Tuple[str, str]
AcquiredBuilder = _native.AcquiredBuilder
"""A builder held for one build: ``build_id``, ``project_id``, ``endpoint``
(``tcp://host:port``), ``server_name``, ``ca_pem``, ``cert_pem``, ``key_pem``, and
``await release(outcome=None, error=None)`` (``success``, ``error`` or ``canceled``)."""


ProgressCallback = Callable[[RegistryProgress], None]
"""Called with each progress event of a registry transfer."""


def _on_loop(progress: Optional[ProgressCallback]) -> Optional[ProgressCallback]:
    """``progress``, called on the running event loop (the native side reports from its own
    threads); every event arrives before the transfer's result."""
    if progress is None:
        return None
    loop = asyncio.get_running_loop()

    def deliver(event: RegistryProgress) -> None:
        loop.call_soon_threadsafe(progress, event)

    return deliver


def _timestamp(seconds: Optional[float]) -> Optional[datetime]:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=timezone.utc)


_TIME_KEYS = ("timestamp", "period_start", "period_end")


def _with_datetimes(value: Dict[str, Any]) -> Dict[str, Any]:
    """``value`` with its millisecond time fields (``*_at``, ``timestamp``, ``period_*``) as
    ``datetime``s."""
    for key, field in value.items():
        if key.endswith("_at") or key in _TIME_KEYS:
            value[key] = None if field is None else _timestamp(field / 1000)
    return value


def _optional_ms(moment: Optional[datetime]) -> Optional[int]:
    return None if moment is None else int(moment.timestamp() * 1000)


class Client:
    """A client of a Depot API: a self-hosted depot-server or Depot's hosted API.

    Create one with :meth:`connect`, which resolves the URL, token and project exactly like the
    ``depot`` CLI.
    """

    def __init__(self, native: _native.Client) -> None:
        self._native = native

    @classmethod
    async def connect(
        cls,
        token: Optional[str] = None,
        api_url: Optional[str] = None,
        project: Optional[str] = None,
        cwd: Optional[PathArg] = None,
    ) -> Client:
        """Resolves configuration like the CLI: ``token``, else ``DEPOT_TOKEN``, the token
        ``depot login`` stored, the CI job's OIDC token, ``DEPOT_JIT_TOKEN``; ``api_url``, else
        ``DEPOT_API_URL``, else Depot's API; ``project``, else ``DEPOT_PROJECT_ID``, else the
        nearest ``depot.json`` above ``cwd`` (default: the working directory).

        Raises :class:`AuthError` when no token is found.
        """
        return cls(await _native.Client.connect(token, api_url, project, cwd))

    @property
    def project(self) -> Optional[str]:
        """The resolved project ID, if any."""
        return self._native.project

    @property
    def api_url(self) -> str:
        """The API's base URL."""
        return self._native.api_url

    async def list_projects(self) -> List[Project]:
        """The projects the token can see."""
        return cast(List[Project], await self._native.list_projects())

    async def create_project(
        self,
        name: str,
        *,
        organization_id: Optional[str] = None,
        region_id: Optional[str] = None,
    ) -> Project:
        """Creates a project (in the token's organization unless ``organization_id``)."""
        created = await self._native.create_project(
            name, organization_id=organization_id, region_id=region_id
        )
        return cast(Project, created)

    async def pull_token(
        self, *, project: Optional[str] = None, build_id: Optional[str] = None
    ) -> PullToken:
        """A short-lived, read-only registry token for a project, or for one build's image."""
        return cast(PullToken, await self._native.pull_token(project=project, build_id=build_id))

    async def build(
        self,
        context: PathArg = ".",
        *,
        dockerfile: Optional[PathArg] = None,
        tags: Sequence[str] = (),
        build_args: Optional[Mapping[str, str]] = None,
        target: Optional[str] = None,
        platforms: Sequence[str] = (),
        no_cache: bool = False,
        no_cache_filter: Sequence[str] = (),
        save: bool = False,
        save_tags: Sequence[str] = (),
        push: bool = False,
        load: bool = False,
        outputs: Sequence[str] = (),
        labels: Optional[Mapping[str, str]] = None,
        build_contexts: Optional[Mapping[str, str]] = None,
        secrets: Sequence[str] = (),
        ssh: Sequence[str] = (),
        cache_from: Sequence[str] = (),
        cache_to: Sequence[str] = (),
        add_hosts: Sequence[str] = (),
        network: Optional[str] = None,
        allow: Sequence[str] = (),
        build_platform: Optional[str] = None,
        provenance: Optional[str] = None,
        sbom: Optional[str] = None,
        lint: bool = False,
        project: Optional[str] = None,
    ) -> Build:
        """Starts a build, like ``depot build``: acquires a builder, sends the context and
        returns a :class:`Build` once the server registered it.

        The options are ``depot build``'s flags, parsed by the same Rust code as the CLI's:
        ``outputs``, ``secrets``, ``ssh``, ``cache_from`` and ``cache_to`` take the flags' syntax
        (``type=local,dest=out``, ``id=npm,src=.npmrc``); an output to standard output
        (``dest=-``) raises :class:`DepotError` with code ``invalid_argument``;
        ``build_contexts`` maps names to directories or ``docker-image://`` references;
        ``save``/``save_tags`` keep the image in the project's registry; ``load`` pulls it into
        the Docker Engine as ``tags``; ``build_platform`` is ``linux/amd64``, ``linux/arm64`` or
        ``dynamic``.
        """
        native = await self._native.build(
            context,
            dockerfile=dockerfile,
            tags=list(tags),
            build_args=dict(build_args or {}),
            target=target,
            platforms=list(platforms),
            no_cache=no_cache,
            no_cache_filter=list(no_cache_filter),
            save=save,
            save_tags=list(save_tags),
            push=push,
            load=load,
            outputs=list(outputs),
            labels=dict(labels or {}),
            build_contexts=dict(build_contexts or {}),
            secrets=list(secrets),
            ssh=list(ssh),
            cache_from=list(cache_from),
            cache_to=list(cache_to),
            add_hosts=list(add_hosts),
            network=network,
            allow=list(allow),
            build_platform=build_platform,
            provenance=provenance,
            sbom=sbom,
            lint=lint,
            project=project,
        )
        return Build(native)

    async def bake(
        self,
        targets: Sequence[str] = (),
        *,
        files: Sequence[PathArg] = (),
        definition: Optional[str] = None,
        set: Sequence[str] = (),
        variables: Optional[Mapping[str, str]] = None,
        dir: Optional[PathArg] = None,
        save: bool = False,
        save_tags: Sequence[str] = (),
        push: bool = False,
        load: bool = False,
        provenance: Optional[str] = None,
        sbom: Optional[str] = None,
        project: Optional[str] = None,
    ) -> Build:
        """Starts a bake, like ``depot bake``: evaluates bake files as ``docker buildx bake``
        does (``files``, merged in order, then ``definition``'s HCL or JSON text; with neither,
        the default files of ``dir``), then builds their ``targets`` (default: the ``default``
        group) as one bake on the project's builder. Returns a :class:`Build` whose events carry
        the ``target`` they belong to; its result has every target's metadata.

        ``set`` takes ``--set`` overrides (``app.tags=x:1``, ``*.platform=linux/arm64``);
        ``variables`` are read before the environment; relative paths (files, contexts,
        Dockerfiles) are relative to ``dir`` (default: the working directory); ``load`` pulls
        every target with tags into the Docker Engine. A file that does not evaluate raises
        :class:`DepotError` (``invalid_argument``) naming its line and column.
        """
        native = await self._native.bake(
            list(targets),
            files=list(files),
            definition=definition,
            set=list(set),
            variables=dict(variables or {}),
            dir=dir,
            save=save,
            save_tags=list(save_tags),
            push=push,
            load=load,
            provenance=provenance,
            sbom=sbom,
            project=project,
        )
        return Build(native)

    async def acquire_builder(
        self, *, project: Optional[str] = None, platform: Optional[str] = None
    ) -> _native.AcquiredBuilder:
        """Registers a build and waits for its builder; returns its BuildKit connection details
        (for any BuildKit client). ``await builder.release()`` frees it."""
        return await self._native.acquire_builder(project=project, platform=platform)

    async def pull(
        self,
        reference: str,
        *,
        project: Optional[str] = None,
        target: Optional[str] = None,
        oci_layout: Optional[PathArg] = None,
        tags: Sequence[str] = (),
        platform: Optional[str] = None,
        progress: Optional[ProgressCallback] = None,
    ) -> PullResult:
        """Pulls a saved build (by build ID; for a bake of several targets, the one ``target``
        names) or a tag of the project's repository into the Docker Engine (named ``tags``,
        default the build's own), or into the OCI image layout directory ``oci_layout``
        (``tags`` name it in ``index.json``). ``progress`` is called on the event loop with
        each :class:`~depot_rs.types.RegistryProgress` event."""
        pulled = await self._native.pull(
            reference,
            project=project,
            target=target,
            oci_layout=oci_layout,
            tags=list(tags),
            platform=platform,
            progress=_on_loop(progress),
        )
        return cast(PullResult, pulled)

    async def push(
        self,
        build_id: str,
        tags: Sequence[str],
        *,
        target: Optional[str] = None,
        credentials: Optional[Credentials] = None,
        progress: Optional[ProgressCallback] = None,
    ) -> PushResult:
        """Pushes a saved build (for a bake of several targets, the one ``target`` names) to
        other registries (``registry/repository:tag`` each), with ``credentials`` (username,
        password) or else those of ``DEPOT_PUSH_REGISTRY_*`` or the Docker config; returns the
        manifest digest, the same in every registry. ``progress`` is as for :meth:`pull`."""
        pushed = await self._native.push(
            build_id,
            list(tags),
            target=target,
            credentials=credentials,
            progress=_on_loop(progress),
        )
        return cast(PushResult, pushed)

    async def list_images(self, *, project: Optional[str] = None) -> List[Image]:
        """The images (tags) of the project's registry."""
        images: List[Dict[str, Any]] = await self._native.list_images(project=project)
        for image in images:
            image["pushed_at"] = _timestamp(image["pushed_at"])
        return cast(List[Image], images)

    async def delete_images(self, tags: Sequence[str], *, project: Optional[str] = None) -> None:
        """Deletes tags (``v1``, ``web:v2``) from the project's registry."""
        await self._native.delete_images(list(tags), project=project)

    async def get_build(self, build_id: str) -> BuildSummary:
        """A build's summary: status, timings, steps cached and total, time saved."""
        return cast(BuildSummary, _with_datetimes(await self._native.get_build(build_id)))

    async def list_builds(
        self, *, project: Optional[str] = None, limit: Optional[int] = None
    ) -> List[BuildSummary]:
        """The project's builds, newest first (``limit``, default 100)."""
        builds = await self._native.list_builds(project=project, limit=limit)
        return [cast(BuildSummary, _with_datetimes(build)) for build in builds]

    async def build_steps(self, build_id: str) -> List[BuildStep]:
        """Every step of a build, in the order they started."""
        steps = await self._native.build_steps(build_id)
        return [cast(BuildStep, _with_datetimes(step)) for step in steps]

    async def build_step_logs(self, build_id: str, digest: str) -> List[LogLine]:
        """Every kept line one step of a build printed (``digest`` from :meth:`build_steps`)."""
        lines = await self._native.build_step_logs(build_id, digest)
        return [cast(LogLine, _with_datetimes(line)) for line in lines]

    async def share_build(self, build_id: str) -> str:
        """Shares a build: a link that shows it without a token, until
        :meth:`stop_sharing_build`."""
        return await self._native.share_build(build_id)

    async def stop_sharing_build(self, build_id: str) -> None:
        """Stops sharing a build: its link stops working."""
        await self._native.stop_sharing_build(build_id)

    async def usage(
        self, *, start: Optional[datetime] = None, end: Optional[datetime] = None
    ) -> Usage:
        """Usage of every project the token administers between ``start`` and ``end`` (either
        defaults to the server's current month)."""
        usage = await self._native.usage(start=_optional_ms(start), end=_optional_ms(end))
        return cast(Usage, _with_datetimes(usage))

    async def project_usage(
        self,
        *,
        project: Optional[str] = None,
        start: Optional[datetime] = None,
        end: Optional[datetime] = None,
    ) -> ProjectUsage:
        """One project's builds between ``start`` and ``end``."""
        usage = await self._native.project_usage(
            project=project, start=_optional_ms(start), end=_optional_ms(end)
        )
        return cast(ProjectUsage, usage)

    async def list_tokens(self, *, project: Optional[str] = None) -> List[ProjectToken]:
        """The project's tokens."""
        return cast(List[ProjectToken], await self._native.list_tokens(project=project))

    async def create_token(
        self, description: str, *, project: Optional[str] = None
    ) -> CreatedToken:
        """Creates a project token; its ``secret`` is shown only now."""
        return cast(CreatedToken, await self._native.create_token(description, project=project))

    async def update_token(self, token_id: str, description: str) -> None:
        """Changes a project token's description."""
        await self._native.update_token(token_id, description)

    async def delete_token(self, token_id: str) -> None:
        """Deletes a project token: it stops working at once."""
        await self._native.delete_token(token_id)

    async def exchange_ci_token(
        self, *, project: Optional[str] = None, token: Optional[str] = None
    ) -> ExchangedToken:
        """Exchanges a CI job's OIDC token (``token``, else the job's own) for a short-lived
        token of ``project`` (default: the client's), usable as ``DEPOT_TOKEN`` or registry
        password."""
        exchanged: Dict[str, Any] = await self._native.exchange_ci_token(
            project=project, token=token
        )
        exchanged["expires_at"] = _timestamp(exchanged["expires_at"])
        return cast(ExchangedToken, exchanged)


async def detect_ci_token(*, audience: Optional[str] = None) -> Optional[CiToken]:
    """The CI job's OIDC token (GitHub Actions, GitLab, CircleCI, Buildkite, tried in that
    order like the CLI), or ``None`` outside CI."""
    return cast(Optional[CiToken], await _native.detect_ci_token(audience=audience))


async def copy_image(
    source: str,
    destinations: Sequence[str],
    *,
    source_credentials: Optional[Credentials] = None,
    destination_credentials: Optional[Credentials] = None,
    progress: Optional[ProgressCallback] = None,
) -> PushResult:
    """Copies an image or index between any registries, blobs first and manifests byte for
    byte; returns its digest, the same in every destination. ``progress`` is as for
    :meth:`Client.pull`."""
    copied = await _native.copy_image(
        source,
        list(destinations),
        source_credentials=source_credentials,
        destination_credentials=destination_credentials,
        progress=_on_loop(progress),
    )
    return cast(PushResult, copied)
