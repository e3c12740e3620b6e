"""Provider-neutral domain: clock, jobs, storage, media, credits, faults, webhooks.

No aiohttp, no HTTP-layer module and no provider here (``tests/engine/test_boundaries.py``):
providers reach it through :class:`Engine`'s methods and supply what is theirs (a
webhook ``Channel`` with its signature scheme, a ``JobSpec``)."""
from .core import Engine

__all__ = ["Engine"]
