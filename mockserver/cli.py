"""``pixverse-mock serve|...``: the command line of the fake."""
from __future__ import annotations

import asyncio
import gc
import signal
from pathlib import Path

import click
from aiohttp import web

from .app import ADAPTERS, create_app
from .settings import Settings


@click.group()
def main() -> None:
    """A local fake of PixVerse V5 as Freepik/Magnific, pixwith.ai, AI/ML API and the
    PixVerse platform sell it."""


@main.command()
@click.option("--host", default=None, help="Interface to bind [127.0.0.1].")
@click.option("--port", type=int, default=None, help="TCP port, 0 for any free one [8000].")
@click.option("--time-scale", type=float, default=None,
              help="Virtual seconds per wall second [50: a 150 s generation takes 3 s].")
@click.option("--seed", type=int, default=None, help="Seed for ids, timings and outcomes.")
@click.option("--profile", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML settings profile, e.g. fixtures/profiles/realistic.yaml.")
@click.option("--progress-mode", type=click.Choice(["time", "polls", "manual"]), default=None,
              help="Jobs advance by virtual time, after N polls, or only via the admin API.")
@click.option("--strict/--no-strict", default=None, help="Validate every response against its contract.")
def serve(host, port, time_scale, seed, profile, progress_mode, strict) -> None:
    """Start the fake and print what to point each provider's client at."""
    settings = Settings.load(profile, host=host, port=port, time_scale=time_scale, seed=seed,
                             progress_mode=progress_mode, strict=strict)
    asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> None:
    app = create_app(settings)
    # Contracts and compiled validators live for the whole process; moving them out of
    # the collector's generations keeps full GC passes (and p99 spikes) short.
    gc.freeze()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.shutdown_grace_s)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # the real one when --port 0
    base = f"http://{settings.host}:{port}"
    click.echo(f"pixverse-mock listening on {base}  (time scale {settings.time_scale:g}x, "
               f"seed {settings.seed}, progress by {settings.progress_mode})")
    for adapter in app[ADAPTERS].values():
        click.echo(f"  {adapter.title:<22} base URL {base}{adapter.client_base_path:<6} "
                   f"instead of {adapter.upstream}{adapter.client_base_path}  auth: {adapter.auth_hint}")
    click.echo(f"  {'admin':<22} {base}/__admin/health   media: {base}/__files/")
    # SIGTERM and SIGINT stop the server cleanly: due webhook deliveries are attempted
    # and the undelivered ones reported (README) before the process exits.
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # no signal handlers on this platform
            pass
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    main()
