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

import importlib.resources
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..contract import Contract, ContractError, Operation, load_contract

if TYPE_CHECKING:
    from ..providers.spec import ProviderSpec

def __getattr__(name: str) -> object:
    # Read from the provider registry when asked (a provider registered at run time
    # shows up): ``PROVIDERS`` every registered name, ``POLL_OPERATIONS`` name ->
    # operationIds that read a job's status.
    from ..providers import specs

    if name == "PROVIDERS":
        return tuple(s.name for s in specs())
    if name == "POLL_OPERATIONS":
        return {s.name: s.poll_operations for s in specs()}
    raise AttributeError(name)


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
    from ..providers import specs

    # A directory counts when it holds the first built-in provider's contract.
    probe = next(f"{s.contract}.yaml" for s in specs() if s.contract_dir is None)
    for candidate in candidates:
        if (candidate / probe).is_file():
            return candidate
    raise ContractError("pixverse-mock contracts not found; looked in "
                        + ", ".join(str(c) for c in candidates)
                        + " (set PIXVERSE_MOCK_CONTRACTS_DIR)")


def provider_spec(provider: str) -> "ProviderSpec":
    """The registered provider's spec.  Raises ValueError naming the known ones."""
    from ..providers import spec

    return spec(provider)


def contract(provider: str) -> Contract:
    """The provider's contract (or ``"admin"``), dereferenced (``mockserver.contract.Contract``)."""
    if provider == "admin":
        return load_contract(contracts_dir(), provider)
    found = provider_spec(provider)
    return load_contract(found.contract_dir or contracts_dir(), found.contract)


def operation(provider: str, operation_id: str) -> Operation:
    """One operation of a provider's contract.  Raises ContractError for an unknown id."""
    return contract(provider).operation(operation_id)


def operation_ids(provider: str) -> list[str]:
    """Every operationId of the provider's contract, in document order."""
    return list(contract(provider).operations)


def client_base_path(provider: str) -> str:
    """What a client's base URL ends with on top of the origin (``/v2`` for AI/ML API)."""
    return provider_spec(provider).client_base_path


def submit_operations(provider: str) -> frozenset[str]:
    """operationIds that submit a generation job (as the fake's fault rules mean ``submit``)."""
    found = provider_spec(provider)
    if found.submit_operations is not None:
        return found.submit_operations
    from ..providers.base import _has_property

    c = contract(provider)
    return frozenset(op_id for op_id in found.adapter_class().handlers
                     if c.operation(op_id).method == "POST"
                     and _has_property(c.operation(op_id).body_schema, "prompt"))


def poll_operations(provider: str) -> frozenset[str]:
    """operationIds that read a job's status."""
    return provider_spec(provider).poll_operations


def auth_headers(provider: str, api_key: str) -> dict[str, str]:
    """The header(s) that carry ``api_key``, from the contract's first security scheme."""
    schemes = contract(provider).document.get("components", {}).get("securitySchemes", {})
    for scheme in schemes.values():
        if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
            return {scheme["name"]: api_key}
        if scheme.get("type") == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
            return {"Authorization": f"Bearer {api_key}"}
    return {}  # pragma: no cover - every provider contract names one


__all__ = ["PROVIDERS", "POLL_OPERATIONS", "ContractError",  # noqa: F822 (module __getattr__, from the registry)
           "auth_headers", "client_base_path", "provider_spec",
           "contract", "contracts_dir", "operation", "operation_ids", "poll_operations",
           "submit_operations"]
