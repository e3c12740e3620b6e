"""Placeholder: being written."""
from __future__ import annotations

from ..base import ProviderAdapter


class PixverseAdapter(ProviderAdapter):
    name = "pixverse"
    title = "pixverse"
    contract_name = "pixverse"
    upstream = ""
    auth_hint = ""
    handlers: dict[str, str] = {}
