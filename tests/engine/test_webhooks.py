"""Signed webhooks: Freepik's per-request ``webhook_url`` and PixVerse's account webhook.

A receiver is a real aiohttp app on 127.0.0.1; the fake delivers to it over loopback.
Time is the virtual clock: tests freeze it, advance it and ask the scheduler to
``drain`` (attempt what is due and wait), so nothing sleeps on the wall clock.
Signatures are checked with code written here from the providers' descriptions, not
with the fake's own signing code (which uses the ``standardwebhooks`` package for Freepik).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
from aiohttp import web

from mockserver.app import create_app
from support import make_settings
from support.webhooks import FREEPIK_KEY, FREEPIK_T2V, Hit, Receiver, deliveries, fake, freepik_job

PIXVERSE_T2V = "/openapi/v2/video/text/generate"
PIXVERSE_RESULT = "/openapi/v2/video/result/{}"
PIXVERSE_BODY = {"aspect_ratio": "16:9", "duration": 5, "model": "v5", "prompt": "a lighthouse",
                 "quality": "540p", "seed": 7}
PIXVERSE_SCHEDULE = [2, 10, 30, 60, 300, 900, 3600, 14400]


def pixverse_headers(key: str = "hook-key") -> dict[str, str]:
    return {"API-KEY": key, "Ai-Trace-Id": str(uuid.uuid4())}


async def pixverse_job(client, body: dict | None = None, key: str = "hook-key") -> int:
    resp = await client.post(PIXVERSE_T2V, json={**PIXVERSE_BODY, **(body or {})}, headers=pixverse_headers(key))
    data = await resp.json()
    assert data["ErrCode"] == 0, data
    return data["Resp"]["video_id"]


async def set_pixverse_hook(client, **body) -> dict:
    resp = await client.put("/__admin/webhooks/pixverse", json=body)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def finish_at(engine, provider: str, job_id) -> float:
    return (await engine.get_job(provider, str(job_id))).finishes_at


# independent signature checks --------------------------------------------------------------
def verify_standard_webhook(key: bytes, hit: Hit) -> None:
    """Standard Webhooks, from the spec: HMAC-SHA256 over "id.timestamp.body", base64,
    one or more space-separated "v1,<sig>" entries."""
    msg_id, ts = hit.headers["webhook-id"], hit.headers["webhook-timestamp"]
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + hit.body, hashlib.sha256).digest())
    offered = [entry.split(",", 1) for entry in hit.headers["webhook-signature"].split(" ")]
    assert any(v == "v1" and hmac.compare_digest(sig.encode(), expected) for v, sig in offered), hit.headers


def encode_uri_component(text: str) -> str:
    """JavaScript's encodeURIComponent, byte by byte."""
    keep = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()")
    return "".join(chr(b) if b in keep else f"%{b:02X}" for b in text.encode())


def form_encode(body: dict) -> str:
    """The body's key=value pairs, in body order, joined by '&', form-encoded."""
    def text(v):
        return v if isinstance(v, str) else ("true" if v is True else "false" if v is False else json.dumps(v))

    def plus(s: str) -> str:
        return encode_uri_component(s).replace("%20", "+").replace("!", "%21").replace("'", "%27") \
            .replace("(", "%28").replace(")", "%29").replace("*", "%2A").replace("~", "~")

    return "&".join(f"{plus(k)}={plus(text(v))}" for k, v in body.items())


def pixverse_signature(secret: str, hit: Hit, variant: str) -> str:
    payload = encode_uri_component(hit.body.decode()) if variant == "uri" else form_encode(hit.json)
    message = f"{hit.headers['Webhook-Timestamp']}\n{hit.headers['Webhook-Nonce']}\n{payload}"
    return base64.b64encode(hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()).decode()


