"""The four provider adapters, all of the same shape (see ``base.ProviderAdapter``)."""
from __future__ import annotations

from .aimlapi import AimlapiAdapter
from .freepik import FreepikAdapter
from .pixverse import PixverseAdapter
from .pixwith import PixwithAdapter

PROVIDERS = (FreepikAdapter, PixwithAdapter, AimlapiAdapter, PixverseAdapter)

__all__ = ["PROVIDERS", "FreepikAdapter", "PixwithAdapter", "AimlapiAdapter", "PixverseAdapter"]
