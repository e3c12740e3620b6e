"""pixwith.ai as the rest of the fake sees it (``providers/spec.py``)."""
from __future__ import annotations

from ...engine.jobs import FAILED, MODERATED, QUEUED, RUNNING, SUCCEEDED
from ..spec import ErrorEnvelope, PollInterval, ProviderSpec
from .settings import PixwithSettings

SPEC = ProviderSpec(
    name="pixwith",
    title="pixwith.ai",
    adapter="mockserver.providers.pixwith.adapter:PixwithAdapter",
    contract="pixwith",
    upstream="https://api.pixwith.ai",
    auth_hint="Api-Key: <any key>",
    status_map={QUEUED: 1, RUNNING: 1, SUCCEEDED: 2, FAILED: 3, MODERATED: 3},
    status_key="status",
    poll_operations=frozenset({"get_task"}),
    poll_interval=PollInterval(5.0, 10.0, "pixwith: wait estimated_time, then every 5-10 s"),
    server_errors=(503, 500, 502, 504),
    settings_model=PixwithSettings,
    task_id_keys=("task_id",),
    error_envelope=ErrorEnvelope("code", 1),
)
