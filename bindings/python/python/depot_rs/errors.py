"""The exceptions of depot-rs.

Every error is a :class:`DepotError` with a stable string ``code`` (``unauthenticated``,
``permission_denied``, ``not_found``, ``invalid_argument``, ``unavailable``, ``build_failed``,
``canceled``, ``registry``, ``config``, ``internal``, …), the build it belongs to
(``build_id``) and the Rust error's causes chained as ``__cause__``: the same fields as the Node
package's errors (``buildId``, ``exitCode`` there).
"""

from __future__ import annotations

from typing import Optional, Sequence

__all__ = [
    "DepotError",
    "AuthError",
    "NotFoundError",
    "BuildFailed",
    "BuildCanceled",
    "RegistryError",
    "ConfigError",
]


class DepotError(Exception):
    """Base class of every depot-rs error."""

    code: str
    """A stable, machine-readable code (an API error's Connect code, or ``build_failed``,
    ``canceled``, ``registry``, ``config``)."""
    message: str
    """The error's message (its causes are ``__cause__``, not repeated here)."""
    build_id: Optional[str]
    """The build the failure belongs to, when there is one."""

    def __init__(
        self, message: str, *, code: str = "internal", build_id: Optional[str] = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.build_id = build_id


class AuthError(DepotError):
    """No token, an invalid or revoked one (``unauthenticated``), or one without access to what
    was asked (``permission_denied``)."""


class NotFoundError(DepotError):
    """The project, build or image does not exist (``not_found``)."""


class ConfigError(DepotError):
    """The configuration cannot be used: no project, an unreadable config file (``config``)."""


class RegistryError(DepotError):
    """A registry refused or failed a pull, push or copy (``registry``)."""


class BuildCanceled(DepotError):
    """The build was canceled, by the caller or by the server (``canceled``)."""


class BuildFailed(DepotError):
    """The build ran and failed (``build_failed``): :attr:`step` names the failing step and
    :attr:`logs` holds its last log lines."""

    step: Optional[str]
    """The failing step, e.g. ``[2/2] RUN make``, when one failed."""
    logs: list[str]
    """The last lines the failing step wrote."""
    exit_code: Optional[int]
    """The failed process's exit code, when a process failed."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "build_failed",
        build_id: Optional[str] = None,
        step: Optional[str] = None,
        logs: Sequence[str] = (),
        exit_code: Optional[int] = None,
    ) -> None:
        super().__init__(message, code=code, build_id=build_id)
        self.step = step
        self.logs = list(logs)
        self.exit_code = exit_code
