"""AI/ML API as the rest of the fake sees it (``providers/spec.py``)."""
from __future__ import annotations

from ...engine.jobs import FAILED, MODERATED, QUEUED, RUNNING, SUCCEEDED
from ..spec import PollInterval, ProviderSpec
from .settings import AimlapiSettings

SPEC = ProviderSpec(
    name="aimlapi",
    title="AI/ML API",
    adapter="mockserver.providers.aimlapi.adapter:AimlapiAdapter",
    contract="aimlapi",
    upstream="https://api.aimlapi.com",
    # The docs' examples set base_url to ".../v2"; the balance lives under /v1 on the same origin.
    client_base_path="/v2",
    auth_hint="Authorization: Bearer <any key>",
    status_map={QUEUED: "queued", RUNNING: "generating", SUCCEEDED: "completed",
                FAILED: "error", MODERATED: "error"},
    status_key="status",
    example_submit=("create_video_generation",
                    {"model": "pixverse/v5/text-to-video", "prompt": "A red fox running through snow",
                     "resolution": "720p", "duration": 5, "aspect_ratio": "16:9"}),
    poll_operations=frozenset({"get_video_generation", "get_pixverse_generation_legacy"}),
    poll_interval=PollInterval(10.0, 15.0, "AI/ML API doc examples poll every 10-15 s, give up after "
                                           "600-1000 s"),
    server_errors=(503, 500, 502, 504),
    settings_model=AimlapiSettings,
    # AI/ML API counts in much smaller credits (420,000 for one 5 s 720p clip);
    # 100,000,000 is about 238 such clips.
    starting_credits=100_000_000,
    task_id_keys=("generation_id", "id"),
)
