"""Placeholder: being written."""
from __future__ import annotations

from ..base import ProviderAdapter


class PixwithAdapter(ProviderAdapter):
    name = "pixwith"
    title = "pixwith"
    contract_name = "pixwith"
    upstream = ""
    auth_hint = ""
    handlers: dict[str, str] = {}