# Freepik -------------------------------------------------------------------------------------
async def test_freepik_posts_every_status_change_signed_per_standard_webhooks(aiohttp_client, receiver, store):
    client, engine = await fake(aiohttp_client, **store)
    task_id = await freepik_job(client, receiver.url)
    job = await engine.get_job("freepik", task_id)
    engine.clock.advance(job.plan.queue_s + 0.01)
    await engine.webhooks.drain()
    engine.clock.advance(job.plan.run_s)
    await engine.webhooks.drain()

    assert [h.json["status"] for h in receiver.hits] == ["IN_PROGRESS", "COMPLETED"]
    polled = (await (await client.get(f"{FREEPIK_T2V}/{task_id}", headers=FREEPIK_KEY)).json())["data"]
    assert receiver.hits[-1].json == polled  # the task without the data wrapper
    assert receiver.hits[0].json == {"task_id": task_id, "status": "IN_PROGRESS", "generated": []}
    for hit in receiver.hits:
        assert hit.headers["Content-Type"] == "application/json"
        verify_standard_webhook(b"pixverse-mock-freepik-secret", hit)
        # Wall-clock timestamps: receivers reject skew over five minutes.
        assert abs(int(hit.headers["webhook-timestamp"]) - time.time()) < 60
    assert receiver.hits[0].headers["webhook-id"] != receiver.hits[1].headers["webhook-id"]
    log = await deliveries(client, job_id=task_id)
    assert [(e["event"], e["outcome"], e["attempt"]) for e in log] == [
        ("IN_PROGRESS", "delivered", 1), ("COMPLETED", "delivered", 1)]
    assert log[0]["sent_at"] == pytest.approx(job.created_at + job.plan.queue_s + 0.01, abs=1e-6)
    assert log[1]["sent_at"] == pytest.approx(job.finishes_at + 0.01, abs=1e-6)
    assert log[1]["changed_at"] == pytest.approx(job.finishes_at, abs=1e-6)


async def test_freepik_a_clock_jump_delivers_both_changes_in_order(aiohttp_client, receiver):
    client, engine = await fake(aiohttp_client)
    task_id = await freepik_job(client, receiver.url)
    engine.clock.advance(3600)
    await engine.webhooks.drain()
    assert [h.json["status"] for h in receiver.hits] == ["IN_PROGRESS", "COMPLETED"]
    log = await deliveries(client, job_id=task_id)
    job = await engine.get_job("freepik", task_id)
    assert [e["changed_at"] for e in log] == pytest.approx([job.created_at + job.plan.queue_s, job.finishes_at],
                                                            abs=1e-6)


async def test_freepik_whsec_secret_is_base64_after_the_prefix(aiohttp_client, receiver):
    raw = b"\x01\x02secret-bytes\xff"
    secret = "whsec_" + base64.b64encode(raw).decode()
    client, engine = await fake(aiohttp_client, freepik={"webhook_secret": secret, "webhook_secret_format": "whsec"})
    await freepik_job(client, receiver.url)
    engine.clock.advance(3600)
    await engine.webhooks.drain()
    assert len(receiver.hits) == 2
    for hit in receiver.hits:
        verify_standard_webhook(raw, hit)
        with pytest.raises(AssertionError):
            verify_standard_webhook(secret.encode(), hit)


async def test_freepik_library_receivers_verify_whsec_deliveries(aiohttp_client, receiver):
    """What a Svix-style receiver does (the standardwebhooks package's verify)."""
    from standardwebhooks.webhooks import Webhook

    secret = "whsec_" + base64.b64encode(b"0123456789abcdef").decode()
    client, engine = await fake(aiohttp_client, freepik={"webhook_secret": secret, "webhook_secret_format": "whsec"})
    await freepik_job(client, receiver.url)
    engine.clock.advance(3600)
    await engine.webhooks.drain()
    assert [Webhook(secret).verify(h.body, h.headers)["status"] for h in receiver.hits] == ["IN_PROGRESS", "COMPLETED"]


async def test_freepik_retries_non_2xx_on_its_schedule_with_the_same_id(aiohttp_client, receiver, store):
    receiver.answers = [(503, "busy"), (400, "no")]
    client, engine = await fake(aiohttp_client, **store, progress_mode="manual")
    task_id = await freepik_job(client, receiver.url)
    await engine.force(await engine.get_job("freepik", task_id), "succeeded")
    await engine.webhooks.drain()
    engine.clock.advance(5)
    await engine.webhooks.drain()
    engine.clock.advance(299)
    await engine.webhooks.drain()
    assert len(receiver.hits) == 2  # 5 s, then 300 s after the second attempt
    engine.clock.advance(1)
    await engine.webhooks.drain()
    log = await deliveries(client, job_id=task_id)
    assert [(e["outcome"], e["http_status"]) for e in log] == [("failed", 503), ("failed", 400), ("delivered", 200)]
    assert [b["sent_at"] - a["sent_at"] for a, b in zip(log, log[1:])] == pytest.approx([5, 300], abs=1e-5)
    assert len({h.headers["webhook-id"] for h in receiver.hits[:3]}) == 1


