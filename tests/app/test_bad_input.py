"""Hostile and careless bodies: deep nesting, corrupt or oversized compressed bodies,
bodies over the size cap, too many form fields.  Each provider answers in its own
words (its malformed-body or too-large error), the control plane with its 400;
never a 500 (issue 14, items 1-4)."""
from __future__ import annotations

import asyncio
import uuid
import zlib

import orjson
import pytest

from mockserver.intake import MAX_BODY_BYTES, MAX_JSON_DEPTH, too_deep
from support import CREATE, PROVIDERS


def headers(provider: str, **extra: str) -> dict[str, str]:
    out = {**CREATE[provider][1], "Content-Type": "application/json", **extra}
    if provider == "pixverse":
        out["Ai-trace-id"] = str(uuid.uuid4())
    return out


async def post(client, provider: str, data: bytes, **extra: str):
    resp = await client.post(CREATE[provider][0], data=data, headers=headers(provider, **extra))
    assert resp.status != 500, await resp.text()
    assert resp.headers["Content-Type"].startswith("application/json")
    return resp.status, await resp.json()


def assert_malformed(provider: str, status: int, body: dict) -> None:
    """The provider's own answer to a body that is not (usable) JSON."""
    if provider == "freepik":
        assert status == 400 and body["invalid_params"] == [
            {"name": "body", "reason": "Request body is not valid JSON"}], body
    elif provider == "pixwith":
        assert status == 200 and body == {"code": 0, "message": "Invalid JSON body", "data": None}
    elif provider == "aimlapi":
        assert status == 400 and body["message"] == "Body validation error\nInvalid JSON in request body"
        assert body["statusCode"] == 400
    else:
        assert status == 200 and body["ErrCode"] == 400013 and body["Resp"] is None


def assert_too_large(provider: str, status: int, body: dict) -> None:
    if provider == "freepik":
        assert status == 400 and body["invalid_params"] == [
            {"name": "body", "reason": "Request body is too large"}], body
    elif provider == "pixwith":
        assert status == 200 and body == {"code": 0, "message": "Request body too large", "data": None}
    elif provider == "aimlapi":
        assert status == 413 and body["message"] == "request entity too large" and body["statusCode"] == 413
    else:
        assert status == 200 and body["ErrCode"] == 400013


def nested(depth: int, key: str = "prompt", leaf: bytes = b"1") -> bytes:
    return b'{"' + key.encode() + b'": ' + b"[" * depth + leaf + b"]" * depth + b"}"


def valid_nested(provider: str, depth: int) -> bytes:
    """The provider's valid body plus one undeclared field nested ``depth`` deep (valid
    JSON that passes the contract wherever extra fields are allowed)."""
    body = orjson.dumps(CREATE[provider][2])
    return body[:-1] + b', "extra": ' + b"[" * depth + b"1.0" + b"]" * depth + b"}"


