"""``pixverse-mock serve|...``: the command line of the fake."""
from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from .engine.state import StoreUnavailable
from .engine.statefile import StateFileError
from .providers import configure
from .serving import announce, prepare_exposure, start, stopped
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
              help="Keep the state (jobs, ids, the clock, uploads, credits, limits, journal, faults, "
                   "webhooks) in this Redis (redis://host:port/db) so several processes act as one "
                   "fake [$PIXVERSE_MOCK_REDIS_URL] (README, Scaling out).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes on one port (SO_REUSEPORT) sharing the state in Redis; "
                   "more than one needs --redis (README, Scaling out) [1].")
def serve(host, port, time_scale, seed, profile, progress_mode, strict, admin_token, state_file,
          redis_url, workers) -> None:
    """Start the fake and print what to point each provider's client at.  Exits 2 with
    the reason on stderr for settings that do not validate (a bad value, a provider
    section or name the registry does not know, a provider module that cannot be
    imported) and for a state file that cannot be read back."""
    try:
        settings = configure(Settings.load(profile, host=host, port=port, time_scale=time_scale, seed=seed,
                                           progress_mode=progress_mode, strict=strict, admin_token=admin_token,
                                           state_file=state_file, redis_url=redis_url,
                                           workers=workers))
        if settings.workers > 1:
            from .workers import supervise

            sys.exit(supervise(settings))
        asyncio.run(_serve(settings))
    except (ValidationError, ImportError, StateFileError, StoreUnavailable) as exc:
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


if __name__ == "__main__":
    main()