async def test_no_webhook_url_no_watch(aiohttp_client):
    client, engine = await fake(aiohttp_client)
    resp = await client.post(FREEPIK_T2V, json={"prompt": "a cat"}, headers=FREEPIK_KEY)
    assert resp.status == 200
    assert engine.webhooks.watching == 0


# PixVerse ------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["form", "uri"])
async def test_pixverse_account_webhook_signed_body_and_headers(aiohttp_client, receiver, variant, store):
    client, engine = await fake(aiohttp_client, **store)
    view = await set_pixverse_hook(client, url=receiver.url, secret="s3cret", signature=variant)
    assert view["url"] == receiver.url and view["allowed"] is True
    trace = str(uuid.uuid4())
    resp = await client.post(PIXVERSE_T2V, json=PIXVERSE_BODY, headers={"API-KEY": "hook-key", "Ai-Trace-Id": trace})
    video_id = (await resp.json())["Resp"]["video_id"]
    engine.clock.advance(await finish_at(engine, "pixverse", video_id) - engine.now() + 0.01)
    await engine.webhooks.drain()

    [hit] = receiver.hits
    result = (await (await client.get(PIXVERSE_RESULT.format(video_id), headers=pixverse_headers())).json())["Resp"]
    assert hit.json == {"id": str(video_id), "status": 1, "url": result["url"],
                        "size": round(result["size"] / 1048576, 2), "has_audio": False, "credits": 45}
    assert set(hit.headers) >= {"Webhook-Timestamp", "Webhook-Nonce", "Webhook-Signature", "Ai-Trace-Id"}
    assert hit.headers["Ai-Trace-Id"] == trace
    assert len(hit.headers["Webhook-Nonce"]) == 32
    assert hit.headers["Webhook-Signature"] == pixverse_signature("s3cret", hit, variant)
    other = "uri" if variant == "form" else "form"
    assert hit.headers["Webhook-Signature"] != pixverse_signature("s3cret", hit, other)


async def test_pixverse_form_variant_escapes_the_url(aiohttp_client, receiver):
    """The default variant form-encodes values: the result URL's ':' and '/' are escaped."""
    client, engine = await fake(aiohttp_client, pixverse={"webhook_url": receiver.url})
    video_id = await pixverse_job(client)
    engine.clock.advance(await finish_at(engine, "pixverse", video_id) - engine.now())
    await engine.webhooks.drain()
    [hit] = receiver.hits
    assert "url=http%3A%2F%2F127.0.0.1" in form_encode(hit.json)
    assert hit.headers["Webhook-Signature"] == pixverse_signature("pixverse-mock-pixverse-secret", hit, "form")


async def test_pixverse_retry_schedule_until_the_receiver_recovers(aiohttp_client, receiver, store):
    """Fails three times (500, 200 without "ok", a refused connection), then answers ok:
    attempts at +2 s, +10 s, +30 s on the virtual clock, then nothing more."""
    client, engine = await fake(aiohttp_client, **store)
    await set_pixverse_hook(client, url=receiver.url)
    receiver.answers = [(500, "boom"), (200, "OK!"), (200, "not ok")]
    video_id = await pixverse_job(client)
    start = await finish_at(engine, "pixverse", video_id)
    engine.clock.advance(start - engine.now())
    await engine.webhooks.drain()
    for interval in (2, 10, 30):
        engine.clock.advance(interval - 0.01)
        await engine.webhooks.drain()
        before = len(receiver.hits)
        engine.clock.advance(0.01)
        await engine.webhooks.drain()
        assert len(receiver.hits) == before + 1  # not a moment earlier
    engine.clock.advance(86_400)
    await engine.webhooks.drain()
    assert len(receiver.hits) == 4
    log = await deliveries(client, job_id=str(video_id))
    assert [e["outcome"] for e in log] == ["failed", "failed", "failed", "delivered"]
    assert [e["sent_at"] - start for e in log] == pytest.approx([0, 2, 12, 42], abs=1e-5)
    assert [e["response"] for e in log] == ["boom", "OK!", "not ok", "ok"]
    assert log[0]["next_attempt_at"] == pytest.approx(start + 2, abs=1e-5)
    assert len({e["delivery_id"] for e in log}) == 1


