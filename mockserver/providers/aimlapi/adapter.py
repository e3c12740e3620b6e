"""Placeholder: being written."""
from __future__ import annotations

from ..base import ProviderAdapter


class AimlapiAdapter(ProviderAdapter):
    name = "aimlapi"
    title = "aimlapi"
    contract_name = "aimlapi"
    upstream = ""
    auth_hint = ""
    handlers: dict[str, str] = {}
