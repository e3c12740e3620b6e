"""``create_app(settings)``: wires engine, provider adapters, media files and admin."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from .admin import add_admin_routes
from .admin.guard import admin_guard, mount_admin
from .admin.webhooks import run_scheduler
from .engine import Engine, statefile
from .engine.webhooks import Channel
from .files import add_file_routes
from .intake import APP_HANDLER_ARGS, MAX_BODY_BYTES
from .keys import ADAPTERS, ADMIN_CONTRACT, ADMIN_VIOLATIONS, ENGINE, FAULTS, METRICS, SETTINGS
from .providers import configure, specs
from .providers.base import ProviderAdapter
from .recording import add_unmatched_route
from .settings import Settings

log = logging.getLogger("mockserver")

# Uploads go up to 50 MB (PixVerse media); the adapters enforce each provider's own
# limits and answer in its words, so the framework cap only stops abuse.
CLIENT_MAX_SIZE = MAX_BODY_BYTES


def keep_state(app: web.Application, engine: Engine, path: Path, interval_s: float,
               channels: dict[str, Channel]) -> None:
    """Read the state saved at ``path`` into ``engine`` now, and save it every
    ``interval_s`` wall seconds and on shutdown (engine/statefile.py).  Raises
    StateFileError for a file that cannot be read back."""
    state = statefile.StateFile(path)
    data = state.load()
    if data is not None:
        state.restore(engine, data, channels)

    stop = asyncio.Event()
    saver: list[asyncio.Task[None]] = []

    async def save_every() -> None:
        while True:
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await state.save_soon(engine)
            except OSError as exc:
                log.warning("state file %s: could not save (%s)", path, exc)

    async def start_saving(_app: web.Application) -> None:
        saver.append(asyncio.create_task(save_every(), name="state-file"))

    async def save_on_shutdown(_app: web.Application) -> None:
        # The periodic save ends first (a write in flight completes), so an older
        # state never lands after the final one.
        stop.set()
        for task in saver:
            await task
        try:
            state.save(engine)
        except OSError as exc:
            log.error("state file %s: could not save at shutdown (%s)", path, exc)

    app.on_startup.append(start_saving)
    app.on_shutdown.append(save_on_shutdown)


def create_app(settings: Settings | None = None) -> web.Application:
    """The whole fake as one aiohttp application.

    ``settings`` need not be bound to the registry: ``providers.configure`` binds them
    (``app[SETTINGS]`` holds the bound ones).  Raises pydantic.ValidationError for a bad
    provider section or an unknown provider name in settings (``configure``), and
    ``mockserver.contract.ContractError`` if a contract is missing or does not describe
    an operation an adapter serves.
    """
    # Bound to the registry once, here: every provider fact the engine, the adapters and
    # the control plane need comes from it (providers/__init__.py), never from a name in
    # their code.
    settings = configure(settings or Settings())
    registered = specs()
    engine = Engine(settings, providers=[s.name for s in registered],
                    webhook_providers=[s.name for s in registered if s.webhooks != "none"])
    app = web.Application(client_max_size=CLIENT_MAX_SIZE, handler_args=APP_HANDLER_ARGS)
    app[SETTINGS] = settings
    app[ENGINE] = engine
    adapters: dict[str, ProviderAdapter] = {}
    for spec in registered:
        adapter = spec.adapter_class()(engine, settings)
        app.router.add_routes(adapter.routes())
        adapters[adapter.name] = adapter
    app[ADAPTERS] = adapters
    add_file_routes(app, engine.media, engine.uploads)
    app[FAULTS] = engine.faults  # /__files reads the fault rules too
    # The control plane is a sub-application behind its own guard (admin/guard.py): every
    # route under /__admin is checked, and provider routes pay nothing for it.
    admin = web.Application(middlewares=[admin_guard(settings.admin_token)])
    add_admin_routes(admin, engine, adapters, [s.name for s in registered],
                     account_webhooks=[s.name for s in registered if s.webhooks == "account"])
    mount_admin(app, admin)
    # The delivery scheduler runs with the application: webhooks go out whether or not
    # anyone uses the control plane.
    run_scheduler(app, engine)

    async def end_injected_waits(_app: web.Application) -> None:
        engine.faults.stop()

    app.on_shutdown.append(end_injected_waits)
    if settings.state_file is not None:
        keep_state(app, engine, settings.state_file, settings.state_save_interval_s,
                   # An adapter that sends webhooks keeps its channel as ``webhooks``.
                   {c.provider: c for a in adapters.values()
                    if (c := getattr(a, "webhooks", None)) is not None})
    app[METRICS] = admin[METRICS]
    app[ADMIN_CONTRACT] = admin[ADMIN_CONTRACT]
    app[ADMIN_VIOLATIONS] = admin[ADMIN_VIOLATIONS]
    # Last, so it only sees what no other route serves: 404/405 in the words of the
    # provider whose prefix it is under, else aiohttp's, journaled.  Provider endpoints
    # journal their own answers (recording.py).
    add_unmatched_route(app, engine, adapters.values())
    return app