async def test_pixverse_gives_up_after_eight_retries(aiohttp_client, receiver):
    client, engine = await fake(aiohttp_client)
    await set_pixverse_hook(client, url=receiver.url)
    receiver.default = (503, "down")
    video_id = await pixverse_job(client)
    start = await finish_at(engine, "pixverse", video_id)
    engine.clock.advance(start - engine.now())
    await engine.webhooks.drain()
    for interval in PIXVERSE_SCHEDULE:
        engine.clock.advance(interval)
        await engine.webhooks.drain()
    engine.clock.advance(10 * 86_400)
    await engine.webhooks.drain()
    log = await deliveries(client, job_id=str(video_id))
    assert len(log) == 9 == len(receiver.hits)
    offsets = [e["sent_at"] - start for e in log]
    assert [b - a for a, b in zip(offsets, offsets[1:])] == pytest.approx(PIXVERSE_SCHEDULE, abs=1e-5)
    assert log[-1]["gave_up"] is True and log[-1]["next_attempt_at"] is None


async def test_pixverse_connection_refused_is_an_error_and_retried(aiohttp_client, unused_tcp_port):
    client, engine = await fake(aiohttp_client)
    await set_pixverse_hook(client, url=f"http://127.0.0.1:{unused_tcp_port}/hook")
    video_id = await pixverse_job(client)
    engine.clock.advance(await finish_at(engine, "pixverse", video_id) - engine.now())
    await engine.webhooks.drain()
    [entry] = await deliveries(client, job_id=str(video_id))
    assert entry["outcome"] == "error" and entry["http_status"] is None and entry["error"]
    assert entry["next_attempt_at"] == pytest.approx(entry["sent_at"] + 2, abs=1e-5)


async def test_pixverse_webhook_per_key_and_off(aiohttp_client, receiver, store):
    client, engine = await fake(aiohttp_client, **store)
    await set_pixverse_hook(client, url=receiver.url + "/a", api_key="key-a")
    view = await (await client.get("/__admin/webhooks/pixverse", params={"api_key": "key-a"})).json()
    assert view["own"] is True and view["url"].endswith("/a")
    a = await pixverse_job(client, key="key-a")
    b = await pixverse_job(client, key="key-b")  # no webhook for key-b (default off)
    engine.clock.advance(3600)
    await engine.webhooks.drain()
    assert [h.path for h in receiver.hits] == ["/hooks/a"]
    assert receiver.hits[0].json["id"] == str(a)
    assert engine.webhooks.watching == 0 and b
    await set_pixverse_hook(client, url=None, api_key="key-a")
    await pixverse_job(client, key="key-a")
    assert engine.webhooks.watching == 0


async def test_pixverse_moderated_job_is_refunded_once_when_the_webhook_observes_it(aiohttp_client, receiver):
    client, engine = await fake(aiohttp_client, moderation_rate=1.0)
    await set_pixverse_hook(client, url=receiver.url)
    start = engine.ledger.balance("pixverse", "hook-key")
    video_id = await pixverse_job(client)
    assert engine.ledger.balance("pixverse", "hook-key") == start - 45
    engine.clock.advance(3600)
    await engine.webhooks.drain()
    [hit] = receiver.hits
    assert hit.json["status"] == 7 and hit.json["credits"] == 0 and hit.json["url"] == ""
    assert engine.ledger.balance("pixverse", "hook-key") == start
    for _ in range(3):  # polls see status 7 and refund nothing more
        body = await (await client.get(PIXVERSE_RESULT.format(video_id), headers=pixverse_headers())).json()
        assert body["Resp"]["status"] == 7
    assert engine.ledger.balance("pixverse", "hook-key") == start


