"""The four provider adapters, all of the same shape (see ``base.ProviderAdapter``)."""
from __future__ import annotations

from .freepik import FreepikAdapter

PROVIDERS = (FreepikAdapter,)

__all__ = ["PROVIDERS", "FreepikAdapter"]
