"""One typed settings object for the whole fake.

Precedence, lowest first: defaults here <- profile file (YAML) <- environment
(``PIXVERSE_MOCK_*``) <- CLI flags.  Durations are virtual seconds unless a name
says otherwise; the virtual clock turns them into wall time by ``time_scale``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Outcomes whose cost can go back to the key (``Settings.refunds``).
Refundable = Literal["failed", "moderated"]


def _default_refunds() -> dict[str, list[Refundable]]:
    return {"pixverse": ["moderated"]}


class FreepikSettings(BaseModel):
    # The official 400 schema wraps the body in `problem`, the official example does
    # not; the example is what clients see in the docs, so it is the default.
    problem_wrapped: bool = False
    # Webhooks (per-request `webhook_url`), signed per Standard Webhooks.  Receivers read
    # the secret's UTF-8 bytes ("raw", what three of four known receivers do) or, Svix
    # style, strip `whsec_` and base64-decode the rest ("whsec").  README.
    webhook_secret: str = "pixverse-mock-freepik-secret"
    webhook_secret_format: Literal["raw", "whsec"] = "raw"
    # Seconds between attempts after a failed one.  Freepik publishes no schedule; this
    # is the Svix schedule its Standard-Webhooks layout suggests (inferred).
    webhook_retry_s: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0])


class AimlapiSettings(BaseModel):
    # The docs' run logs come in two eras, both confirmed: 2026 pairs 21-char ids (and
    # requestIds) with `meta.usage.credits_used`, 2025 pairs "<uuid>:<model>" ids (uuid
    # requestIds) with `meta.usage.tokens_used`.  One setting selects both (README).
    # None: the alias below decides, else 2026 (read `active_era`).
    era: Literal["2025", "2026"] | None = None
    # Older name of the era, for the id alone: "uuid-model" is era 2025, "nanoid" 2026.
    # Kept as an alias; `era` wins when both are set.
    id_format: Literal["nanoid", "uuid-model"] | None = None

    @property
    def active_era(self) -> Literal["2025", "2026"]:
        """The era in force: ``era``, else the one ``id_format`` names, else 2026."""
        if self.era is not None:
            return self.era
        return "2025" if self.id_format == "uuid-model" else "2026"


class PixwithSettings(BaseModel):
    # The documented public test key always works, whatever the allow-list says.
    test_api_key: str = "key_00000000000000000000000000000000"


class PixverseSettings(BaseModel):
    # No official ErrCode for a rejected key; PixVerse-MCP treats 10001-10005 as auth
    # errors and the live message is "apiKey is not registered" (third-party).
    auth_err_code: int = 10005
    auth_err_msg: str = "apiKey is not registered"
    # Image upload: the upload reference says 4000 px, the newer guide 10000 px.
    max_image_pixels: int = 10000
    max_image_bytes: int = 20 * 1024 * 1024
    # Media upload (video/audio): bytes, seconds, and pixels on the long side.
    max_media_bytes: int = 50 * 1024 * 1024
    max_media_seconds: float = 30.0
    max_video_pixels: int = 1920
    # No documented minimum; below 16 px nothing renders (500033).
    min_pixels: int = 16
    # Where the reference pages require a field their guides (and PixVerse's own client)
    # leave out, e.g. extend/fusion `seed`: "guide" requires what both require, "reference"
    # also the fields the contract lists in `x-reference-required` (400011).
    required_fields: Literal["guide", "reference"] = "guide"
    # PixVerse says a repeated Ai-trace-id returns the earlier answer.
    trace_id_replay: bool = True
    # The account's webhook (set in PixVerse's console; here, or per key through
    # PUT /__admin/webhooks/pixverse).  None: no webhook.  README.
    webhook_url: str | None = None
    webhook_secret: str = "pixverse-mock-pixverse-secret"
    # The signed string is "{timestamp}\n{nonce}\n{url_encoded_payload}"; the docs call the
    # payload the body's key=value pairs joined by "&" ("form", default), a third-party kit
    # signs encodeURIComponent(raw body) ("uri").
    webhook_signature: Literal["form", "uri"] = "form"
    # Documented: retried at 2 s, 10 s, 30 s, 1 min, 5 min, 15 min, 1 h, 4 h.
    webhook_retry_s: list[float] = Field(
        default_factory=lambda: [2.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0])


class RateLimitRule(BaseModel):
    """At most ``limit`` requests in any ``window_s`` seconds from one client address
    (``per: ip``) or one API key (``per: key``), to ``providers`` (None: all)."""

    limit: int = Field(ge=1)
    window_s: float = Field(gt=0)
    per: Literal["ip", "key"] = "ip"
    providers: list[Literal["freepik", "pixwith", "aimlapi", "pixverse"]] | None = None


#: Named rule sets for ``accounts.rate_limit_presets``.  Freepik (docs.freepik.com/ratelimits):
#: per IP, 50 hits/s over a 5 s window and 10 hits/s on average over 2 minutes.
RATE_LIMIT_PRESETS: dict[str, list[RateLimitRule]] = {
    "freepik": [RateLimitRule(limit=250, window_s=5.0, per="ip", providers=["freepik"]),
                RateLimitRule(limit=1200, window_s=120.0, per="ip", providers=["freepik"])],
}

#: Starting balance per provider when neither ``accounts.starting_credits`` nor the
#: top-level ``starting_credits`` is set.  AI/ML API counts in much smaller credits
#: (420,000 for one 5 s 720p clip); 100,000,000 is about 238 such clips.
DEFAULT_STARTING_CREDITS: dict[str, int] = {"aimlapi": 100_000_000}


class AccountSettings(BaseModel):
    """Credits, concurrency caps and rate limits per API key (README)."""

    # Provider -> starting balance of every key, in the provider's unit.
    starting_credits: dict[str, int] = Field(default_factory=dict)
    # Provider -> most jobs one key may have queued or running (absent: no cap).
    concurrency: dict[str, int] = Field(default_factory=dict)
    # Provider -> outcomes whose cost goes back to the key when first observed.
    refunds: dict[str, list[Refundable]] = Field(default_factory=_default_refunds)
    # Off by default.  Presets by name (RATE_LIMIT_PRESETS) plus rules of your own.
    rate_limit_presets: list[Literal["freepik"]] = Field(default_factory=list)
    rate_limits: list[RateLimitRule] = Field(default_factory=list)
    # Windows count wall seconds (what a client's real request rate meets) or virtual ones.
    rate_limit_clock: Literal["wall", "virtual"] = "wall"

    def rate_rules(self) -> list[RateLimitRule]:
        return [r for name in self.rate_limit_presets for r in RATE_LIMIT_PRESETS[name]] + self.rate_limits


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

    model_config = SettingsConfigDict(env_prefix="PIXVERSE_MOCK_", env_nested_delimiter="__")

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
    # unset, AI/ML API starts with DEFAULT_STARTING_CREDITS).  See starting_balance().
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
    # Media renders (placeholder MP4/PNG, once per shape): threads rendering at once, and
    # distinct shapes waiting or rendering before /__files answers 503 + Retry-After.
    media_render_workers: int = Field(2, ge=1)
    media_render_queue: int = Field(8, ge=1)

    freepik: FreepikSettings = Field(default_factory=FreepikSettings)
    aimlapi: AimlapiSettings = Field(default_factory=AimlapiSettings)
    pixwith: PixwithSettings = Field(default_factory=PixwithSettings)
    pixverse: PixverseSettings = Field(default_factory=PixverseSettings)

    def starting_balance(self, provider: str) -> int:
        """A new key's balance at ``provider``: ``accounts.starting_credits[provider]``,
        else ``starting_credits`` when set explicitly, else the provider's default."""
        own = self.accounts.starting_credits.get(provider)
        if own is not None:
            return own
        if "starting_credits" in self.model_fields_set:
            return self.starting_credits
        return DEFAULT_STARTING_CREDITS.get(provider, self.starting_credits)

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
            data = deep_merge(data, loaded.get("settings", loaded))
        data = deep_merge(data, cls().model_dump(exclude_unset=True))
        data = deep_merge(data, {k: v for k, v in overrides.items() if v is not None})
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
