"""``pixverse-mock serve|...``: the command line of the fake."""
from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from .app import create_app
from .engine.state import StoreUnavailable
from .engine.statefile import StateFileError
from .engine.webhooks import redact_url
from .keys import ADAPTERS
from .providers import configure
from .serving import exposure_warning, make_runner, prepare_exposure, start_site
from .settings import Settings

log = logging.getLogger("mockserver")


@click.group()
def main() -> None:
    """A local fake of PixVerse V5 as Freepik/Magnific, pixwith.ai, AI/ML API and the
    PixVerse platform sell it."""


@main.command()
@click.option("--host", default=None,
              help="Interface to bind [127.0.0.1]; anything else needs the admin token (README, Running it safely).")
@click.option("--port", type=int, default=None, help="TCP port, 0 for any free one [8000].")
@click.option("--time-scale", type=float, default=None,
              help="Virtual seconds per wall second [50: a 150 s generation takes 3 s].")
@click.option("--seed", type=int, default=None, help="Seed for ids, timings and outcomes.")
@click.option("--profile", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML settings profile, e.g. fixtures/profiles/realistic.yaml.")
@click.option("--progress-mode", type=click.Choice(["time", "polls", "manual"]), default=None,
              help="Jobs advance by virtual time, after N polls, or only via the admin API.")
@click.option("--strict/--no-strict", default=None, help="Validate every response against its contract.")
@click.option("--admin-token", default=None,
              help="Credential the control plane /__admin requires [$PIXVERSE_MOCK_ADMIN_TOKEN; "
                   "generated and printed when bound beyond loopback].")
@click.option("--state-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Keep the state in this file: read at start, written on shutdown and every "
                   "state_save_interval_s seconds (README, Restarts).")
@click.option("--redis", "redis_url", default=None, metavar="URL",
              help="Keep jobs, ids, the clock, uploads, credits and limits in this Redis "
                   "(redis://host:port/db) so several processes act as one fake "
                   "[$PIXVERSE_MOCK_REDIS_URL] (README, Scaling out).")
def serve(host, port, time_scale, seed, profile, progress_mode, strict, admin_token, state_file,
          redis_url) -> None:
    """Start the fake and print what to point each provider's client at.  Exits 2 with
    the reason on stderr for settings that do not validate (a bad value, a provider
    section or name the registry does not know, a provider module that cannot be
    imported) and for a state file that cannot be read back."""
    try:
        settings = configure(Settings.load(profile, host=host, port=port, time_scale=time_scale, seed=seed,
                                           progress_mode=progress_mode, strict=strict, admin_token=admin_token,
                                           state_file=state_file, redis_url=redis_url))
        asyncio.run(_serve(settings))
    except (ValidationError, ImportError, StateFileError, StoreUnavailable) as exc:
        # Never a silent fresh start over a file someone meant to keep, nor a start
        # with settings other than the ones asked for.
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


async def _serve(settings: Settings) -> None:
    settings, generated = prepare_exposure(settings)
    app = create_app(settings)
    # Contracts and compiled validators live for the whole process; moving them out of
    # the collector's generations keeps full GC passes (and p99 spikes) short.
    gc.freeze()
    runner = make_runner(app, settings)
    site = await start_site(runner, settings)
    port = site.port  # the real one when --port 0
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    base = f"http://{host}:{port}"
    warning = exposure_warning(settings, port)
    if warning is not None:
        log.warning(warning)
        click.echo(click.style(f"WARNING: {warning}", fg="red", bold=True), err=True)
        if generated is not None:
            click.echo(f"admin token (generated for this run; set one with --admin-token or "
                       f"PIXVERSE_MOCK_ADMIN_TOKEN): {generated}\n"
                       f"  open {base}/__admin/?token={generated} in a browser, or send "
                       f"'Authorization: Bearer <token>'", err=True)
    click.echo(f"pixverse-mock listening on {base}  (time scale {settings.time_scale:g}x, "
               f"seed {settings.seed}, progress by {settings.progress_mode})")
    for adapter in app[ADAPTERS].values():
        click.echo(f"  {adapter.title:<22} base URL {base}{adapter.client_base_path:<6} "
                   f"instead of {adapter.upstream}{adapter.client_base_path}  auth: {adapter.auth_hint}")
    click.echo(f"  {'admin':<22} {base}/__admin/health   media: {base}/__files/")
    if settings.redis_url is not None:
        # Never the password: redact_url shows user:****@.
        click.echo(f"  {'state':<22} Redis at {redact_url(settings.redis_url)} "
                   f"(keys under {settings.redis_prefix!r})")
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
