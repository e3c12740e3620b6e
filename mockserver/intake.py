"""What the fake takes in from a request, for the provider routes and the control plane:
bodies, and the header text it stores.

Header text is kept readable: aiohttp hands over header bytes that are not UTF-8 as
lone surrogates, which no JSON encoder writes, so ``readable`` turns them into U+FFFD
once, where a key or test id enters the fake; everything stored can be shown.

Bodies are bounded and never a crash: a body is read up to ``MAX_BODY_BYTES`` *after*
Content-Encoding is undone (aiohttp inflates gzip/deflate/br as the body streams, so
a compressed body is counted chunk by chunk and dropped as soon as it passes the
cap, not inflated whole first); bytes that do not decode under their
Content-Encoding are unreadable; JSON nested deeper than ``MAX_JSON_DEPTH`` is
refused as malformed, so nothing downstream (contract validation, the float
scan, the journal) walks a value deep enough to exhaust Python's recursion limit.
Callers turn ``BodyTooLarge`` and ``BodyUnreadable`` into their own error bodies.
"""
from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

# The largest body any route reads (uploads go up to 50 MB, PixVerse media); aiohttp's
# own cap (``client_max_size``) is the same, so nothing reaches a handler bigger.
MAX_BODY_BYTES = 64 * 1024 * 1024
# No provider's request nests deeper than 5 levels; orjson stops at 1024, Python's
# recursion limit is 1000.  Deeper bodies are answered as malformed JSON.
MAX_JSON_DEPTH = 64


class BodyTooLarge(Exception):
    """The body (decompressed) is larger than the cap."""


class BodyUnreadable(Exception):
    """The body's bytes do not decode under its Content-Encoding (or the stream broke)."""


async def read_body(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, decompressed, at most ``limit`` bytes.

    Raises ``BodyTooLarge`` past ``limit`` (a declared Content-Length over it before
    reading anything; a compressed body as soon as its inflated bytes pass it) and
    ``BodyUnreadable`` for bytes that are not what their Content-Encoding says (answer
    it through ``closing``).
    """
    length = request.content_length
    if length is not None and length > limit:
        raise BodyTooLarge
    try:
        if "Content-Encoding" not in request.headers:
            # As sent: aiohttp stops at client_max_size (== MAX_BODY_BYTES) as it reads.
            raw = await request.read()
            if len(raw) > limit:
                raise BodyTooLarge
            return raw
        # request.read() would raise aiohttp's read size to client_max_size, letting one
        # decompression step inflate 64 MB at a time; readany() keeps to the stream's
        # small buffer, so memory stays near what has been counted.
        chunks: list[bytes] = []
        total = 0
        content = request.content
        while chunk := await content.readany():
            total += len(chunk)
            if total > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        return b"".join(chunks)
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge from None
    except (web.RequestPayloadError, HttpProcessingError):  # bytes that do not decode
        # The parser stopped at the bad bytes and reads nothing more on this connection:
        # end the body here, sparing aiohttp a lingering read that would raise (and log)
        # the same error.  The answer must close the connection (``closing``).
        request.content.feed_eof()
        raise BodyUnreadable from None


def closing(response: web.StreamResponse) -> web.StreamResponse:
    """``response``, sent with ``Connection: close`` and the connection closed after
    it: the answer to an unreadable body, whose connection cannot carry another request."""
    response.force_close()
    return response


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


def readable(text: str) -> str:
    """``text`` (a header value as aiohttp decoded it) with every byte that was not
    UTF-8 replaced by U+FFFD; ASCII (nearly every value) is returned as is."""
    if text.isascii():
        return text
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate aiohttp did not make: not a byte at all
        data = text.encode("utf-8", "replace")
    return data.decode("utf-8", "replace")


def parse_json(raw: bytes) -> Any:
    """``raw`` parsed, or ``ValueError`` (``orjson.JSONDecodeError`` included) when it
    is not JSON or nests deeper than ``MAX_JSON_DEPTH``."""
    value = orjson.loads(raw)
    if too_deep(raw, value):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value
