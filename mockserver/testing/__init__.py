"""What users import into their own test suites.

- the pytest plugin (``mockserver.testing.plugin``, registered as ``pixverse_mock``):
  fixtures ``pixverse_mock``, ``pixverse_mock_session``, ``pixverse_mock_settings``;
- :class:`MockAdmin`: the control-plane handle those fixtures yield (clock, faults, jobs,
  journal assertions), usable on its own against any running fake;
- :class:`ThreadedFake`: the fake in a background thread of this process;
- ``mockserver.testing.strategies``: Hypothesis strategies of valid requests and
  responses per operation, from ``contracts/`` (needs ``hypothesis``);
- :func:`check_client`: the conformance harness for a "submit and wait" client (needs
  ``hypothesis``).

the README is the guide.  Names load on first use: the plugin imports this
package in every pytest session, which must stay cheap.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .admin import AdminError, MockAdmin, format_journal
    from .harness import CheckReport, ClientCheckFailed, Fault, Schedule, check_client, schedules
    from .server import ThreadedFake

_WHERE = {
    "AdminError": "admin", "MockAdmin": "admin", "format_journal": "admin",
    "ThreadedFake": "server",
    "check_client": "harness", "CheckReport": "harness", "ClientCheckFailed": "harness",
    "Fault": "harness", "Schedule": "harness", "schedules": "harness",
}

# Spelled out (not ``sorted(_WHERE)``) so linters and type checkers see the exports.
__all__ = ["AdminError", "CheckReport", "ClientCheckFailed", "Fault", "MockAdmin", "Schedule", "ThreadedFake",
           "check_client", "format_journal", "schedules"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
