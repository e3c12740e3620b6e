"""``ProviderSpec``: everything the house outside a provider's folder knows about it.

Each adapter package declares exactly one (``providers/<name>/spec.py``, ``SPEC``) and
the registry (``providers/__init__.py``) collects them.  The engine, settings, the
control plane, the testing kit, the load scenarios and the Makefile read provider facts
from here, never by name, so a fifth reseller is its folder, its contract and its docs.

A spec holds data: the adapter class is named by import path (``adapter``) and loaded
when an app is built, and settings are bound to the registry by ``providers.configure``
(settings import no provider), so nothing below ``providers/`` imports a provider.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel

#: How a provider tells a client that a job changed: it does not ("none"), to a URL the
#: create request names ("per-request", Freepik's ``webhook_url``), or to one URL set for
#: the whole account (``account``, PixVerse's console webhook).
WebhookChannel = Literal["none", "per-request", "account"]


@dataclass(frozen=True, slots=True)
class PollInterval:
    """Provider seconds a client should wait between two status reads: at least
    ``low_s`` (what the harness holds a client to), typically up to ``high_s`` (what the
    load scenarios draw from), and the document that says so."""

    low_s: float
    high_s: float
    source: str


@dataclass(frozen=True, slots=True)
class ErrorEnvelope:
    """An answer that is HTTP 200 yet an error: ``body[field] != success`` (pixwith's
    ``code``, PixVerse's ``ErrCode``).  Must agree with the contract's
    ``info.x-error-envelope`` (the generic provider suite checks it)."""

    field: str
    success: Any


class NoSettings(BaseModel):
    """The settings section of a provider that has no knobs of its own."""


@dataclass(frozen=True)
class ProviderSpec:
    """One provider as the rest of the fake sees it.

    - ``name``: the id in the engine, journal, metrics, fault rules and settings section.
    - ``title``, ``upstream``, ``client_base_path``, ``auth_hint``: the start-up banner
      and the README (the real origin, what a client's base URL ends with, the header).
    - ``adapter``: ``"package.module:Class"`` (or the class), a ``providers.base.ProviderAdapter``.
    - ``contract``: the contract's file stem; ``contract_dir`` where it is (None: the
      fake's ``contracts_dir`` setting).
    - ``status_map``: neutral job state (``engine.jobs``) -> the provider's status;
      ``status_key`` the key a status read puts it under (at any depth).
    - ``submit_operations``: operationIds that submit a job (None: the POSTs whose body
      has a ``prompt``); ``poll_operations``: those that read a job's status;
      ``example_submit`` one valid submit, (operationId, JSON body), for the tools that
      send one without knowing the provider (None: the first submit operation's
      documented request example).
    - ``poll_interval``: the shortest documented wait between reads, with its source.
    - ``server_errors``: HTTP 5xx the provider documents on both its submit and its
      status operations (what the harness injects as ``server_error``);
      ``rate_limits_on`` where it can answer a rate limit (PixVerse: submits only).
    - ``settings_model``: its settings section (``Settings.<name>``, env
      ``PIXVERSE_MOCK_<NAME>__<FIELD>``); ``starting_credits`` a new key's default
      balance (None: the top-level ``starting_credits``); ``refunds`` the outcomes whose
      cost goes back by default; ``rate_limit_preset`` the documented rate limits as
      ``RateLimitRule`` fields (``accounts.rate_limit_presets: [<name>]``).
    - ``webhooks``: its webhook channel.  ``account``: the adapter defines the default
      hook (``engine.webhooks.define_account``) and the control plane serves it at
      ``/__admin/webhooks/<name>``.
    - ``task_id_keys``: where a task id sits: path and query parameter names and JSON
      body keys (the journal's ``task_id`` filter reads them).
    - ``error_envelope``: the in-band error envelope, None when errors are HTTP statuses.
    """

    name: str
    title: str
    adapter: "str | type"
    contract: str
    upstream: str
    auth_hint: str
    status_map: Mapping[str, Any]
    status_key: str
    poll_operations: frozenset[str]
    poll_interval: PollInterval
    server_errors: tuple[int, ...]
    rate_limits_on: tuple[Literal["submit", "poll"], ...] = ("submit", "poll")
    client_base_path: str = ""
    submit_operations: frozenset[str] | None = None
    example_submit: tuple[str, Mapping[str, Any]] | None = None
    settings_model: type[BaseModel] = NoSettings
    starting_credits: int | None = None
    refunds: tuple[Literal["failed", "moderated"], ...] = ()
    rate_limit_preset: tuple[Mapping[str, Any], ...] = ()
    webhooks: WebhookChannel = "none"
    task_id_keys: tuple[str, ...] = ("task_id", "id")
    error_envelope: ErrorEnvelope | None = None
    contract_dir: Path | None = None

    def adapter_class(self) -> type[Any]:
        """The adapter class ``adapter`` names (imported on first use), a
        ``providers.base.ProviderAdapter`` subclass (typed loosely: base imports this
        module, not the other way round).  Raises ImportError or AttributeError when it
        does not exist."""
        if isinstance(self.adapter, type):
            return self.adapter
        module, _, attr = self.adapter.partition(":")
        found: type[Any] = getattr(importlib.import_module(module), attr)
        return found

    def contract_path(self, contracts_dir: Path) -> Path:
        """The contract file: ``<contract_dir or contracts_dir>/<contract>.yaml``."""
        return Path(self.contract_dir or contracts_dir) / f"{self.contract}.yaml"
