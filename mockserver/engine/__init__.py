"""Provider-neutral domain: clock, jobs, storage, media, credits.  No aiohttp here."""
from .core import Engine

__all__ = ["Engine"]
