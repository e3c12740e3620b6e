"""The ``pixwith`` settings section (``Settings.pixwith``, env ``PIXVERSE_MOCK_PIXWITH__<FIELD>``)."""
from __future__ import annotations

from pydantic import BaseModel


class PixwithSettings(BaseModel):
    # The documented public test key always works, whatever the allow-list says.
    test_api_key: str = "key_00000000000000000000000000000000"
