"""The ``pixverse`` settings section (``Settings.pixverse``, env ``PIXVERSE_MOCK_PIXVERSE__<FIELD>``)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


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
