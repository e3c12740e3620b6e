"""Account-level webhooks (PixVerse's console setting): one URL and secret per
account, a default per provider and per-key overrides (kept by the scheduler)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .redaction import redact_url


@dataclass(slots=True)
class AccountHook:
    """An account's webhook (PixVerse: set in the console): where, the signing secret,
    and the provider's signature variant."""

    url: str | None
    secret: str
    variant: str

    def view(self) -> dict[str, Any]:
        """What the admin API shows: the URL with any password hidden, the secret only
        as a fingerprint (never echoed), the signature variant."""
        return {"url": redact_url(self.url), "secret_fingerprint": secret_fingerprint(self.secret),
                "signature": self.variant}


# what the admin API and the delivery log may show ------------------------------------------
def secret_fingerprint(secret: str) -> str:
    """``"sha256:" + the first 8 hex digits of SHA-256(secret)``: enough to tell which
    secret is in force, useless to sign with."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:8]
