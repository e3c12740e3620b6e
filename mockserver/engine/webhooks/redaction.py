"""What the admin API and the delivery log may show of URLs and receivers' answers."""
from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str | None) -> str | None:
    """``url`` with the credentials of its user-info hidden, as pip shows them:
    ``user:pass@`` becomes ``user:****@``, a lone ``token@`` becomes ``****@``."""
    if not url or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "****"
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:****" if colon else "****"
    return urlunsplit(parts._replace(netloc=f"{shown}@{hostport}"))


# Runs of token characters long enough to be a key, a session id or a hash.
_TOKENISH = re.compile(r"[A-Za-z0-9+/=_\-]{24,}")


def response_excerpt(text: str, limit: int) -> str:
    """The start of a receiver's answer as the delivery log keeps it: at most
    ``limit`` characters, token-like runs (24+ characters) cut to their first 4
    and ``…``, and ``…`` where the answer went on.  Enough to tell "ok" from an error
    page, not enough to read what a service that is not a receiver said."""
    short = _TOKENISH.sub(lambda m: m.group()[:4] + "\u2026", text[:limit])
    return short + "\u2026" if len(text) > limit else short
