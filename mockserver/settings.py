"""One typed settings object for the whole fake.

Precedence, lowest first: defaults here <- profile file (YAML) <- environment
(``PIXVERSE_MOCK_*``) <- CLI flags.  Durations are virtual seconds unless a name
says otherwise; the virtual clock turns them into wall time by ``time_scale``.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, Field, PrivateAttr, create_model, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

if TYPE_CHECKING:
    from .providers.spec import ProviderSpec

ENV_PREFIX = "PIXVERSE_MOCK_"

# Outcomes whose cost can go back to the key (``Settings.refunds``).
Refundable = Literal["failed", "moderated"]


def _specs() -> "tuple[ProviderSpec, ...]":
    # Settings hold a section per registered provider; the registry is read when
    # settings are validated (not imported with this module: the adapters import it).
    from .providers import specs

    return specs()


def _module_paths(value: Any) -> list[str]:
    from .providers import module_paths

    return module_paths(value)


def _check_providers(names: Any, what: str) -> Any:
    known = [s.name for s in _specs()]
    for name in names or ():
        if name not in known:
            raise ValueError(f"{what}: unknown provider {name!r}; one of {', '.join(known)}")
    return names


class RateLimitRule(BaseModel):
    """At most ``limit`` requests in any ``window_s`` seconds from one client address
    (``per: ip``) or one API key (``per: key``), to ``providers`` (None: all)."""

    limit: int = Field(ge=1)
    window_s: float = Field(gt=0)
    per: Literal["ip", "key"] = "ip"
    # Registered provider names (providers/__init__.py).
    providers: list[str] | None = None

    @field_validator("providers")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        return _check_providers(value, "providers")


def rate_limit_presets() -> dict[str, list[RateLimitRule]]:
    """Named rule sets for ``accounts.rate_limit_presets``: each provider's documented
    limits (``ProviderSpec.rate_limit_preset``; Freepik's, docs.freepik.com/ratelimits),
    applying to that provider alone."""
    return {s.name: [RateLimitRule(**rule, providers=[s.name]) for rule in s.rate_limit_preset]
            for s in _specs() if s.rate_limit_preset}


def default_starting_credits() -> dict[str, int]:
    """Starting balance per provider when neither ``accounts.starting_credits`` nor the
    top-level ``starting_credits`` is set (``ProviderSpec.starting_credits``)."""
    return {s.name: s.starting_credits for s in _specs() if s.starting_credits is not None}


class AccountSettings(BaseModel):
    """Credits, concurrency caps and rate limits per API key (README)."""

    # Provider -> starting balance of every key, in the provider's unit.
    starting_credits: dict[str, int] = Field(default_factory=dict)
    # Provider -> most jobs one key may have queued or running (absent: no cap).
    concurrency: dict[str, int] = Field(default_factory=dict)
    # Provider -> outcomes whose cost goes back to the key when first observed.
    # Default: each provider's ``ProviderSpec.refunds`` (PixVerse refunds moderated videos).
    refunds: dict[str, list[Refundable]] = Field(
        default_factory=lambda: {s.name: list(s.refunds) for s in _specs() if s.refunds})
    # Off by default.  Presets by provider name (rate_limit_presets()) plus rules of your own.
    rate_limit_presets: list[str] = Field(default_factory=list)
    rate_limits: list[RateLimitRule] = Field(default_factory=list)
    # Windows count wall seconds (what a client's real request rate meets) or virtual ones.
    rate_limit_clock: Literal["wall", "virtual"] = "wall"

    @field_validator("rate_limit_presets")
    @classmethod
    def _known_presets(cls, value: list[str]) -> list[str]:
        known = rate_limit_presets()
        for name in value:
            if name not in known:
                raise ValueError(f"unknown rate limit preset {name!r}; one of {', '.join(known)}")
        return value

    def rate_rules(self) -> list[RateLimitRule]:
        presets = rate_limit_presets()
        return [r for name in self.rate_limit_presets for r in presets[name]] + self.rate_limits


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
    # unset, AI/ML API starts with default_starting_credits()).  See starting_balance().
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
    # Shared state for several workers or hosts (README, Scaling out): a redis:// URL.
    redis_url: str | None = None
    # Worker processes `serve` runs on one port (SO_REUSEPORT); more than one needs
    # `redis_url` (mockserver/workers.py).
    workers: int = Field(1, ge=1, le=64)
    state_save_interval_s: float = Field(30.0, gt=0)
    # Media renders (placeholder MP4/PNG, once per shape): threads rendering at once, and
    # distinct shapes waiting or rendering before /__files answers 503 + Retry-After.
    media_render_workers: int = Field(2, ge=1)
    media_render_queue: int = Field(8, ge=1)

    # Extra providers to register before the sections below are read: import paths
    # "package.module:SPEC" (providers/__init__.py; README, Add a provider).  The
    # environment variable takes a JSON list or comma-separated paths (the str in the
    # annotation lets it arrive undecoded; the validator makes it a list).
    provider_modules: list[str] | str = Field(default_factory=list)

    @field_validator("provider_modules", mode="before")
    @classmethod
    def _module_list(cls, value: Any) -> Any:
        return _module_paths(value)
    # One section per registered provider, validated by its ``ProviderSpec.settings_model``
    # (the models live in providers/<name>/settings.py).  Read as ``settings.<name>``
    # (``settings.freepik.problem_wrapped``); set as a top-level key: a profile's
    # ``freepik:``, ``Settings(freepik={...})``, env ``PIXVERSE_MOCK_FREEPIK__PROBLEM_WRAPPED``.
    provider_settings: dict[str, Any] = Field(default_factory=dict)
    _default_credits: dict[str, int] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _SectionEnv(settings_cls, init_settings, env_settings),
                dotenv_settings, file_secret_settings)

    @model_validator(mode="before")
    @classmethod
    def _gather_sections(cls, data: Any) -> Any:
        """Register ``provider_modules``, then move each registered provider's top-level
        section into ``provider_settings`` (the top-level one laid over it)."""
        if not isinstance(data, dict):
            return data
        from .providers import load

        for path in _module_paths(data.get("provider_modules")):
            load(path)
        data = dict(data)
        sections = dict(data.get("provider_settings") or {})
        for spec in _specs():
            if spec.name in data:
                sections[spec.name] = _lay_over(sections.get(spec.name), data.pop(spec.name))
        data["provider_settings"] = sections
        return data

    @model_validator(mode="after")
    def _validate_sections(self) -> "Settings":
        known = {s.name: s for s in _specs()}
        unknown = sorted(set(self.provider_settings) - set(known))
        if unknown:
            raise ValueError(f"settings for unknown provider(s) {', '.join(unknown)}; "
                             f"registered: {', '.join(known)}")
        clashes = sorted(set(known) & set(type(self).model_fields))
        if clashes:
            raise ValueError(f"provider name(s) {', '.join(clashes)} clash with settings fields")
        self.provider_settings = {name: spec.settings_model.model_validate(self.provider_settings.get(name) or {})
                                  for name, spec in known.items()}
        # Read once here, not per new key (starting_balance).
        self._default_credits = default_starting_credits()
        # ``settings.<provider>`` is that provider's section: kept in the instance dict
        # too, so reading it (per request, in some adapters) is a plain attribute read.
        self.__dict__.update(self.provider_settings)
        return self

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any: ...

    def starting_balance(self, provider: str) -> int:
        """A new key's balance at ``provider``: ``accounts.starting_credits[provider]``,
        else ``starting_credits`` when set explicitly, else the provider's default."""
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


class _SectionEnv(PydanticBaseSettingsSource):
    """``PIXVERSE_MOCK_<PROVIDER>__<FIELD>`` for every registered provider's section,
    parsed by pydantic-settings' own environment source (JSON for lists and mappings)."""

    def __init__(self, settings_cls: type[BaseSettings], *before: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._before = before

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        # Providers named by `provider_modules` (arguments, else environment) have
        # sections too: register them before reading.
        from .providers import load

        for source in self._before:
            modules = _module_paths(source().get("provider_modules"))
            if modules:
                for path in modules:
                    load(path)
                break
        return EnvSettingsSource(_sections_model(tuple((s.name, s.settings_model) for s in _specs())))()


@functools.lru_cache(maxsize=8)
def _sections_model(sections: tuple[tuple[str, type[BaseModel]], ...]) -> type[BaseSettings]:
    fields: dict[str, Any] = {name: (model | None, None) for name, model in sections}
    model: type[BaseSettings] = create_model("ProviderSections", __base__=BaseSettings, **fields)
    model.model_config.update(SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__",
                                                 extra="ignore"))
    return model

