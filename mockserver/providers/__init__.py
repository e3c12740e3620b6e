"""The provider registry: every provider the fake serves, as a ``ProviderSpec``.

Built-in providers are the sub-packages of this package that have a ``spec`` module
(``providers/<name>/spec.py`` defining ``SPEC``), found when the registry is first read.
A provider from elsewhere (a reseller of your own) is added, without editing anything
here, by any of:

- an entry point in the group ``pixverse_mock.providers`` naming its spec
  (``reseller = "my_package.spec:SPEC"`` under
  ``[project.entry-points."pixverse_mock.providers"]``);
- the setting ``provider_modules`` (env ``PIXVERSE_MOCK_PROVIDER_MODULES``, comma-separated
  or a JSON list; a profile's ``provider_modules:``), each ``"package.module:ATTR"`` where
  ``ATTR`` is a ``ProviderSpec`` or an adapter class with a ``spec`` (no ``:ATTR``:
  the module's ``SPEC``);
- :func:`register` from Python, before the app is built.

The registry is read when an app and the testing tools are built, never per request.
Settings know no provider: :func:`configure` (called by ``create_app`` and ``serve``)
registers their ``provider_modules`` and binds them to the registry (each provider's
settings section, default starting credits, refunds, rate limit presets).  Order:
built-ins (in ``BUILTIN_ORDER``, then by name), then the rest in the order they were
registered.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import os
import pkgutil
from typing import Any, Iterator

from ..settings import ProviderDefaults, RateLimitRule, Settings, module_paths
from .spec import ErrorEnvelope, NoSettings, PollInterval, ProviderSpec, WebhookChannel

ENTRY_POINT_GROUP = "pixverse_mock.providers"
ENV_MODULES = "PIXVERSE_MOCK_PROVIDER_MODULES"
#: How the built-ins are listed (banner, README, enums): the order users know.
BUILTIN_ORDER = ("freepik", "pixwith", "aimlapi", "pixverse")
#: Names a provider may not take: the fake's own pseudo-providers and sections.
RESERVED = frozenset({"files", "admin", "unmatched"})

REGISTRY: dict[str, ProviderSpec] = {}
_loaded = False


def _builtins() -> Iterator[ProviderSpec]:
    found = []
    for module in pkgutil.iter_modules(__path__):
        if module.ispkg:
            try:
                spec_module = importlib.import_module(f"{__name__}.{module.name}.spec")
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{module.name}.spec":
                    raise
                continue
            found.append(spec_module.SPEC)
    rank = {name: n for n, name in enumerate(BUILTIN_ORDER)}
    yield from sorted(found, key=lambda s: (rank.get(s.name, len(rank)), s.name))


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for spec in _builtins():
        REGISTRY.setdefault(spec.name, spec)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        register(_as_spec(entry.load(), entry.value))
    for path in _env_modules():
        load(path)


def _env_modules() -> list[str]:
    return module_paths(os.environ.get(ENV_MODULES))


def _as_spec(obj: Any, where: str) -> ProviderSpec:
    if isinstance(obj, ProviderSpec):
        return obj
    spec = getattr(obj, "spec", None) if isinstance(obj, type) else getattr(obj, "SPEC", None)
    if isinstance(spec, ProviderSpec):
        return spec
    raise TypeError(f"{where} is not a ProviderSpec, an adapter class with one, or a module with SPEC")


def register(spec: ProviderSpec, *, replace: bool = False) -> ProviderSpec:
    """Add ``spec`` to the registry (an app built afterwards serves it).  Raises
    ValueError when its name is taken (unless ``replace``) or reserved."""
    _ensure_loaded()
    if spec.name in RESERVED or not spec.name.isidentifier():
        raise ValueError(f"provider name {spec.name!r} is reserved or not an identifier")
    current = REGISTRY.get(spec.name)
    if current is not None and current is not spec and not replace:
        raise ValueError(f"provider {spec.name!r} is already registered")
    REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a provider (tests of a run-time registration clean up with this)."""
    REGISTRY.pop(name, None)


def load(path: str) -> ProviderSpec:
    """Import ``"package.module:ATTR"`` (or ``"package.module"``: its ``SPEC``) and
    register what it names.  Registering the same spec twice is a no-op."""
    module_name, _, attr = path.partition(":")
    module = importlib.import_module(module_name)
    spec = _as_spec(getattr(module, attr) if attr else module, path)
    if REGISTRY.get(spec.name) is not spec:
        register(spec)
    return spec


def specs() -> tuple[ProviderSpec, ...]:
    """Every registered provider, built-ins first."""
    _ensure_loaded()
    return tuple(REGISTRY.values())


def names() -> tuple[str, ...]:
    """Every registered provider's name, in registry order."""
    return tuple(s.name for s in specs())


def spec(name: str) -> ProviderSpec:
    """The spec of provider ``name``.  Raises ValueError naming the known ones."""
    _ensure_loaded()
    found = REGISTRY.get(name)
    if found is None:
        raise ValueError(f"unknown provider {name!r}; one of {', '.join(REGISTRY)}")
    return found


def rate_limit_presets() -> dict[str, list[RateLimitRule]]:
    """Named rule sets for ``accounts.rate_limit_presets``: each provider's documented
    limits (``ProviderSpec.rate_limit_preset``; Freepik's, docs.freepik.com/ratelimits),
    applying to that provider alone."""
    return {s.name: [RateLimitRule(**rule, providers=[s.name]) for rule in s.rate_limit_preset]
            for s in specs() if s.rate_limit_preset}


def default_starting_credits() -> dict[str, int]:
    """Starting balance per provider when neither ``accounts.starting_credits`` nor the
    top-level ``starting_credits`` is set (``ProviderSpec.starting_credits``)."""
    return {s.name: s.starting_credits for s in specs() if s.starting_credits is not None}


def configure(settings: Settings) -> Settings:
    """``settings`` bound to the registry (``Settings.bound``), after registering their
    ``provider_modules``: what ``create_app`` serves and ``serve`` checks before it
    starts.  Raises ImportError, AttributeError or TypeError for a provider module that
    does not name a spec, ValueError for a taken or reserved name, and
    pydantic.ValidationError for a bad section or an unknown provider name in settings."""
    for path in module_paths(settings.provider_modules):
        load(path)
    registered = specs()
    return settings.bound(ProviderDefaults(
        sections={s.name: s.settings_model for s in registered},
        starting_credits=default_starting_credits(),
        refunds={s.name: s.refunds for s in registered if s.refunds},
        rate_limit_presets={name: tuple(rules) for name, rules in rate_limit_presets().items()}))


def __getattr__(attr: str) -> Any:
    # Kept for code that imported the adapters from here: resolved on use, so reading
    # the registry does not import every adapter.  Submodules (``from .. import
    # pricing`` while the registry itself is loading) must not reach the registry.
    if not attr[:1].isupper():
        raise AttributeError(attr)
    if attr == "PROVIDERS":
        return tuple(s.adapter_class() for s in specs())
    for s in specs():
        cls_name = s.adapter.rpartition(":")[2] if isinstance(s.adapter, str) else s.adapter.__name__
        if cls_name == attr:
            return s.adapter_class()
    raise AttributeError(attr)


__all__ = ["BUILTIN_ORDER", "ENTRY_POINT_GROUP", "ENV_MODULES", "REGISTRY", "ErrorEnvelope", "NoSettings",
           "PollInterval", "ProviderSpec", "WebhookChannel", "configure", "default_starting_credits", "load",
           "module_paths", "names", "rate_limit_presets", "register", "spec", "specs", "unregister"]
