"""One typed settings object for the whole fake.

Precedence, lowest first: defaults here <- profile file (YAML) <- environment
(``PIXVERSE_MOCK_*``) <- CLI flags.  Durations are virtual seconds unless a name
says otherwise; the virtual clock turns them into wall time by ``time_scale``.
"""
from __future__ import annotations

import json
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping

import yaml
from pydantic import BaseModel, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "PIXVERSE_MOCK_"

# Outcomes whose cost can go back to the key (``Settings.refunds``).
Refundable = Literal["failed", "moderated"]


def module_paths(value: Any) -> list[str]:
    """Import paths as given to ``provider_modules``: a list as is, a string as a JSON
    list or as comma-separated paths, None as none."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return [str(p) for p in json.loads(text)]
        return [p.strip() for p in text.split(",") if p.strip()]
    return list(value)


@dataclass(frozen=True)
class ProviderDefaults:
    """What settings take from the provider registry when they are bound to it
    (``mockserver.providers.configure``).  Plain data handed in, so that this module
    imports no provider (the adapters import it).

    - ``sections``: provider name -> its settings model (``ProviderSpec.settings_model``).
    - ``starting_credits``: provider -> a new key's default balance.
    - ``refunds``: provider -> outcomes refunded by default.
    - ``rate_limit_presets``: preset name -> its rules (``accounts.rate_limit_presets``).
    """

    sections: Mapping[str, type[BaseModel]]
    starting_credits: Mapping[str, int]
    refunds: Mapping[str, tuple[Refundable, ...]]
    rate_limit_presets: Mapping[str, tuple["RateLimitRule", ...]]


class RateLimitRule(BaseModel):
    """At most ``limit`` requests in any ``window_s`` seconds from one client address
    (``per: ip``) or one API key (``per: key``), to ``providers`` (None: all)."""

    limit: int = Field(ge=1)
    window_s: float = Field(gt=0)
    per: Literal["ip", "key"] = "ip"
    # Registered provider names (providers/__init__.py), checked by ``Settings.bound``.
    providers: list[str] | None = None


class AccountSettings(BaseModel):
    """Credits, concurrency caps and rate limits per API key (README)."""

    # Provider -> starting balance of every key, in the provider's unit.
    starting_credits: dict[str, int] = Field(default_factory=dict)
    # Provider -> most jobs one key may have queued or running (absent: no cap).
    concurrency: dict[str, int] = Field(default_factory=dict)
    # Provider -> outcomes whose cost goes back to the key when first observed.  Bound
    # to the registry, each provider's ``ProviderSpec.refunds`` lies under this
    # (PixVerse refunds moderated videos; ``pixverse: []`` turns that off).
    refunds: dict[str, list[Refundable]] = Field(default_factory=dict)
    # Off by default.  Presets by provider name (providers.rate_limit_presets()) plus rules of your own.
    rate_limit_presets: list[str] = Field(default_factory=list)
    rate_limits: list[RateLimitRule] = Field(default_factory=list)
    # Windows count wall seconds (what a client's real request rate meets) or virtual ones.
    rate_limit_clock: Literal["wall", "virtual"] = "wall"


class WebhookSettings(BaseModel):
    """Provider-neutral webhook delivery (README)."""

    # Hosts deliveries may go to: names, IP addresses, CIDR networks, "*.domain", the word
    # "loopback" (127.0.0.0/8, ::1, localhost) or "*" (anywhere).  Others are refused and logged.
    allowed_hosts: list[str] = Field(default_factory=lambda: ["loopback"])
    # Wall seconds one attempt may take.
    timeout_s: float = 10.0
    # Attempts running at once.
    max_in_flight: int = 64
    # Attempts kept in the delivery log (newest), and characters kept of each response (a
    # short excerpt, token-like runs cut: the log must not turn the fake into a way to
    # read what a loopback-only service answers).
    log_max_entries: int = 10_000
    response_max_chars: int = 80
    # Signature timestamps: wall time (receivers reject skew over ~5 min) or virtual.
    # None (default) follows the top-level `timestamp_clock`; kept as an override.
    timestamp_clock: Literal["wall", "virtual"] | None = None
    # On shutdown, wall seconds to attempt deliveries already due; the rest are logged.
    shutdown_grace_s: float = 5.0


class Settings(BaseSettings):
    """Every knob of the fake.  Units are in the names or the comments."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__")

    host: str = "127.0.0.1"
    port: int = 8000
    # The control plane's credential (README, Running it safely).  None on loopback: no
    # credential; bound beyond loopback, `serve` generates one when none is set.
    admin_token: str | None = None
    # Slow clients (wall seconds): a new connection's first request headers must arrive
    # within header_read_timeout_s; an idle kept-alive connection (or one whose next
    # request's headers are not all in) is closed after keepalive_timeout_s (nginx's 75).
    header_read_timeout_s: float = Field(10.0, gt=0)
    keepalive_timeout_s: float = Field(75.0, gt=0)
    # On shutdown (SIGTERM, Ctrl-C), wall seconds requests still being answered get
    # before they are cut off.  Injected waits (latency, hang) end at once, whatever
    # this says; webhook deliveries have their own webhooks.shutdown_grace_s.
    shutdown_grace_s: float = Field(2.0, ge=0)
    # Base URL put into result URLs; None derives it from each request's Host header.
    public_base_url: str | None = None

    # 50x turns a typical 60-150 s generation into 1-3 s of wall time.
    time_scale: float = 50.0
    # Timestamps the fake writes into bodies and webhook signatures (AI/ML API's error
    # `timestamp` and `lastUpdated`, PixVerse's `create_time`/`modify_time`): "wall", the
    # wall-clock instant at which the virtual clock passed that virtual instant, so they
    # read like the Date header whatever the time scale; "virtual", the virtual instant.
    timestamp_clock: Literal["wall", "virtual"] = "wall"
    seed: int | None = None

    # How jobs advance: by virtual time, after N status reads, or only via the admin API.
    progress_mode: Literal["time", "polls", "manual"] = "time"
    queued_polls: int = 1
    running_polls: int = 2

    # Plan drawn at creation (virtual seconds).  Generation time is for a 5 s clip and
    # scales with duration; observed 30 s - 2.5 min across the providers' examples.
    queue_seconds: tuple[float, float] = (2.0, 8.0)
    generation_seconds: dict[str, float] = Field(
        default_factory=lambda: {"360p": 35.0, "540p": 45.0, "720p": 60.0, "1080p": 90.0}
    )
    generation_jitter: float = 0.2
    failure_rate: float = 0.0
    moderation_rate: float = 0.0

    # Retention: a job is dropped `retention_seconds` after it finishes, or when more
    # than `retention_max_jobs` are stored (oldest first), so memory stays bounded.
    retention_max_jobs: int = 100_000
    retention_seconds: float = 24 * 3600.0
    retention_max_upload_bytes: int = 512 * 1024 * 1024
    # Bytes of the requests jobs keep (each job's body as sent): past it finished jobs
    # are dropped first, oldest first; a queued or running one only when they do not
    # free enough (README, "Time, jobs and results").
    retention_max_request_bytes: int = Field(256 * 1024 * 1024, ge=0)

    # None: any non-empty key works (like most sandboxes).  A list: only those keys.
    api_keys: list[str] | None = None
    # Every key's starting balance (a provider's own `accounts.starting_credits` wins;
    # unset, a provider's ``ProviderSpec.starting_credits``, AI/ML API's).  See starting_balance().
    starting_credits: int = 100_000
    accounts: AccountSettings = Field(default_factory=AccountSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)

    # Image-to-video from a URL the fake cannot see: the output aspect ratio to assume.
    default_aspect_ratio: str = "16:9"

    # Fault rules active from start-up, each a FaultRule (mockserver/engine/faults/rules.py,
    # README), e.g. [{"provider": "freepik", "error": 503, "probability": 0.1}].
    faults: list[dict[str, Any]] = Field(default_factory=list)
    # Honour X-Mock-* request headers, [mock:...] prompt markers and mock_* test API keys.
    fault_directives: bool = True

    # Validate every response against its contract and fail loudly (on in tests).
    strict: bool = False
    # Request journal (/__admin/journal, the testing fixture's assertions): entries kept,
    # newest last, and bytes kept of each request and response body.  0 entries turns it
    # off, leaving journal assertions nothing to read; it saves little CPU (README,
    # Performance), mostly memory: up to 2 x journal_body_limit bytes per entry.
    journal_max_entries: int = Field(10_000, ge=0)
    journal_body_limit: int = Field(2048, ge=0)
    # Bytes of bodies the whole journal keeps: past it the oldest entries go.
    journal_max_bytes: int = Field(32 * 1024 * 1024, ge=0)
    # mockserver/contracts links to the repository's contracts/ and ships in the wheel,
    # so a normal (non-editable) install finds them too.
    contracts_dir: Path = Path(__file__).resolve().parent / "contracts"
    media_cache_dir: Path = Path.home() / ".cache" / "pixverse-mock" / "media"

    # State that outlives a restart (README, Scaling out): the in-memory state is
    # written to `state_file` on shutdown and every `state_save_interval_s` wall
    # seconds, and read back at start (engine/statefile.py).  None: nothing is kept.
    state_file: Path | None = None
    state_save_interval_s: float = Field(30.0, gt=0)
    # Shared state (README, Scaling out): jobs, ids, the clock, uploads, credits,
    # concurrency, rate limits and trace-id replays in this Redis (redis://[:password@]
    # host:port/db, rediss:// for TLS), so several processes and hosts act as one fake
    # and the state outlives them; keys start with `redis_prefix`, so several fakes can
    # share one server.  None: everything in this process's memory.
    redis_url: str | None = None
    redis_prefix: str = Field("pixverse-mock:", min_length=1)
    # Worker processes `serve` runs on one port (SO_REUSEPORT); more than one needs
    # `redis_url` (mockserver/workers.py).
    workers: int = Field(1, ge=1, le=64)
    # Media renders (placeholder MP4/PNG, once per shape): threads rendering at once, and
    # distinct shapes waiting or rendering before /__files answers 503 + Retry-After.
    media_render_workers: int = Field(2, ge=1)
    media_render_queue: int = Field(8, ge=1)

    # Extra providers to register before the settings are bound to the registry: import
    # paths "package.module:SPEC" (providers/__init__.py; README, Add a provider).  The
    # environment variable takes a JSON list or comma-separated paths (the str in the
    # annotation lets it arrive undecoded; the validator makes it a list).
    provider_modules: list[str] | str = Field(default_factory=list)

    @field_validator("provider_modules", mode="before")
    @classmethod
    def _module_list(cls, value: Any) -> Any:
        return module_paths(value)
    # One section per provider, set as a top-level key: a profile's ``freepik:``,
    # ``Settings(freepik={...})``, env ``PIXVERSE_MOCK_FREEPIK__PROBLEM_WRAPPED``.  Kept
    # here as given (mappings) until the settings are bound to the registry
    # (``mockserver.providers.configure``, which ``create_app`` and ``serve`` call): then
    # each is validated by its ``ProviderSpec.settings_model`` (providers/<name>/settings.py)
    # and read as ``settings.<name>`` (``settings.freepik.problem_wrapped``).
    provider_settings: dict[str, Any] = Field(default_factory=dict)
    _default_credits: dict[str, int] = PrivateAttr(default_factory=dict)
    _registry: ProviderDefaults | None = PrivateAttr(None)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _SectionEnv(settings_cls), dotenv_settings, file_secret_settings)

    @model_validator(mode="before")
    @classmethod
    def _gather_sections(cls, data: Any) -> Any:
        """Move each top-level key that is no field and holds a mapping (or a section
        model) into ``provider_settings``: a provider's section (the top-level one laid
        over one already there).  Other unknown keys stay, for pydantic to refuse."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        sections = dict(data.get("provider_settings") or {})
        for name in [k for k, v in data.items()
                     if k not in cls.model_fields and isinstance(v, (dict, BaseModel))]:
            sections[name] = _lay_over(sections.get(name), data.pop(name))
        data["provider_settings"] = sections
        return data

    @model_validator(mode="after")
    def _one_store(self) -> "Settings":
        if self.redis_url is not None and self.state_file is not None:
            raise ValueError("redis_url and state_file: with Redis the state lives in Redis; set one of them")
        return self

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any: ...

    def bound(self, registry: ProviderDefaults) -> "Settings":
        """These settings bound to ``registry``: every provider section validated by its
        model (``settings.<name>``), provider names in sections, ``accounts`` and rate
        limit rules checked, default starting credits, refunds and rate limit presets
        known.  ``self`` when already bound to the same facts, else a new object (what
        was set stays set).  Raises pydantic.ValidationError listing every problem, each
        at its place (``accounts.concurrency.runway``: "unknown provider 'runway'; one
        of ...", ``provider_settings``: "settings for unknown provider(s) ...",
        ``pixverse.auth_err_code``: the section model's own error)."""
        if self._registry == registry:
            return self
        known = list(registry.sections)
        errors: list[tuple[tuple[str | int, ...], Any, str]] = []

        def check(loc: tuple[str | int, ...], name: str) -> None:
            if name not in registry.sections:
                errors.append((loc, name, f"unknown provider {name!r}; one of {', '.join(known)}"))

        unknown = sorted(set(self.provider_settings) - set(known))
        if unknown:
            errors.append((("provider_settings",), unknown, f"settings for unknown provider(s) "
                           f"{', '.join(unknown)}; registered: {', '.join(known)}"))
        clashes = sorted(set(known) & set(type(self).model_fields))
        if clashes:
            errors.append(((), clashes, f"provider name(s) {', '.join(clashes)} clash with settings fields"))
        accounts = self.accounts
        for field in ("starting_credits", "concurrency", "refunds"):
            for name in getattr(accounts, field):
                check(("accounts", field, name), name)
        for n, rule in enumerate(accounts.rate_limits):
            for name in rule.providers or ():
                check(("accounts", "rate_limits", n, "providers"), name)
        for n, preset in enumerate(accounts.rate_limit_presets):
            if preset not in registry.rate_limit_presets:
                errors.append((("accounts", "rate_limit_presets", n), preset, f"unknown rate limit preset "
                               f"{preset!r}; one of {', '.join(registry.rate_limit_presets)}"))
        details: list[Any] = [{"type": "value_error", "loc": loc, "input": value, "ctx": {"error": ValueError(msg)}}
                              for loc, value, msg in errors]
        sections: dict[str, BaseModel] = {}
        for name, model in registry.sections.items():
            try:
                sections[name] = _section(model, self.provider_settings.get(name))
            except ValidationError as exc:
                details += [{"type": e["type"], "loc": (name, *e["loc"]), "input": e["input"],
                             **({"ctx": e["ctx"]} if "ctx" in e else {})} for e in exc.errors()]
        if details:
            raise ValidationError.from_exception_data(type(self).__name__, details)
        new = self.model_copy(update={
            "provider_settings": sections,
            # A provider's default refunds lie under what the layers say.
            "accounts": accounts.model_copy(update={"refunds": {
                **{name: list(states) for name, states in registry.refunds.items()}, **accounts.refunds}})})
        # Read once here, not per new key (starting_balance).
        new._default_credits = dict(registry.starting_credits)
        new._registry = registry
        # ``settings.<provider>`` is that provider's section: kept in the instance dict
        # too, so reading it (per request, in some adapters) is a plain attribute read.
        new.__dict__.update(sections)
        return new

    def rate_rules(self) -> list[RateLimitRule]:
        """The rate limit rules in force: the named presets' rules, then
        ``accounts.rate_limits``.  Raises RuntimeError when presets are named and the
        settings are not bound to the registry (which knows the presets)."""
        accounts = self.accounts
        if accounts.rate_limit_presets and self._registry is None:
            raise RuntimeError("rate limit presets need settings bound to the provider registry "
                               "(mockserver.providers.configure)")
        presets = self._registry.rate_limit_presets if self._registry is not None else {}
        return [r for name in accounts.rate_limit_presets for r in presets[name]] + accounts.rate_limits

    def starting_balance(self, provider: str) -> int:
        """A new key's balance at ``provider``: ``accounts.starting_credits[provider]``,
        else ``starting_credits`` when set explicitly, else the provider's default
        (known once bound to the registry)."""
        own = self.accounts.starting_credits.get(provider)
        if own is not None:
            return own
        if "starting_credits" in self.model_fields_set:
            return self.starting_credits
        return self._default_credits.get(provider, self.starting_credits)

    @classmethod
    def load(cls, profile: Path | None = None, **overrides: Any) -> "Settings":
        """Build settings from an optional YAML profile, the environment and overrides.

        Layers merge field by field, lowest first: defaults <- profile <- environment
        (``PIXVERSE_MOCK_PIXVERSE__AUTH_ERR_CODE=...`` sets that one field and keeps the
        profile's other ``pixverse`` fields) <- overrides.  Mappings merge key by key,
        a default mapping included (a profile's ``generation_seconds: {720p: 30}`` keeps
        the other resolutions); lists and scalars replace.  Overrides whose value is None
        are ignored, so CLI flags left unset do not mask the profile or the environment.
        Raises FileNotFoundError for a missing profile and pydantic.ValidationError for a
        bad value.
        """
        data: dict[str, Any] = {}
        if profile is not None:
            loaded: dict[str, Any] = yaml.safe_load(Path(profile).read_text()) or {}
            data = deep_merge(data, _hoisted(loaded.get("settings", loaded)))
        data = deep_merge(data, _hoisted(cls().model_dump(exclude_unset=True)))
        data = deep_merge(data, _hoisted({k: v for k, v in overrides.items() if v is not None}))
        # Only the sections the layers touched take their defaults explicitly, so
        # ``model_fields_set`` still tells what was set (see starting_balance).
        defaults = cls.model_construct().model_dump()
        for key, value in data.items():
            if isinstance(value, dict) and isinstance(defaults.get(key), dict):
                data[key] = deep_merge(defaults[key], value)
        return cls(**data)


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` laid over it: mappings merge key by key, recursively;
    every other value (lists included) replaces.  Neither argument is changed."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _hoisted(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with ``provider_settings`` entries as top-level sections (how profiles
    and overrides spell them), so layers merge section by section."""
    sections = data.get("provider_settings")
    if not isinstance(sections, dict):
        return data
    data = {k: v for k, v in data.items() if k != "provider_settings"}
    for name, section in sections.items():
        data[name] = _lay_over(section, data.get(name))
    return data


def _lay_over(base: Any, top: Any) -> Any:
    """A provider section ``top`` laid over ``base`` (dicts or section models)."""
    if top is None:
        return base
    if base is None or isinstance(top, BaseModel):
        return top
    if isinstance(base, BaseModel):
        base = base.model_dump(exclude_unset=True)
    return deep_merge(base, top) if isinstance(base, dict) and isinstance(top, dict) else top


def _is_complex(annotation: Any) -> bool:
    # What pydantic-settings reads as JSON from the environment: containers and models.
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_complex(a) for a in typing.get_args(annotation) if a is not type(None))
    if origin is not None:
        return origin in (list, tuple, set, frozenset, dict) or _is_complex(origin)
    return isinstance(annotation, type) and (issubclass(annotation, (list, tuple, set, frozenset, dict))
                                             or issubclass(annotation, BaseModel))


def _section(model: type[BaseModel], raw: Any) -> BaseModel:
    """A provider's section as ``model``: ``raw`` a mapping (profile, arguments, or the
    environment's strings, lists and mappings as JSON, as pydantic-settings reads them)
    or a model.  Raises pydantic.ValidationError."""
    if isinstance(raw, model):
        return raw
    if isinstance(raw, BaseModel):
        raw = raw.model_dump(exclude_unset=True)
    data = dict(raw or {})
    for name, field in model.model_fields.items():
        value = data.get(name)
        if isinstance(value, str) and _is_complex(field.annotation):
            try:
                data[name] = json.loads(value)
            except ValueError:
                pass  # left as is: the model's own error names the field
        elif isinstance(value, dict) and isinstance(field.annotation, type) \
                and issubclass(field.annotation, BaseModel):
            data[name] = _section(field.annotation, value)
    return model.model_validate(data)


class _SectionEnv(PydanticBaseSettingsSource):
    """``PIXVERSE_MOCK_<PROVIDER>__<FIELD>`` (and deeper, ``__``-separated) for every
    name that is no settings field: a provider's section, as strings, typed when the
    settings are bound to the registry (names are not case-sensitive, as elsewhere).
    Given as ``provider_settings``, so that a section passed as an argument, under
    either spelling, is laid over the environment's, field by field."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        prefix = ENV_PREFIX.lower()
        fields = self.settings_cls.model_fields
        found: dict[str, Any] = {}
        for key, value in os.environ.items():
            key = key.lower()
            if not key.startswith(prefix):
                continue
            name, _, rest = key[len(prefix):].partition("__")
            path = [p for p in rest.split("__") if p]
            if not name or not path or name in fields:
                continue
            node = found.setdefault(name, {})
            for part in path[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    break
            else:
                node[path[-1]] = value
        return {"provider_settings": found} if found else {}