async def test_pixverse_failed_job_reports_status_8_and_keeps_the_charge(aiohttp_client, receiver):
    client, engine = await fake(aiohttp_client, failure_rate=1.0, pixverse={"webhook_url": receiver.url})
    await pixverse_job(client)
    engine.clock.advance(3600)
    await engine.webhooks.drain()
    [hit] = receiver.hits
    assert hit.json["status"] == 8 and hit.json["credits"] == 45
    assert engine.ledger.balance("pixverse", "hook-key") == 100_000 - 45


# progress modes, forcing, clock changes -----------------------------------------------------
async def test_poll_count_mode_delivers_on_the_reads_that_change_status(aiohttp_client, receiver, store):
    client, engine = await fake(aiohttp_client, **store, progress_mode="polls", queued_polls=1, running_polls=1)
    task_id = await freepik_job(client, receiver.url)
    path = f"{FREEPIK_T2V}/{task_id}"
    seen = []
    for _ in range(3):
        seen.append((await (await client.get(path, headers=FREEPIK_KEY)).json())["data"]["status"])
        await engine.webhooks.drain()
    assert seen == ["CREATED", "IN_PROGRESS", "COMPLETED"]
    assert [h.json["status"] for h in receiver.hits] == ["IN_PROGRESS", "COMPLETED"]


async def test_manual_mode_delivers_what_the_admin_forces(aiohttp_client, receiver):
    client, engine = await fake(aiohttp_client, progress_mode="manual")
    task_id = await freepik_job(client, receiver.url)
    engine.clock.advance(86_400)
    await engine.webhooks.drain()
    assert receiver.hits == []
    resp = await client.post(f"/__admin/jobs/freepik/{task_id}", json={"status": "running"})
    assert resp.status == 200
    await engine.webhooks.drain()
    resp = await client.post(f"/__admin/jobs/freepik/{task_id}", json={"status": "failed"})
    await engine.webhooks.drain()
    assert [h.json["status"] for h in receiver.hits] == ["IN_PROGRESS", "FAILED"]


async def test_forcing_a_time_driven_job_overrides_its_schedule(aiohttp_client, receiver):
    client, engine = await fake(aiohttp_client)
    task_id = await freepik_job(client, receiver.url)
    await engine.force(await engine.get_job("freepik", task_id), "failed")
    await engine.webhooks.drain()
    engine.clock.advance(3600)
    await engine.webhooks.drain()
    assert [h.json["status"] for h in receiver.hits] == ["FAILED"]


async def test_moderation_at_submit_is_delivered_at_once(aiohttp_client, receiver):
    client, engine = await fake(aiohttp_client)
    resp = await client.post(FREEPIK_T2V, headers=FREEPIK_KEY,
                             json={"prompt": "a cat [mock:moderation=submit]", "webhook_url": receiver.url})
    assert (await resp.json())["data"]["status"] == "CREATED"
    await engine.webhooks.drain()
    assert [h.json["status"] for h in receiver.hits] == ["FAILED"]


async def test_an_admin_clock_advance_wakes_the_scheduler(aiohttp_client, receiver):
    """At 0.001x a job would take days of wall time; advancing the clock through the
    admin API must deliver at once, without drain."""
    client = await aiohttp_client(create_app(make_settings(time_scale=0.001)))
    await freepik_job(client, receiver.url)
    resp = await client.post("/__admin/clock", json={"advance": 3600})
    assert resp.status == 200
    for _ in range(2):
        await asyncio.wait_for(receiver.arrived.wait(), 10)
        receiver.arrived.clear()
    assert [h.json["status"] for h in receiver.hits] == ["IN_PROGRESS", "COMPLETED"]


async def test_unfrozen_clock_delivers_on_its_own(aiohttp_client, receiver):
    client = await aiohttp_client(create_app(make_settings(time_scale=2000, queue_seconds=(1, 1))))
    await freepik_job(client, receiver.url)
    while len(receiver.hits) < 2:
        await asyncio.wait_for(receiver.arrived.wait(), 10)
        receiver.arrived.clear()
    assert [h.json["status"] for h in receiver.hits] == ["IN_PROGRESS", "COMPLETED"]


