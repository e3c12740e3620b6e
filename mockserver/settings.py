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

REPO_ROOT = Path(__file__).resolve().parents[1]


class FreepikSettings(BaseModel):
    # The official 400 schema wraps the body in `problem`, the official example does
    # not; the example is what clients see in the docs, so it is the default.
    problem_wrapped: bool = False


class AimlapiSettings(BaseModel):
    # 2026 logs show 21-char ids, 2025 logs "<uuid>:<model>"; both confirmed.
    id_format: Literal["nanoid", "uuid-model"] = "nanoid"


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
    # PixVerse says a repeated Ai-trace-id returns the earlier answer.
    trace_id_replay: bool = True


class Settings(BaseSettings):
    """Every knob of the fake.  Units are in the names or the comments."""

    model_config = SettingsConfigDict(env_prefix="PIXVERSE_MOCK_", env_nested_delimiter="__")

    host: str = "127.0.0.1"
    port: int = 8000
    # Base URL put into result URLs; None derives it from each request's Host header.
    public_base_url: str | None = None

    # 50x turns a typical 60-150 s generation into 1-3 s of wall time.
    time_scale: float = 50.0
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

    # None: any non-empty key works (like most sandboxes).  A list: only those keys.
    api_keys: list[str] | None = None
    starting_credits: int = 100_000

    # Image-to-video from a URL the fake cannot see: the output aspect ratio to assume.
    default_aspect_ratio: str = "16:9"

    # Validate every response against its contract and fail loudly (on in tests).
    strict: bool = False
    contracts_dir: Path = REPO_ROOT / "contracts"
    media_cache_dir: Path = Path.home() / ".cache" / "pixverse-mock" / "media"

    freepik: FreepikSettings = Field(default_factory=FreepikSettings)
    aimlapi: AimlapiSettings = Field(default_factory=AimlapiSettings)
    pixwith: PixwithSettings = Field(default_factory=PixwithSettings)
    pixverse: PixverseSettings = Field(default_factory=PixverseSettings)

    @classmethod
    def load(cls, profile: Path | None = None, **overrides: Any) -> "Settings":
        """Build settings from an optional YAML profile, the environment and overrides.

        Overrides whose value is None are ignored, so CLI flags left unset do not
        mask the profile or the environment.  Raises FileNotFoundError for a missing
        profile and pydantic.ValidationError for a bad value.
        """
        data: dict[str, Any] = {}
        if profile is not None:
            loaded = yaml.safe_load(Path(profile).read_text()) or {}
            data.update(loaded.get("settings", loaded))
        env_values = cls().model_dump(exclude_unset=True)
        data.update(env_values)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)
