"""The shapes of what the API returns: plain dicts, typed for type checkers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, List, Literal, Optional, TypedDict, Union

__all__ = [
    "Project",
    "PullToken",
    "Image",
    "PullResult",
    "PushResult",
    "RegistryProgress",
    "CiToken",
    "ExchangedToken",
    "BuildResult",
    "BuildEvent",
    "VertexQueued",
    "VertexStarted",
    "VertexCompleted",
    "VertexCached",
    "VertexErrored",
    "Log",
    "Progress",
    "Warning",
    "BuildSummary",
    "BuildStep",
    "LogLine",
    "Usage",
    "ContainerBuildUsage",
    "StorageUsage",
    "ProjectUsage",
    "ProjectToken",
    "CreatedToken",
]


class Project(TypedDict):
    """A project; ``org_name`` is its organization's name when the server says (not on
    creation)."""

    id: str
    name: str
    org_id: str
    org_name: Optional[str]


class PullToken(TypedDict):
    """A short-lived, read-only registry token."""

    token: str
    registry_host: str


class Image(TypedDict):
    """An image of a project's registry."""

    tag: str
    digest: str
    pushed_at: Optional[datetime]
    size_bytes: int


class PullResult(TypedDict):
    """What was pulled: the image reference, and its digest for OCI layouts."""

    reference: str
    digest: Optional[str]


class PushResult(TypedDict):
    """A pushed or copied image: its manifest (or index) digest, the same everywhere."""

    digest: str


class _ProgressEvent(TypedDict):
    type: str
    target: str


class RegistryProgress(_ProgressEvent, total=False):
    """A progress event of a pull, push or copy (the Rust core's ``ProgressEvent``), the same
    as in the Node package. ``type`` is ``blob_started`` (``digest``, ``size``),
    ``blob_progress`` (``digest``, ``current``, ``total``), ``blob_status`` (``digest``,
    ``status``), ``blob_done`` (``digest``, ``size``, ``transfer``: ``present``, ``mounted`` or
    ``copied``), ``manifest`` (``digest``) or ``message`` (``text``); ``target`` is the
    destination: a registry image, a layout directory, or the Docker Engine's image."""

    digest: str
    size: Optional[int]
    current: int
    total: Optional[int]
    status: str
    transfer: str
    text: str


class CiToken(TypedDict):
    """A CI job's OIDC token (``github``, ``gitlab``, ``circleci``, ``buildkite``)."""

    provider: str
    token: str


class ExchangedToken(TypedDict):
    """A short-lived project token exchanged for a CI token."""

    token: str
    expires_at: Optional[datetime]
    project_id: str


class BuildResult(TypedDict):
    """A finished build: ``metadata`` is what ``depot build --metadata-file`` writes (for a
    bake, an entry per target and ``depot.build``); ``targets`` names a bake's targets (empty
    for a build)."""

    build_id: str
    project_id: str
    image_digest: Optional[str]
    saved_tags: List[str]
    metadata: Dict[str, Any]
    targets: List[str]


class _InTarget(TypedDict, total=False):
    """What any build event may also carry: ``target``, the bake target it belongs to (absent
    for builds, and for a bake's own steps)."""

    target: str


class VertexQueued(_InTarget):
    """A step was announced."""

    type: Literal["vertex_queued"]
    vertex: str
    name: str


class VertexStarted(_InTarget):
    """A step started (times are milliseconds since the Unix epoch)."""

    type: Literal["vertex_started"]
    vertex: str
    name: str
    started_ms: float


class VertexCompleted(_InTarget):
    """A step finished."""

    type: Literal["vertex_completed"]
    vertex: str
    name: str
    duration_ms: float


class VertexCached(_InTarget):
    """A step's result came from the cache."""

    type: Literal["vertex_cached"]
    vertex: str
    name: str


class VertexErrored(_InTarget):
    """A step failed (or was canceled)."""

    type: Literal["vertex_errored"]
    vertex: str
    name: str
    error: str
    duration_ms: float
    canceled: bool


class Log(_InTarget):
    """A chunk of a step's output (a line may be split across chunks)."""

    type: Literal["log"]
    vertex: str
    stream: Literal["stdout", "stderr"]
    text: str
    at_ms: float


class Progress(_InTarget):
    """A transfer or export item of a step changed."""

    type: Literal["progress"]
    vertex: str
    id: str
    name: str
    current: int
    total: Optional[int]
    started_ms: Optional[float]
    at_ms: float
    completed: bool


class Warning(_InTarget):
    """A build warning (e.g. from the Dockerfile linter)."""

    type: Literal["warning"]
    vertex: str
    level: int
    short: str
    detail: List[str]
    url: Optional[str]


BuildEvent = Union[
    VertexQueued,
    VertexStarted,
    VertexCompleted,
    VertexCached,
    VertexErrored,
    Log,
    Progress,
    Warning,
]
"""One change in a build, tagged by ``type``."""


class BuildSummary(TypedDict):
    """A build as the public API summarizes it. ``status`` is ``running``, ``success``,
    ``failed``, ``error``, ``canceled`` or ``unknown``; ``saved_duration_seconds`` is what its
    cached steps took when they last ran in the project."""

    build_id: str
    status: str
    created_at: Optional[datetime]
    started_at: Optional[datetime]
    finished_at: Optional[datetime]
    build_duration_seconds: Optional[int]
    saved_duration_seconds: Optional[int]
    cached_steps: Optional[int]
    total_steps: Optional[int]


class BuildStep(TypedDict):
    """One step of a build; ``digest`` names its log for :meth:`Client.build_step_logs`."""

    name: str
    digest: str
    started_at: Optional[datetime]
    completed_at: Optional[datetime]
    cached: bool
    error: Optional[str]
    has_logs: bool


class LogLine(TypedDict):
    """One line a step printed."""

    message: str
    timestamp: Optional[datetime]


class ContainerBuildUsage(TypedDict):
    """Builds of one project in a period."""

    project_name: str
    build_count: int
    minutes_saved: float
    minutes_billed: float


class StorageUsage(TypedDict):
    """Storage of one kind (``layer_cache``), in GB."""

    storage_type: str
    total_gb: float


class Usage(TypedDict):
    """Usage of every project the token administers, in a period."""

    period_start: Optional[datetime]
    period_end: Optional[datetime]
    container_builds: List[ContainerBuildUsage]
    storage: List[StorageUsage]


class ProjectUsage(TypedDict):
    """One project's builds in a period; its layer cache in whole GB."""

    project_id: str
    build_count: int
    build_duration_seconds: int
    layer_cache_size_gb: int


class ProjectToken(TypedDict):
    """A project token (its secret is shown only when it is created)."""

    token_id: str
    description: str


class CreatedToken(TypedDict):
    """A new project token and its secret, which is not shown again."""

    token_id: str
    secret: str
