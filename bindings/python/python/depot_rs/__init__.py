"""depot-rs for Python: remote container builds on a self-hosted depot-server or Depot's API.

An asyncio API over depot-rs's Rust crates (one tokio runtime, recreated in forked children),
with a synchronous layer in :mod:`depot_rs.sync` and the ``depot`` CLI bundled::

    import asyncio, depot_rs

    async def main() -> None:
        client = await depot_rs.Client.connect()
        build = await client.build("./app", save=True)
        async for event in build:
            if event["type"] == "log":
                print(event["text"], end="")
        result = await build.result()
        print(result["image_digest"])

    asyncio.run(main())
"""

import atexit

from . import _native
from ._cli import binary_path
from .build import Build
from .client import AcquiredBuilder, Client, copy_image, detect_ci_token
from .errors import (
    AuthError,
    BuildCanceled,
    BuildFailed,
    ConfigError,
    DepotError,
    NotFoundError,
    RegistryError,
)

# Worker threads of the native runtime must not outlive the interpreter.
atexit.register(_native.shutdown)

__all__ = [
    "AcquiredBuilder",
    "AuthError",
    "Build",
    "BuildCanceled",
    "BuildFailed",
    "Client",
    "ConfigError",
    "DepotError",
    "NotFoundError",
    "RegistryError",
    "binary_path",
    "copy_image",
    "detect_ci_token",
]
