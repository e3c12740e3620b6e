"""What the fake takes in from a request, for the provider routes and the control plane:
bodies, and the header text it stores.

Header text is kept readable: aiohttp hands over header bytes that are not UTF-8 as
lone surrogates, which no JSON encoder writes, so ``engine.journal.readable`` turns them into U+FFFD
once, where a key or test id enters the fake; everything stored can be shown.

Bodies are bounded and never a crash.  The app turns aiohttp's own decompression off
(``APP_HANDLER_ARGS``): aiohttp inflated a body in 64 MB steps before any cap
applied, and a body that failed to inflate at its very end got aiohttp's own
``text/plain`` 400 before any route saw it.  ``read_body`` reads the body as sent
(capped at ``MAX_BODY_BYTES``) and inflates gzip, deflate (zlib or raw) and br itself
in bounded steps, counting what comes out: past ``MAX_BODY_BYTES`` it stops
(``BodyTooLarge``); bytes that are not what their Content-Encoding says, or an
encoding it does not know, are ``BodyUnreadable``.  (The provider pipeline reads a body
with a Content-Length under the cap and no Content-Encoding itself, where none of this
can apply; ``providers/base.py``.)
JSON nested deeper than ``MAX_JSON_DEPTH`` is refused as malformed, so nothing
downstream (contract validation, the float scan, the journal) walks a value deep
enough to exhaust Python's recursion limit.  Callers turn ``BodyTooLarge`` and
``BodyUnreadable`` into their own error bodies.
"""
from __future__ import annotations

import zlib
from typing import Any

import orjson
from aiohttp import web

try:  # aiohttp's own optional dependency for br
    import brotli
except ImportError:  # pragma: no cover - without it a br body is unreadable
    brotli = None

# The largest body any route reads (uploads go up to 50 MB, PixVerse media); aiohttp's
# own cap (``client_max_size``) is the same, so nothing reaches a handler bigger.
MAX_BODY_BYTES = 64 * 1024 * 1024
# No provider's request nests deeper than 5 levels; orjson stops at 1024, Python's
# recursion limit is 1000.  Deeper bodies are answered as malformed JSON.
MAX_JSON_DEPTH = 64
# web.Application(handler_args=...): the fake undoes Content-Encoding itself (above).
APP_HANDLER_ARGS = {"auto_decompress": False}
# br has no bound on one step's output: it is fed this many compressed bytes at a time.
_BR_STEP = 256


class BodyTooLarge(Exception):
    """The body (decompressed) is larger than the cap."""


class BodyUnreadable(Exception):
    """The body's bytes do not decode under its Content-Encoding (or the encoding is
    one the fake does not know)."""


async def read_body(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, decompressed, at most ``limit`` bytes.

    Raises ``BodyTooLarge`` past ``limit`` (a declared Content-Length over it before
    reading anything; a compressed body as soon as its inflated bytes pass it) and
    ``BodyUnreadable`` for bytes that are not what their Content-Encoding says, or an
    encoding other than gzip, deflate, br and identity.
    """
    headers = request.headers
    # The header, not ``request.content_length``: one Python call less on every create
    # (aiohttp's parser has already refused a Content-Length that is not digits).
    length = headers.get("Content-Length")
    if length is not None and int(length) > limit:
        raise BodyTooLarge
    try:
        raw = await request.read()  # as sent: aiohttp stops at client_max_size
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge from None
    if len(raw) > limit:
        raise BodyTooLarge
    encoding = headers.get("Content-Encoding")
    if encoding is None:
        return raw
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding in ("gzip", "x-gzip"):
        return _inflate(raw, 31, limit)
    if encoding == "deflate":
        # Meant to be zlib-wrapped, but raw deflate is common (aiohttp and browsers
        # accept both; a zlib header's low nibble is 8).
        return _inflate(raw, 15 if raw[:1] and raw[0] & 0x0F == 8 else -15, limit)
    if encoding == "br" and brotli is not None:
        return _unbrotli(raw, limit)
    raise BodyUnreadable


def _inflate(raw: bytes, wbits: int, limit: int) -> bytes:
    """zlib/gzip/raw deflate ``raw``, never holding more than ``limit`` + 1 bytes out."""
    inflater = zlib.decompressobj(wbits)
    out: list[bytes] = []
    total = 0
    data = raw
    try:
        while True:
            piece = inflater.decompress(data, limit - total + 1)
            total += len(piece)
            if total > limit:
                raise BodyTooLarge
            out.append(piece)
            data = inflater.unconsumed_tail
            if not data:
                break
    except zlib.error:
        raise BodyUnreadable from None
    if not inflater.eof:  # the stream ended early
        raise BodyUnreadable
    return b"".join(out)


def _unbrotli(raw: bytes, limit: int) -> bytes:
    decoder = brotli.Decompressor()
    out: list[bytes] = []
    total = 0
    try:
        for start in range(0, len(raw), _BR_STEP):
            piece = decoder.process(raw[start:start + _BR_STEP])
            total += len(piece)
            if total > limit:
                raise BodyTooLarge
            out.append(piece)
    except brotli.error:
        raise BodyUnreadable from None
    if not decoder.is_finished():
        raise BodyUnreadable
    return b"".join(out)


def too_deep(raw: bytes, value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON ``value`` (parsed from ``raw``) nests deeper than ``limit``.

    Cheap for ordinary bodies: a value cannot nest deeper than it has brackets, which
    are counted in C; only bodies with more than ``limit`` of them are walked, without
    recursion."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    level = [value]
    for _ in range(limit):
        deeper: list[Any] = []
        for item in level:
            if item.__class__ is dict:
                deeper.extend(item.values())
            elif item.__class__ is list:
                deeper.extend(item)
        if not deeper:
            return False
        level = deeper
    return any(item.__class__ in (dict, list) and item for item in level)


def parse_json(raw: bytes) -> Any:
    """``raw`` parsed, or ``ValueError`` (``orjson.JSONDecodeError`` included) when it
    is not JSON or nests deeper than ``MAX_JSON_DEPTH``."""
    value = orjson.loads(raw)
    if too_deep(raw, value):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value
