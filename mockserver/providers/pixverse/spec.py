"""The PixVerse platform as the rest of the fake sees it (``providers/spec.py``)."""
from __future__ import annotations

from ..spec import ErrorEnvelope, PollInterval, ProviderSpec
from .faults import SUBMIT_OPERATIONS
from .settings import PixverseSettings
from .wire import STATUS

SPEC = ProviderSpec(
    name="pixverse",
    title="PixVerse platform",
    adapter="mockserver.providers.pixverse.adapter:PixverseAdapter",
    contract="pixverse",
    upstream="https://app-api.pixverse.ai",
    auth_hint="API-KEY: <any key> and Ai-trace-id: <new UUID per request>",
    status_map=STATUS,
    status_key="status",
    submit_operations=SUBMIT_OPERATIONS,
    example_submit=("text_to_video", {"prompt": "A red fox running through snow", "model": "v5",
                                      "quality": "540p", "duration": 5, "aspect_ratio": "16:9"}),
    poll_operations=frozenset({"get_video_result", "get_image_result"}),
    poll_interval=PollInterval(3.0, 5.0, 'PixVerse llm.txt: "poll every 3-5 s" (confirmed)'),
    server_errors=(503, 500),
    # No HTTP 429: its 500044 (concurrency limit) answers submits only.
    rate_limits_on=("submit",),
    settings_model=PixverseSettings,
    # PixVerse gives back the credits of a moderated video (shared/providers/pixverse-platform.md).
    refunds=("moderated",),
    webhooks="account",
    task_id_keys=("video_id", "image_id", "id"),
    error_envelope=ErrorEnvelope("ErrCode", 0),
)