# allowed hosts -------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["http://example.com/hook", "http://10.1.2.3/hook", "ftp://127.0.0.1/x",
                                 "http://169.254.169.254/latest/meta-data"])
async def test_hosts_not_allowed_are_refused_and_logged(aiohttp_client, url, store):
    client, engine = await fake(aiohttp_client, **store)
    task_id = await freepik_job(client, url)
    engine.clock.advance(3600)
    await engine.webhooks.drain()
    log = await deliveries(client, job_id=task_id)
    assert [(e["event"], e["outcome"], e["url"]) for e in log] == [
        ("IN_PROGRESS", "refused", url), ("COMPLETED", "refused", url)]
    assert all(e["next_attempt_at"] is None and "allowed_hosts" in e["error"] for e in log)
    engine.clock.advance(86_400)
    await engine.webhooks.drain()
    assert len(await deliveries(client, job_id=task_id)) == 2  # never retried


async def test_allowed_hosts_setting_opens_a_host(aiohttp_client, receiver):
    client, engine = await fake(aiohttp_client, webhooks={"allowed_hosts": ["10.0.0.0/8"]})
    task_id = await freepik_job(client, receiver.url)  # 127.0.0.1 is no longer allowed
    engine.clock.advance(3600)
    await engine.webhooks.drain()
    assert receiver.hits == []
    assert {e["outcome"] for e in await deliveries(client, job_id=task_id)} == {"refused"}


def test_host_allowed_rules():
    from mockserver.engine.webhooks import host_allowed

    assert host_allowed("http://127.0.0.1:9/x", ["loopback"])
    assert host_allowed("http://localhost/x", ["loopback"])
    assert host_allowed("http://[::1]:80/x", ["loopback"])
    assert host_allowed("http://127.9.9.9/x", ["loopback"])
    assert not host_allowed("http://127.0.0.1.nip.io/x", ["loopback"])
    assert not host_allowed("http://example.com/x", ["loopback"])
    assert host_allowed("https://hooks.example.com/x", ["*.example.com"])
    assert not host_allowed("https://example.com.evil.net/x", ["*.example.com"])
    assert host_allowed("http://10.2.3.4/x", ["10.0.0.0/8"])
    assert host_allowed("http://anything.net/x", ["*"])
    assert not host_allowed("file:///etc/passwd", ["*"])
    assert not host_allowed("http://[bad/x", ["*"])


async def test_redirects_are_not_followed(aiohttp_client, aiohttp_server):
    hits = []

    async def bounce(request):
        hits.append(request.path)
        raise web.HTTPFound("http://example.com/elsewhere")

    app = web.Application()
    app.router.add_post("/hook", bounce)
    server = await aiohttp_server(app)
    client, engine = await fake(aiohttp_client, pixverse={"webhook_url": str(server.make_url("/hook"))})
    video_id = await pixverse_job(client)
    engine.clock.advance(await finish_at(engine, "pixverse", video_id) - engine.now())
    await engine.webhooks.drain()
    [entry] = await deliveries(client, job_id=str(video_id))
    assert entry["http_status"] == 302 and entry["outcome"] == "failed"
    assert hits == ["/hook"]


# delivery faults -----------------------------------------------------------------------------
async def test_delay_fault_postpones_the_first_attempt(aiohttp_client, receiver, store):
    client, engine = await fake(aiohttp_client, **store, pixverse={"webhook_url": receiver.url})
    resp = await client.post("/__admin/webhooks/faults", json={"kind": "delay", "seconds": 30, "provider": "pixverse"})
    assert resp.status == 201
    video_id = await pixverse_job(client)
    end = await finish_at(engine, "pixverse", video_id)
    engine.clock.advance(end - engine.now() + 29)
    await engine.webhooks.drain()
    assert receiver.hits == []
    engine.clock.advance(1)
    await engine.webhooks.drain()
    [entry] = await deliveries(client, job_id=str(video_id))
    assert entry["sent_at"] == pytest.approx(end + 30, abs=1e-5) and entry["faults"] == ["delay"]


