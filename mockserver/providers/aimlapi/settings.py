"""The ``aimlapi`` settings section (``Settings.aimlapi``, env ``PIXVERSE_MOCK_AIMLAPI__<FIELD>``)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


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
