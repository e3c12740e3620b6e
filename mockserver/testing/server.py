"""The fake served from a background thread, so sync and async tests can both use it.

:class:`ThreadedFake` runs ``create_app(settings)`` on ``127.0.0.1:<free port>`` in a
daemon thread with its own event loop.  The test's thread (and its event loop, for
async tests) only ever talks HTTP to it, so nothing is shared between the two loops
and a blocking call in the test cannot stall the fake.
"""
from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

from aiohttp import web

from ..settings import Settings

#: Seconds to wait for the fake to start or stop before giving up.
START_TIMEOUT_S = 30.0


class ThreadedFake:
    """One in-process fake on a free loopback port.

    ``base_url`` is ``http://127.0.0.1:<port>``; ``app`` the aiohttp application, so
    in-process callers can reach the engine (``app[mockserver.app.ENGINE]``); ``close()``
    stops it (also usable as a context manager).  Raises RuntimeError when the server
    does not come up within ``START_TIMEOUT_S``.
    """

    def __init__(self, settings: Settings | None = None, *, app: web.Application | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        from ..app import create_app  # the contracts load here, once per process
        from ..keys import SETTINGS
        from ..serving import make_runner

        if app is None:
            app = create_app(settings)
        self.app = app
        self.settings: Settings = app[SETTINGS]
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._runner = make_runner(app, self.settings)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pixverse-mock", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("pixverse-mock did not start in time")
        if self._error is not None:
            raise RuntimeError(f"pixverse-mock did not start: {self._error!r}") from self._error
        self.base_url = f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        from ..serving import start_site

        site = await start_site(self._runner, self.settings, self.host, self.port)
        self.port = site.port  # the real one when asked for port 0

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the fake's loop and return its result, awaited when
        it is awaitable (engine access without racing the request handlers)."""
        async def run() -> Any:
            result = fn(*args)
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(START_TIMEOUT_S)

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(START_TIMEOUT_S)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(START_TIMEOUT_S)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> "ThreadedFake":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