async def test_duplicate_fault_sends_the_same_delivery_twice(aiohttp_client, receiver, store):
    client, engine = await fake(aiohttp_client, **store)
    await client.post("/__admin/webhooks/faults", json={"kind": "duplicate", "event": "COMPLETED", "times": 1})
    await freepik_job(client, receiver.url)
    engine.clock.advance(3600)
    await engine.webhooks.drain()
    statuses = [h.json["status"] for h in receiver.hits]
    assert statuses == ["IN_PROGRESS", "COMPLETED", "COMPLETED"]
    first, copy = receiver.hits[1], receiver.hits[2]
    assert first.headers["webhook-id"] == copy.headers["webhook-id"] and first.body == copy.body
    verify_standard_webhook(b"pixverse-mock-freepik-secret", copy)
    faults = (await (await client.get("/__admin/webhooks/faults")).json())["faults"]
    assert faults[0]["fired"] == 1


async def test_out_of_order_fault_delivers_a_change_after_the_next_one(aiohttp_client, receiver):
    client, engine = await fake(aiohttp_client)
    await client.post("/__admin/webhooks/faults",
                      json={"kind": "out_of_order", "event": "IN_PROGRESS", "seconds": 3600})
    task_id = await freepik_job(client, receiver.url)
    job = await engine.get_job("freepik", task_id)
    engine.clock.advance(job.plan.queue_s + 0.01)
    await engine.webhooks.drain()
    assert receiver.hits == []  # held back
    engine.clock.advance(job.plan.run_s)
    await engine.webhooks.drain()
    assert [h.json["status"] for h in receiver.hits] == ["COMPLETED", "IN_PROGRESS"]


async def test_out_of_order_hold_ends_after_its_seconds(aiohttp_client, receiver):
    client, engine = await fake(aiohttp_client, pixverse={"webhook_url": receiver.url})
    await client.post("/__admin/webhooks/faults", json={"kind": "out_of_order", "seconds": 20})
    video_id = await pixverse_job(client)
    end = await finish_at(engine, "pixverse", video_id)
    engine.clock.advance(end - engine.now() + 19.9)
    await engine.webhooks.drain()
    assert receiver.hits == []
    engine.clock.advance(0.2)
    await engine.webhooks.drain()
    assert len(receiver.hits) == 1


async def test_delivery_fault_routes(client, store):
    bad = await client.post("/__admin/webhooks/faults", json={"kind": "explode"})
    assert bad.status == 400
    added = await client.post("/__admin/webhooks/faults", json=[{"kind": "delay", "seconds": 5, "id": "d1"},
                                                                 {"kind": "duplicate"}])
    assert added.status == 201
    ids = [f["id"] for f in (await added.json())["faults"]]
    assert ids[0] == "d1" and len(ids) == 2
    assert (await (await client.delete("/__admin/webhooks/faults/d1")).json()) == {"deleted": 1}
    assert (await client.delete("/__admin/webhooks/faults/d1")).status == 404
    assert (await (await client.delete("/__admin/webhooks/faults")).json()) == {"deleted": 1}


# admin, reset, shutdown ---------------------------------------------------------------------
async def test_admin_summary_and_pixverse_validation(client, store):
    summary = await (await client.get("/__admin/webhooks")).json()
    assert summary["running"] is True and summary["allowed_hosts"] == ["loopback"]
    assert summary["pixverse"]["url"] is None and summary["pixverse"]["signature"] == "form"
    for bad in ("ftp://x", "http://example.com/h\x1f", "http://example.com/\u00e6"):  # printable ASCII only
        assert (await client.put("/__admin/webhooks/pixverse", json={"url": bad})).status == 400, bad
    assert (await client.put("/__admin/webhooks/pixverse", json={"signature": "base64"})).status == 400
    view = await (await client.put("/__admin/webhooks/pixverse", json={"url": "http://example.com/h"})).json()
    assert view["allowed"] is False
    reset = await (await client.delete("/__admin/webhooks/pixverse")).json()
    assert reset["url"] is None


async def test_drain_route_delivers_what_is_due(aiohttp_client, receiver):
    client, engine = await fake(aiohttp_client, pixverse={"webhook_url": receiver.url})
    await pixverse_job(client)
    await client.post("/__admin/clock", json={"advance": 3600})
    resp = await client.post("/__admin/webhooks/drain", params={"timeout_s": 10})
    assert resp.status == 200
    body = await resp.json()
    assert body["counts"]["delivered"] == 1 and body["pending"] == 0
    assert len(receiver.hits) == 1


