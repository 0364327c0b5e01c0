"""Providers found on the relays, refreshed in the background, for GET /v1/providers."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import httpx

from app.nostr.discovery import Provider, discover

log = logging.getLogger(__name__)


class ProviderCache:
    def __init__(
        self,
        relays: Sequence[str],
        *,
        refresh_s: float = 600.0,
        relay_timeout_s: float = 5.0,
        http_timeout_s: float = 3.0,
        allow_private: bool = False,
    ) -> None:
        self._relays = list(relays)
        self._refresh_s = refresh_s
        self._relay_timeout_s = relay_timeout_s
        self._http_timeout_s = http_timeout_s
        self._allow_private = allow_private
        self._providers: list[Provider] = []
        self._updated_at: float | None = None
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Refresh now and then every `refresh_s`, in the background (start-up does not wait for relays)."""
        if self._task is None:
            self._client = httpx.AsyncClient(timeout=self._http_timeout_s)
            self._task = asyncio.create_task(self._keep_fresh(), name="nostr provider cache")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def refresh(self) -> list[Provider]:
        client = self._client or httpx.AsyncClient(timeout=self._http_timeout_s)
        try:
            providers = await discover(
                self._relays,
                timeout=self._relay_timeout_s,
                allow_private=self._allow_private,
                http_client=client,
            )
        finally:
            if client is not self._client:
                await client.aclose()
        self._providers, self._updated_at = providers, time.time()
        log.info("nostr.providers_refreshed count=%d", len(providers))
        return providers

    def providers(self) -> list[Provider]:
        return list(self._providers)

    def snapshot(self) -> dict[str, Any]:
        """JSON-able body for GET /v1/providers."""
        return {
            "updated_at": None if self._updated_at is None else int(self._updated_at),
            "providers": [provider.to_json() for provider in self._providers],
        }

    async def _keep_fresh(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self._refresh_s)
