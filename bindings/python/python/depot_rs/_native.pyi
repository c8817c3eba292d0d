# Stubs of the native module (Rust, pyo3). Awaitables resolve to plain dicts and lists; the
# public API in depot_rs types them.
from os import PathLike
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple, Union

_Path = Union[str, PathLike[str]]
_Credentials = Optional[Tuple[str, str]]
_Progress = Optional[Callable[[Any], None]]

class Client:
    @staticmethod
    def connect(
        token: Optional[str] = None,
        api_url: Optional[str] = None,
        project: Optional[str] = None,
        cwd: Optional[_Path] = None,
    ) -> Awaitable[Client]: ...
    @property
    def project(self) -> Optional[str]: ...
    @property
    def api_url(self) -> str: ...
    def list_projects(self) -> Awaitable[List[Dict[str, Any]]]: ...
    def create_project(
        self, name: str, *, organization_id: Optional[str] = None, region_id: Optional[str] = None
    ) -> Awaitable[Dict[str, Any]]: ...
    def pull_token(
        self, *, project: Optional[str] = None, build_id: Optional[str] = None
    ) -> Awaitable[Dict[str, Any]]: ...
    def build(
        self,
        context: _Path = ".",
        *,
        dockerfile: Optional[_Path] = None,
        tags: Sequence[str] = (),
        build_args: Dict[str, str] = ...,
        target: Optional[str] = None,
        platforms: Sequence[str] = (),
        no_cache: bool = False,
        no_cache_filter: Sequence[str] = (),
        save: bool = False,
        save_tags: Sequence[str] = (),
        push: bool = False,
        load: bool = False,
        outputs: Sequence[str] = (),
        labels: Dict[str, str] = ...,
        build_contexts: Dict[str, str] = ...,
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
    ) -> Awaitable[BuildHandle]: ...
    def bake(
        self,
        targets: Sequence[str] = (),
        *,
        files: Sequence[_Path] = (),
        definition: Optional[str] = None,
        set: Sequence[str] = (),
        variables: Dict[str, str] = ...,
        dir: Optional[_Path] = None,
        save: bool = False,
        save_tags: Sequence[str] = (),
        push: bool = False,
        load: bool = False,
        provenance: Optional[str] = None,
        sbom: Optional[str] = None,
        project: Optional[str] = None,
    ) -> Awaitable[BuildHandle]: ...
    def acquire_builder(
        self, *, project: Optional[str] = None, platform: Optional[str] = None
    ) -> Awaitable[AcquiredBuilder]: ...
    def pull(
        self,
        reference: str,
        *,
        project: Optional[str] = None,
        target: Optional[str] = None,
        oci_layout: Optional[_Path] = None,
        tags: Sequence[str] = (),
        platform: Optional[str] = None,
        progress: _Progress = None,
    ) -> Awaitable[Dict[str, Any]]: ...
    def push(
        self,
        build_id: str,
        tags: Sequence[str],
        *,
        target: Optional[str] = None,
        credentials: _Credentials = None,
        progress: _Progress = None,
    ) -> Awaitable[Dict[str, Any]]: ...
    def list_images(self, *, project: Optional[str] = None) -> Awaitable[List[Dict[str, Any]]]: ...
    def delete_images(
        self, tags: Sequence[str], *, project: Optional[str] = None
    ) -> Awaitable[None]: ...
    def get_build(self, build_id: str) -> Awaitable[Dict[str, Any]]: ...
    def list_builds(
        self, *, project: Optional[str] = None, limit: Optional[int] = None
    ) -> Awaitable[List[Dict[str, Any]]]: ...
    def build_steps(self, build_id: str) -> Awaitable[List[Dict[str, Any]]]: ...
    def build_step_logs(self, build_id: str, digest: str) -> Awaitable[List[Dict[str, Any]]]: ...
    def share_build(self, build_id: str) -> Awaitable[str]: ...
    def stop_sharing_build(self, build_id: str) -> Awaitable[None]: ...
    def usage(
        self, *, start: Optional[int] = None, end: Optional[int] = None
    ) -> Awaitable[Dict[str, Any]]: ...
    def project_usage(
        self, *, project: Optional[str] = None, start: Optional[int] = None, end: Optional[int] = None
    ) -> Awaitable[Dict[str, Any]]: ...
    def list_tokens(self, *, project: Optional[str] = None) -> Awaitable[List[Dict[str, Any]]]: ...
    def create_token(
        self, description: str, *, project: Optional[str] = None
    ) -> Awaitable[Dict[str, Any]]: ...
    def update_token(self, token_id: str, description: str) -> Awaitable[None]: ...
    def delete_token(self, token_id: str) -> Awaitable[None]: ...
    def exchange_ci_token(
        self, *, project: Optional[str] = None, token: Optional[str] = None
    ) -> Awaitable[Dict[str, Any]]: ...

class BuildHandle:
    @property
    def build_id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def build_url(self) -> str: ...
    def __aiter__(self) -> BuildHandle: ...
    def __anext__(self) -> Awaitable[Dict[str, Any]]: ...
    def result(self) -> Awaitable[Dict[str, Any]]: ...
    def cancel(self) -> Awaitable[None]: ...

class AcquiredBuilder:
    @property
    def build_id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def server_name(self) -> Optional[str]: ...
    @property
    def ca_pem(self) -> Optional[str]: ...
    @property
    def cert_pem(self) -> Optional[str]: ...
    @property
    def key_pem(self) -> Optional[str]: ...
    def release(
        self, outcome: Optional[str] = None, error: Optional[str] = None
    ) -> Awaitable[None]: ...

def detect_ci_token(*, audience: Optional[str] = None) -> Awaitable[Optional[Dict[str, Any]]]: ...
def copy_image(
    source: str,
    destinations: Sequence[str],
    *,
    source_credentials: _Credentials = None,
    destination_credentials: _Credentials = None,
    progress: _Progress = None,
) -> Awaitable[Dict[str, Any]]: ...
def shutdown() -> None: ...