def gzip_bytes(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


# 1. deep nesting ----------------------------------------------------------------------
@pytest.mark.parametrize("depth", [255, 1000])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_deeply_nested_json_gets_the_malformed_body_answer(client, provider, depth):
    assert_malformed(provider, *await post(client, provider, nested(depth)))
    assert_malformed(provider, *await post(client, provider, valid_nested(provider, depth)))


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_nesting_up_to_the_limit_is_validated_as_usual(client, provider):
    status, body = await post(client, provider, nested(MAX_JSON_DEPTH - 1))
    # A list where a string belongs: the ordinary validation error, not "malformed".
    if provider == "freepik":
        assert status == 400 and body["invalid_params"][0]["name"] == "prompt"
    elif provider == "pixwith":
        assert body["message"].startswith("Invalid parameter")
    elif provider == "aimlapi":
        assert status == 400 and "Invalid JSON" not in body["message"]
    else:
        assert body["ErrCode"] == 400013  # wrong type is 400013 too, by its own rule


@pytest.mark.parametrize("path, body", [
    ("/__admin/clock", nested(255, "advance")),
    ("/__admin/clock", nested(1000, "advance")),
    ("/__admin/faults", nested(1000, "provider")),
    ("/__admin/reset", nested(1000, "test_id")),
])
async def test_admin_answers_deep_nesting_with_400(client, path, body):
    resp = await client.post(path, data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400, await resp.text()
    assert "message" in await resp.json()


def test_too_deep_counts_levels_not_brackets():
    wide = orjson.dumps([[1]] * 1000)
    assert not too_deep(wide, orjson.loads(wide))
    deep = nested(MAX_JSON_DEPTH + 1)
    assert too_deep(deep, orjson.loads(deep))
    shallow = nested(MAX_JSON_DEPTH - 1)
    assert not too_deep(shallow, orjson.loads(shallow))


# 2. corrupt compressed bodies -----------------------------------------------------------
@pytest.mark.parametrize("encoding", ["deflate", "gzip", "br"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_corrupt_content_encoding_gets_the_malformed_body_answer(client, provider, encoding):
    status, body = await post(client, provider, b"these bytes are not compressed", **{"Content-Encoding": encoding})
    assert_malformed(provider, status, body)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_good_compressed_body_is_served(client, provider):
    status, body = await post(client, provider, gzip_bytes(orjson.dumps(CREATE[provider][2])),
                              **{"Content-Encoding": "gzip"})
    assert status == 200 and body.get("code", 1) != 0 and body.get("ErrCode", 0) == 0, body


@pytest.mark.parametrize("path", ["/openapi/v2/media/upload", "/openapi/v2/image/upload"])
async def test_corrupt_content_encoding_on_upload_is_400013(client, path):
    resp = await client.post(path, data=b"not deflate at all", headers={
        "API-KEY": "k", "Ai-trace-id": str(uuid.uuid4()), "Content-Encoding": "deflate",
        "Content-Type": "multipart/form-data; boundary=xyz"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["ErrCode"] == 400013


async def test_admin_answers_a_corrupt_compressed_body_with_400(client):
    for path in ("/__admin/clock", "/__admin/faults"):
        resp = await client.post(path, data=b"garbage", headers={
            "Content-Type": "application/json", "Content-Encoding": "deflate"})
        assert resp.status == 400, await resp.text()


# 3./4. bodies over the cap --------------------------------------------------------------
def bomb(size: int) -> bytes:
    """gzip of a JSON object whose prompt is ``size`` spaces (inflates to just over ``size``)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    parts = [packer.compress(b'{"prompt": "')]
    parts += [packer.compress(chunk) for _ in range(size >> 20)]
    parts += [packer.compress(b'"}'), packer.flush()]
    return b"".join(parts)


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    return bomb(MAX_BODY_BYTES + (1 << 20))


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_compressed_body_inflating_past_the_cap_is_too_large(client, engine, provider, gzip_bomb):
    assert len(gzip_bomb) < 100_000
    status, body = await post(client, provider, gzip_bomb, **{"Content-Encoding": "gzip"})
    assert_too_large(provider, status, body)
    entry = engine.journal.find({"provider": provider})[-1]
    assert entry.request_body.startswith("<application/json")  # described, not inflated again


async def raw_request(port: int, head: bytes, timeout: float = 10.0) -> tuple[int, bytes, bytes]:
    """Send ``head`` (request line and headers, no body) and read the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(65536), timeout)
    finally:
        writer.close()
    status_line, _, rest = response.partition(b"\r\n")
    head_part, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), head_part, body


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_declared_length_over_the_cap_is_answered_without_reading(client, provider):
    lines = [f"POST {CREATE[provider][0]} HTTP/1.1", "Host: 127.0.0.1",
             f"Content-Length: {MAX_BODY_BYTES + 1}", "Connection: close",
             *[f"{k}: {v}" for k, v in headers(provider).items()]]
    status, head, body = await raw_request(client.server.port, ("\r\n".join(lines) + "\r\n\r\n").encode())
    assert b"application/json" in head.lower()
    assert_too_large(provider, status, orjson.loads(body))


async def test_too_many_form_fields_is_a_binding_error_not_image_too_large(client):
    fields = "&".join(f"f{n}=x" for n in range(1001))
    resp = await client.post("/openapi/v2/image/upload", data=fields.encode(), headers={
        "API-KEY": "k", "Ai-trace-id": str(uuid.uuid4()),
        "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200
    assert (await resp.json())["ErrCode"] == 400013


# 5. header bytes that are not UTF-8 -----------------------------------------------------
def raw_submit(port: int, key: bytes, test_id: bytes,
               path: bytes = b"/v1/ai/text-to-video/pixverse-v5") -> bytes:
    """A Freepik submit whose key and X-Mock-Test-Id carry the given bytes, sent as is."""
    import socket

    body = b'{"prompt": "a cat"}'
    head = (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nx-freepik-api-key: " + key +
            b"\r\nX-Mock-Test-Id: " + test_id + b"\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_non_utf8_key_and_test_id_stay_readable(pixverse_mock):
    import requests
    from yarl import URL

    port = URL(pixverse_mock.base_url).port
    answer = raw_submit(port, b"\xffkey-\xfe-secret", b"test-\xe9")
    assert answer.startswith(b"HTTP/1.1 200"), answer
    # Refused before any handler (aiohttp's 400 for a bad request target): never stored.
    assert raw_submit(port, b"k", b"t", path=b"/v1/ai/x/\xff").split(b" ")[1] == b"400"
    for path in ("/__admin/journal", "/__admin/jobs", "/__admin/", "/__admin/metrics"):
        resp = requests.get(pixverse_mock.base_url + path, timeout=10)
        assert resp.status_code == 200, (path, resp.text[:500])
    entries = pixverse_mock.journal("freepik", "submit")
    assert len(entries) == 1
    assert entries[0]["test_id"] == "test-\ufffd"
    assert entries[0]["api_key"] == "\ufffdkey...cret"  # masked, as every key
    pixverse_mock.assert_called("freepik", "submit", times=1, test_id="test-\ufffd")
    jobs = requests.get(pixverse_mock.base_url + "/__admin/jobs", params={"test_id": "test-\ufffd"}, timeout=10)
    assert len(jobs.json()["jobs"]) == 1
