"""Where the contracts are, and what the testing tools need to know per provider.

The contracts (``contracts/*.yaml``, OpenAPI 3.1) are looked up, first match wins:

1. ``$PIXVERSE_MOCK_CONTRACTS_DIR`` (the same variable the fake's settings read);
2. ``mockserver/contracts/`` inside the installed package (a wheel that ships them as
   package data);
3. the repository's ``contracts/`` (a checkout, or an editable install).

They are loaded with the fake's own loader (``mockserver.contract``), which
dereferences them, so strategies, the harness and the fake read one source.
"""
from __future__ import annotations

import functools
import importlib.resources
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..contract import Contract, ContractError, Operation, load_contract

if TYPE_CHECKING:
    from ..providers.base import ProviderAdapter

#: The four providers, in the order the fake lists them.
PROVIDERS = ("freepik", "pixwith", "aimlapi", "pixverse")

#: Operations that read a job's status: what the harness counts as a poll.
POLL_OPERATIONS: dict[str, frozenset[str]] = {
    "freepik": frozenset({"get_pixverse_v5_video", "get_pixverse_v5_transition_video",
                          "get_pixverse_v5_text_to_video"}),
    "pixwith": frozenset({"get_task"}),
    "aimlapi": frozenset({"get_video_generation", "get_pixverse_generation_legacy"}),
    "pixverse": frozenset({"get_video_result", "get_image_result"}),
}


def contracts_dir() -> Path:
    """The directory holding ``<provider>.yaml``.  Raises ContractError when none does."""
    candidates: list[Path] = []
    env = os.environ.get("PIXVERSE_MOCK_CONTRACTS_DIR")
    if env:
        candidates.append(Path(env))
    try:
        candidates.append(Path(str(importlib.resources.files("mockserver") / "contracts")))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - exotic importers
        pass
    from ..settings import Settings

    candidates.append(Path(Settings.model_fields["contracts_dir"].default))
    for candidate in candidates:
        if (candidate / "freepik.yaml").is_file():
            return candidate
    raise ContractError("pixverse-mock contracts not found; looked in "
                        + ", ".join(str(c) for c in candidates)
                        + " (set PIXVERSE_MOCK_CONTRACTS_DIR)")


def _check(provider: str) -> None:
    if provider not in PROVIDERS and provider != "admin":
        raise ValueError(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")


def contract(provider: str) -> Contract:
    """The provider's contract, dereferenced (``mockserver.contract.Contract``)."""
    _check(provider)
    return load_contract(contracts_dir(), provider)


def operation(provider: str, operation_id: str) -> Operation:
    """One operation of a provider's contract.  Raises ContractError for an unknown id."""
    return contract(provider).operation(operation_id)


def operation_ids(provider: str) -> list[str]:
    """Every operationId of the provider's contract, in document order."""
    return list(contract(provider).operations)


@functools.lru_cache(maxsize=None)
def _adapter_class(provider: str) -> type[ProviderAdapter]:
    from ..providers import PROVIDERS as ADAPTERS

    for cls in ADAPTERS:
        if cls.name == provider:
            return cls
    raise ValueError(f"unknown provider {provider!r}")  # pragma: no cover


def client_base_path(provider: str) -> str:
    """What a client's base URL ends with on top of the origin (``/v2`` for AI/ML API)."""
    _check(provider)
    return _adapter_class(provider).client_base_path


def submit_operations(provider: str) -> frozenset[str]:
    """operationIds that submit a generation job (as the fake's fault rules mean ``submit``)."""
    _check(provider)
    cls = _adapter_class(provider)
    if cls.submit_operations is not None:
        return frozenset(cls.submit_operations)
    from ..providers.base import _has_property

    c = contract(provider)
    return frozenset(op_id for op_id in cls.handlers
                     if c.operation(op_id).method == "POST"
                     and _has_property(c.operation(op_id).body_schema, "prompt"))


def poll_operations(provider: str) -> frozenset[str]:
    """operationIds that read a job's status."""
    _check(provider)
    return POLL_OPERATIONS[provider]


def auth_headers(provider: str, api_key: str) -> dict[str, str]:
    """The header(s) that carry ``api_key``, from the contract's first security scheme."""
    schemes = contract(provider).document.get("components", {}).get("securitySchemes", {})
    for scheme in schemes.values():
        if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
            return {scheme["name"]: api_key}
        if scheme.get("type") == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
            return {"Authorization": f"Bearer {api_key}"}
    return {}  # pragma: no cover - every provider contract names one


__all__ = ["PROVIDERS", "POLL_OPERATIONS", "ContractError", "auth_headers", "client_base_path",
           "contract", "contracts_dir", "operation", "operation_ids", "poll_operations",
           "submit_operations"]
