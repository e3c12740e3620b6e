"""A bounded fuzz pass over raw request bytes on the parsing path (issue 14): random
bodies, content types, content encodings (right, wrong and unknown) and header text
against each provider's create endpoint, through aiohttp's test client.  Whatever
arrives, the answer is JSON in the provider's own shape and never a 500 (strict mode:
an answer that broke its contract would be a 500 too)."""
from __future__ import annotations

import asyncio
import gzip
import json
import uuid
import zlib

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.app import ADAPTERS, create_app
from support import CREATE, PROVIDERS, make_settings


@pytest.fixture(scope="module")
def fake():
    """(event loop, test client) of one fake for the whole module: hypothesis runs
    hundreds of examples, each a request or two."""
    loop = asyncio.new_event_loop()
    app = create_app(make_settings())
    client = TestClient(TestServer(app), loop=loop)
    loop.run_until_complete(client.start_server())
    yield loop, client
    loop.run_until_complete(client.close())
    loop.close()
    violations = [v for a in app[ADAPTERS].values() for v in a.violations]
    assert not violations, violations


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20)


@st.composite
def bodies(draw, provider: str) -> bytes:
    """Raw body bytes: noise, any JSON, or the provider's valid body with fields changed."""
    kind = draw(st.sampled_from(["bytes", "json", "mutated", "nested"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "nested":
        depth = draw(st.integers(1, 1100))
        return b'{"prompt": ' + b"[" * depth + b"]" * depth + b"}"
    body = dict(CREATE[provider][2])
    for key in draw(st.lists(st.sampled_from(sorted(body) + ["extra"]), max_size=3)):
        body[key] = draw(json_values)
    raw = json.dumps(body, ensure_ascii=draw(st.booleans())).encode()
    cut = draw(st.integers(0, len(raw)))
    return raw if draw(st.booleans()) else raw[:cut]


def encode(raw: bytes, encoding: str | None, honest: bool) -> bytes:
    if not honest or encoding in (None, "identity", "bogus"):
        return raw
    if encoding == "gzip":
        return gzip.compress(raw)
    if encoding == "br":
        try:
            import brotli
        except ImportError:  # the fake cannot read br without it either
            return raw
        return brotli.compress(raw)
    return zlib.compress(raw)


def assert_provider_shape(provider: str, status: int, body: object) -> None:
    assert isinstance(body, dict), body
    if provider == "freepik":
        assert status in (200, 400, 401, 429) and ("data" in body if status == 200 else "message" in body)
    elif provider == "pixwith":
        assert status == 200 and body["code"] in (0, 1) and "message" in body
    elif provider == "aimlapi":
        if status == 200:
            assert "id" in body
        else:
            assert int(body["statusCode"]) == status and "message" in body and "requestId" in body
    else:
        assert status == 200 and isinstance(body["ErrCode"], int) and "Resp" in body


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                      max_size=20)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_bytes_get_the_providers_own_answer(fake, data):
    loop, client = fake
    provider = data.draw(st.sampled_from(PROVIDERS), label="provider")
    path, auth, _ = CREATE[provider]
    raw = data.draw(bodies(provider), label="body")
    encoding = data.draw(st.sampled_from([None, "gzip", "deflate", "br", "identity", "bogus"]), label="encoding")
    honest = data.draw(st.booleans(), label="honestly encoded")
    content_type = data.draw(st.sampled_from([
        "application/json", "application/json; charset=latin-1", "text/plain",
        "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]), label="content type")
    headers = dict(auth)
    if data.draw(st.booleans(), label="odd key"):
        name = next(iter(auth))
        headers[name] = ("Bearer " if provider == "aimlapi" else "") + data.draw(header_text, label="key")
    if data.draw(st.booleans(), label="test id"):
        headers["X-Mock-Test-Id"] = data.draw(header_text, label="test id value")
    if provider == "pixverse":
        headers["Ai-trace-id"] = str(uuid.uuid4())
    if content_type is not None:
        headers["Content-Type"] = content_type
    if encoding is not None:
        headers["Content-Encoding"] = encoding

    async def send() -> tuple[int, str, bytes]:
        # A fresh connection each time: an unreadable body closes its connection.
        resp = await client.post(path, data=encode(raw, encoding, honest), headers=headers)
        return resp.status, resp.headers.get("Content-Type", ""), await resp.read()

    status, content_type_out, body = loop.run_until_complete(send())
    assert status != 500, body
    assert content_type_out.startswith("application/json"), (status, content_type_out, body)
    assert_provider_shape(provider, status, orjson.loads(body))
    journal = loop.run_until_complete(client.get("/__admin/journal", params={"limit": "5"}))
    assert journal.status == 200
    loop.run_until_complete(journal.read())
