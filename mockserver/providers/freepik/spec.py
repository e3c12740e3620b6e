"""Freepik / Magnific as the rest of the fake sees it (``providers/spec.py``)."""
from __future__ import annotations

from ...engine.jobs import FAILED, MODERATED, QUEUED, RUNNING, SUCCEEDED
from ..spec import PollInterval, ProviderSpec
from .settings import FreepikSettings

SPEC = ProviderSpec(
    name="freepik",
    title="Freepik / Magnific",
    adapter="mockserver.providers.freepik.adapter:FreepikAdapter",
    contract="freepik",
    upstream="https://api.freepik.com",
    auth_hint="x-freepik-api-key or x-magnific-api-key: <any key>",
    status_map={QUEUED: "CREATED", RUNNING: "IN_PROGRESS", SUCCEEDED: "COMPLETED",
                FAILED: "FAILED", MODERATED: "FAILED"},
    status_key="status",
    example_submit=("create_pixverse_v5_text_to_video",
                    {"prompt": "A red fox running through snow", "resolution": "720p", "duration": 5,
                     "aspect_ratio": "widescreen_16_9"}),
    poll_operations=frozenset({"get_pixverse_v5_video", "get_pixverse_v5_transition_video",
                               "get_pixverse_v5_text_to_video"}),
    # One value for the harness and the load scenarios (they used to say 5 s and 3-5 s).
    poll_interval=PollInterval(3.0, 5.0, "not documented (Freepik points to webhook_url); third-party "
                                         "clients poll every 2-5 s, so 3-5 s like PixVerse (our pick)"),
    server_errors=(503, 500),
    settings_model=FreepikSettings,
    # docs.freepik.com/ratelimits: per IP, 50 hits/s over a 5 s window and 10 hits/s on
    # average over 2 minutes.
    rate_limit_preset=({"limit": 250, "window_s": 5.0, "per": "ip"},
                       {"limit": 1200, "window_s": 120.0, "per": "ip"}),
    webhooks="per-request",
    # aiohttp spells the path's {task-id} task_id.
    task_id_keys=("task_id",),
)