async def test_full_reset_forgets_pending_deliveries(aiohttp_client, receiver):
    client, engine = await fake(aiohttp_client)
    receiver.default = (500, "down")
    await freepik_job(client, receiver.url)
    engine.clock.advance(3600)
    await engine.webhooks.drain()
    assert engine.webhooks.summary()["pending"] == 2
    await client.post("/__admin/reset", json={})
    assert engine.webhooks.summary()["pending"] == 0 and len(engine.webhooks.log) == 0
    engine.clock.advance(86_400)
    await engine.webhooks.drain()
    assert len(receiver.hits) == 2


async def test_metrics_count_attempts_by_outcome_across_a_reset(aiohttp_client, receiver):
    receiver.answers = [(503, "busy")]
    client, engine = await fake(aiohttp_client, progress_mode="manual")
    task_id = await freepik_job(client, receiver.url)
    await engine.force(await engine.get_job("freepik", task_id), "succeeded")
    await engine.webhooks.drain()

    async def metrics() -> str:
        resp = await client.get("/__admin/metrics")
        assert resp.status == 200
        return await resp.text()

    text = await metrics()
    assert 'pixverse_mock_webhook_deliveries_total{outcome="failed",provider="freepik"} 1.0' in text
    assert "pixverse_mock_webhooks_pending 1.0" in text  # the retry, 5 s later
    engine.clock.advance(5)
    await engine.webhooks.drain()
    await client.post("/__admin/reset", json={})  # clears the log, not the counters
    text = await metrics()
    assert 'pixverse_mock_webhook_deliveries_total{outcome="failed",provider="freepik"} 1.0' in text
    assert 'pixverse_mock_webhook_deliveries_total{outcome="delivered",provider="freepik"} 1.0' in text
    assert "pixverse_mock_webhooks_pending 0.0" in text


async def test_shutdown_attempts_what_is_due_and_logs_the_rest(aiohttp_client, receiver, aiohttp_server):
    down = Receiver(default=(500, "down"))
    app = web.Application()
    app.router.add_post("/{tail:.*}", down.handle)
    down.url = str((await aiohttp_server(app)).make_url("/down"))

    client, engine = await fake(aiohttp_client, progress_mode="manual")
    down_task = await freepik_job(client, down.url)
    for state in ("running", "succeeded"):
        await engine.force(await engine.get_job("freepik", down_task), state)
        await engine.webhooks.drain()
    assert len(down.hits) == 2  # both failed; retries pending 5 s later
    ok_task = await freepik_job(client, receiver.url)
    await engine.force(await engine.get_job("freepik", ok_task), "succeeded")  # due now, not drained
    await client.close()

    assert engine.webhooks.closed
    assert [h.json["status"] for h in receiver.hits] == ["COMPLETED"]
    assert [e["outcome"] for e in engine.webhooks.entries(job_id=ok_task)] == ["delivered"]
    undelivered = engine.webhooks.entries(outcome="undelivered")
    assert [(e["job_id"], e["event"], e["attempt"]) for e in undelivered] == [
        (down_task, "IN_PROGRESS", 2), (down_task, "COMPLETED", 2)]
    assert all(e["error"] == "undelivered at shutdown (retry pending)" for e in undelivered)
    assert engine.webhooks.summary()["pending"] == 0


async def test_shutdown_with_a_hanging_receiver_logs_it_undelivered(aiohttp_client, aiohttp_server):
    release, arrived = asyncio.Event(), asyncio.Event()

    async def hang(request):
        arrived.set()
        await release.wait()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hang", hang)
    server = await aiohttp_server(app)
    client, engine = await fake(aiohttp_client, pixverse={"webhook_url": str(server.make_url("/hang"))},
                                webhooks={"shutdown_grace_s": 0.2})
    await pixverse_job(client)
    engine.clock.advance(3600)
    engine.webhooks._process_due(engine.now())
    await asyncio.wait_for(arrived.wait(), 10)  # the attempt is in flight
    await client.close()
    release.set()
    [entry] = engine.webhooks.entries()
    assert entry["outcome"] == "undelivered" and entry["event"] == 1
