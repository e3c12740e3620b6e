"""``pixverse-mock serve|...``: the command line of the fake."""
from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path

import click
from aiohttp import web
from pydantic import ValidationError

from .app import create_app
from .engine.statefile import StateFileError
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
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes on one port (SO_REUSEPORT) sharing the state in Redis; "
                   "more than one needs --redis (README, Scaling out) [1].")
def serve(host, port, time_scale, seed, profile, progress_mode, strict, admin_token, state_file,
          workers) -> None:
    """Start the fake and print what to point each provider's client at.  Exits 2 with
    the reason on stderr for settings that do not validate (a bad value, a provider
    section or name the registry does not know, a provider module that cannot be
    imported) and for a state file that cannot be read back."""
    try:
        settings = configure(Settings.load(profile, host=host, port=port, time_scale=time_scale, seed=seed,
                                           progress_mode=progress_mode, strict=strict, admin_token=admin_token,
                                           state_file=state_file, workers=workers))
        if settings.workers > 1:
            from .workers import supervise

            sys.exit(supervise(settings))
        asyncio.run(_serve(settings))
    except (ValidationError, ImportError, StateFileError) as exc:
        # Never a silent fresh start over a file someone meant to keep, nor a start
        # with settings other than the ones asked for.
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


async def _serve(settings: Settings) -> None:
    settings, generated = prepare_exposure(settings)
    runner, lines, warnings = await start(settings, generated)
    announce(lines, warnings)
    try:
        await stopped()
    finally:
        await runner.cleanup()


async def start(settings: Settings, generated: str | None = None, reuse_port: bool = False,
                workers: int = 1) -> tuple[web.AppRunner, list[str], list[str]]:
    """Build the app and listen; returns the runner, the banner's lines (stdout) and the
    exposure warning with the generated token's hint (stderr; empty on loopback).  ``reuse_port``: one of several
    workers on one port (``serve --workers``)."""
    app = create_app(settings)
    # Contracts and compiled validators live for the whole process; moving them out of
    # the collector's generations keeps full GC passes (and p99 spikes) short.
    gc.freeze()
    runner = make_runner(app, settings)
    site = await start_site(runner, settings, reuse_port=reuse_port)
    port = site.port  # the real one when --port 0
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    base = f"http://{host}:{port}"
    warning = exposure_warning(settings, port)
    warnings: list[str] = []
    if warning is not None:
        warnings.append(warning)
        if generated is not None:
            warnings.append(f"admin token (generated for this run; set one with --admin-token or "
                          f"PIXVERSE_MOCK_ADMIN_TOKEN): {generated}\n"
                          f"  open {base}/__admin/?token={generated} in a browser, or send "
                          f"'Authorization: Bearer <token>'")
    processes = f", {workers} workers" if workers > 1 else ""
    lines = [f"pixverse-mock listening on {base}  (time scale {settings.time_scale:g}x, "
             f"seed {settings.seed}, progress by {settings.progress_mode}{processes})"]
    for adapter in app[ADAPTERS].values():
        lines.append(f"  {adapter.title:<22} base URL {base}{adapter.client_base_path:<6} "
                     f"instead of {adapter.upstream}{adapter.client_base_path}  auth: {adapter.auth_hint}")
    lines.append(f"  {'admin':<22} {base}/__admin/health   media: {base}/__files/")
    return runner, lines, warnings


def announce(lines: list[str], warnings: list[str]) -> None:
    """Print what :func:`start` returned: the exposure warning loud on stderr (and
    logged), the banner on stdout."""
    if warnings:
        log.warning(warnings[0])
        click.echo(click.style(f"WARNING: {warnings[0]}", fg="red", bold=True), err=True)
        for line in warnings[1:]:
            click.echo(line, err=True)
    for line in lines:
        click.echo(line)


async def stopped() -> None:
    """Return once SIGTERM or SIGINT arrives.  Stopping then is clean: due webhook
    deliveries are attempted and the undelivered ones reported (README) before exit."""
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # no signal handlers on this platform
            pass
    await stop.wait()


if __name__ == "__main__":
    main()
