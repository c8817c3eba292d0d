"""A running build: ``async for`` its events, ``await`` its result, or cancel it."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, List, Optional, cast

from . import _native
from .types import BuildEvent, BuildResult

__all__ = ["Build"]


class Build:
    """A build registered with the server and running on its builder.

    Iterate it (``async for event in build``) for its events, in the order BuildKit reported
    them; every iteration starts from the first event, which the build keeps (as in the Node
    package). ``await build.result()`` for the result, or the build's error
    (:class:`BuildFailed` with the failing step's log, :class:`BuildCanceled`). Cancelling the
    task that awaits either cancels the build, waits until the server knows, and re-raises the
    cancellation.
    """

    def __init__(self, native: _native.BuildHandle) -> None:
        self._native = native
        self._seen: List[BuildEvent] = []
        self._ended = False
        self._reading: Optional[asyncio.Lock] = None

    @property
    def build_id(self) -> str:
        """The build's ID."""
        return self._native.build_id

    @property
    def project_id(self) -> str:
        """The build's project."""
        return self._native.project_id

    @property
    def build_url(self) -> str:
        """The build's page on the server (empty when it has none)."""
        return self._native.build_url

    def __aiter__(self) -> AsyncIterator[BuildEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[BuildEvent]:
        position = 0
        try:
            while True:
                if position < len(self._seen):
                    yield self._seen[position]
                    position += 1
                elif not await self._read_beyond(position):
                    return
        except asyncio.CancelledError:
            await self._native.cancel()
            raise

    async def _read_beyond(self, position: int) -> bool:
        """Makes sure the kept events go beyond ``position``, reading the next one from the
        build if needed (one reader at a time); False once the build has ended without."""
        if self._reading is None:
            self._reading = asyncio.Lock()
        async with self._reading:
            if len(self._seen) > position:
                return True
            if self._ended:
                return False
            try:
                self._seen.append(cast(BuildEvent, await self._native.__anext__()))
            except StopAsyncIteration:
                self._ended = True
                return False
            return True

    async def result(self) -> BuildResult:
        """Waits for the build to end; returns its result or raises its error."""
        try:
            return cast(BuildResult, await self._native.result())
        except asyncio.CancelledError:
            await self._native.cancel()
            raise

    async def cancel(self) -> None:
        """Cancels the build and waits until it has ended and its builder is released."""
        await self._native.cancel()
