"""Outbound HTTP for webhook deliveries: an aiohttp sender for the engine's scheduler.

The engine never imports aiohttp; ``create_app`` (through ``admin.webhooks``) wires
:class:`ClientSender` into ``engine.webhooks`` at start-up and closes it at clean-up.
Redirects are not followed (a receiver could otherwise bounce the fake to a host the
allow-list refuses) and the environment's proxy settings are ignored.  ``localhost``
(the engine hands over host names lower-cased, without a trailing dot) is answered
here as loopback, never looked up: the allow-list's ``loopback`` means loopback.
"""
from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

import aiohttp
from aiohttp.abc import AbstractResolver

from .engine.webhooks import SendResult

if TYPE_CHECKING:
    from aiohttp.abc import ResolveResult

#: Response bytes read at most (enough for any log entry and for PixVerse's "ok").
READ_LIMIT = 64 * 1024


class LoopbackResolver(AbstractResolver):
    """aiohttp's default resolver, except that ``localhost`` and ``*.localhost``
    (RFC 6761) are 127.0.0.1 and ::1 without asking anyone."""

    def __init__(self) -> None:
        self._other = aiohttp.DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host == "localhost" or host.endswith(".localhost"):
            answers = [("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)]
            found: list[ResolveResult] = [{"hostname": host, "host": ip, "port": port, "family": fam, "proto": 0,
                     "flags": socket.AI_NUMERICHOST}
                    for ip, fam in answers if family in (socket.AF_UNSPEC, fam)]
            return found
        return await self._other.resolve(host, port, family)

    async def close(self) -> None:
        await self._other.close()


class ClientSender:
    """``await sender(url, headers, body, timeout_s) -> SendResult``; never raises."""

    def __init__(self, max_connections: int = 64) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._max = max_connections

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max, resolver=LoopbackResolver()), trust_env=False,
                headers={"User-Agent": "pixverse-mock-webhooks"})
        return self._session

    async def __call__(self, url: str, headers: dict[str, str], body: bytes, timeout_s: float) -> SendResult:
        try:
            async with self._client().post(url, data=body, headers=headers, allow_redirects=False,
                                           timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                data = bytearray()
                while len(data) < READ_LIMIT:
                    chunk = await resp.content.read(READ_LIMIT - len(data))
                    if not chunk:
                        break
                    data += chunk
                return SendResult(resp.status, data.decode("utf-8", "replace"))
        except asyncio.TimeoutError:
            return SendResult(None, "", f"timeout after {timeout_s:g} s")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return SendResult(None, "", f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
