"""Every typed ``web.AppKey`` of the fake, in one place.

Annotated rather than built with a type argument so this module imports nothing of the
package at run time: any module (engine side excepted) can import it without a cycle.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .admin.metrics import Metrics
    from .contract import Contract
    from .engine import Engine
    from .engine.state import FaultRules
    from .outbound import ClientSender
    from .settings import Settings

# The application (create_app).
ENGINE: web.AppKey[Engine] = web.AppKey("engine")
SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
# Provider name -> its ProviderAdapter.
ADAPTERS: web.AppKey[dict[str, Any]] = web.AppKey("adapters")
# The fault rules the /__files routes read (media downloads can be slowed or broken).
FAULTS: web.AppKey[FaultRules] = web.AppKey("pixverse_mock_faults")

# The control plane (set on the admin sub-application and copied to the application).
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
ADMIN_CONTRACT: web.AppKey[Contract] = web.AppKey("admin_contract")
# Strict mode: every way an admin answer broke contracts/admin.yaml (should stay empty).
ADMIN_VIOLATIONS: web.AppKey[list[str]] = web.AppKey("admin_violations")
# Open dashboard event streams (closed at shutdown).
STREAMS: web.AppKey[set[Any]] = web.AppKey("dashboard_streams")
# The webhook sender the scheduler delivers with.
SENDER: web.AppKey[ClientSender] = web.AppKey("webhook_sender")
