"""Exposure (issue 14, items 8, 9, 12): the control plane's credential, its Origin,
Host and content-type rules, secrets never echoed, the webhook allow-list's host names
and credentials in webhook URLs.  Everything on 127.0.0.1."""
from __future__ import annotations

import asyncio
import hashlib
import re

import pytest
from aiohttp import web

from mockserver import cli, serving
from mockserver.admin.guard import COOKIE, admin_guard, is_loopback_host, mount_admin
from mockserver.app import ENGINE, create_app
from mockserver.serving import exposure_warning, prepare_exposure
from mockserver.settings import Settings
from mockserver.testing.admin import AdminError, MockAdmin
from mockserver.testing.server import ThreadedFake
from support import make_settings
from support.webhooks import FREEPIK_KEY, FREEPIK_T2V, Receiver, deliveries, fake, freepik_job

TOKEN = "t0ken-for-the-tests"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def guarded(aiohttp_client):
    return await aiohttp_client(create_app(make_settings(admin_token=TOKEN)))


def concrete(path: str) -> str:
    """A request path for a route pattern: every {variable} filled in."""
    return re.sub(r"\{[^}]*\}", "x", path)


# the credential --------------------------------------------------------------------------
async def test_every_admin_route_needs_the_token_and_provider_routes_do_not(guarded):
    app = guarded.server.app
    routes = [(r.method, r.resource.canonical) for r in app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/__admin")
              and r.method not in ("HEAD", "*")]  # "*": the answer to paths no route serves, below
    assert len(routes) >= 25  # the page, health, clock, jobs, journal, metrics, faults, webhooks ...
    for method, path in routes:
        resp = await guarded.request(method, concrete(path))
        assert resp.status == 401, (method, path, resp.status)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await resp.json())["message"]
    # Wrong tokens, and an admin path no route serves, are refused the same way.
    for headers in ({"Authorization": "Bearer nope"}, {"X-Mock-Admin-Token": TOKEN[:-1]},
                    {"Authorization": TOKEN}, {"Cookie": f"{COOKIE}=nope"}):
        assert (await guarded.get("/__admin/health", headers=headers)).status == 401
    assert (await guarded.get("/__admin/no/such/route")).status == 401
    # The guard wraps each admin route: no middleware, which would cost every request.
    assert not app.middlewares
    resp = await guarded.post(FREEPIK_T2V, json={"prompt": "a cat"}, headers=FREEPIK_KEY)
    assert resp.status == 200, await resp.text()


async def test_with_the_token_an_admin_path_no_route_serves_is_404_and_a_wrong_method_405(guarded):
    missing = await guarded.get("/__admin/no/such/route", headers=BEARER)
    assert missing.status == 404
    wrong = await guarded.put("/__admin/health", headers=BEARER)
    assert wrong.status == 405 and wrong.headers["Allow"] == "GET"


def test_an_admin_route_not_behind_the_guard_is_refused_at_mount():
    async def bare(_request: web.Request) -> web.Response:
        return web.Response()

    admin = web.Application()
    admin.router.add_get("/guarded", admin_guard(TOKEN)(bare))
    admin.router.add_get("/open", bare)
    with pytest.raises(RuntimeError, match="/open"):
        mount_admin(web.Application(), admin)


@pytest.mark.parametrize("headers", [BEARER, {"X-Mock-Admin-Token": TOKEN}, {"Cookie": f"{COOKIE}={TOKEN}"}])
async def test_the_token_is_accepted_three_ways(guarded, headers):
    assert (await guarded.get("/__admin/health", headers=headers)).status == 200
    assert (await guarded.post("/__admin/clock", json={"advance": 1}, headers=headers)).status == 200


async def test_opening_the_page_with_the_token_sets_a_strict_cookie_and_drops_the_query(guarded):
    resp = await guarded.get(f"/__admin/?token={TOKEN}&provider=freepik", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/__admin/?provider=freepik"
    cookie = resp.headers["Set-Cookie"]
    assert f"{COOKIE}={TOKEN}" in cookie and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie and "Path=/__admin" in cookie
    page = await guarded.get("/__admin/?provider=freepik")  # the client kept the cookie
    assert page.status == 200 and page.content_type == "text/html"
    guarded.session.cookie_jar.clear()
    wrong = await guarded.get("/__admin/?token=nope", allow_redirects=False)
    assert wrong.status == 401 and "Set-Cookie" not in wrong.headers


def test_mock_admin_sends_the_token():
    with ThreadedFake(make_settings(port=0, admin_token=TOKEN)) as server:
        with pytest.raises(AdminError) as refused:
            MockAdmin(server.base_url, admin_token=None).health()
        assert refused.value.status == 401
        assert MockAdmin(server.base_url, admin_token=TOKEN).health()["status"] == "ok"


def test_only_loopback_binds_count_as_safe():
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST.", "::1", "[::1]"):
        assert is_loopback_host(host), host
        assert exposure_warning(Settings(host=host), 8000) is None
        assert prepare_exposure(Settings(host=host)) == (Settings(host=host), None)
    for host in ("0.0.0.0", "::", "", "192.168.1.20", "10.0.0.5", "fake.example", "localhost.example"):
        assert not is_loopback_host(host), host
        assert "beyond loopback" in exposure_warning(Settings(host=host), 8000)
        settings, token = prepare_exposure(Settings(host=host))
        assert token and len(token) >= 32 and settings.admin_token == token
        mine = Settings(host=host, admin_token="mine")
        assert prepare_exposure(mine) == (Settings(host=host, admin_token="mine"), None)


async def test_serve_beyond_loopback_warns_and_requires_a_generated_token(monkeypatch, capsys, caplog):
    # The command as run with --host 0.0.0.0, except that the socket is bound on loopback.
    real_start = serving.start_site
    monkeypatch.setattr(serving, "start_site",
                        lambda runner, settings, **kw: real_start(runner, settings, "127.0.0.1", 0, **kw))
    task = asyncio.create_task(cli._serve(make_settings(host="0.0.0.0", port=0)))
    for _ in range(200):
        out = capsys.readouterr()
        if "listening on" in out.out:
            break
        await asyncio.sleep(0.05)
    try:
        port = re.search(r"listening on http://0\.0\.0\.0:(\d+)", out.out).group(1)
        assert "WARNING" in out.err and "beyond loopback" in out.err
        assert any("beyond loopback" in r.getMessage() for r in caplog.records)
        token = re.search(r"admin token \(generated[^:]*\): (\S+)", out.err).group(1)
        assert token not in " ".join(r.getMessage() for r in caplog.records)  # printed once, not logged
        base = f"http://127.0.0.1:{port}"
        with pytest.raises(AdminError):
            await asyncio.to_thread(lambda: MockAdmin(base, admin_token=None).health())
        assert (await asyncio.to_thread(lambda: MockAdmin(base, admin_token=token).health()))["status"] == "ok"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# cross-site writes -------------------------------------------------------------------------
async def test_admin_writes_need_json_and_the_fakes_own_origin(client):
    engine = client.server.app[ENGINE]
    engine.clock.freeze()
    before = engine.clock.now()
    text = await client.post("/__admin/clock", data=b'{"advance": 3600}', headers={"Content-Type": "text/plain"})
    form = await client.post("/__admin/clock", data={"advance": "3600"})  # form-encoded
    faults = await client.post("/__admin/faults", data=b'{"error": 503}',
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    reset = await client.post("/__admin/reset", data=b'{}', headers={"Content-Type": "text/plain"})
    for resp in (text, form, faults, reset):
        assert resp.status == 415, resp.status
        assert "application/json" in (await resp.json())["message"]
    origin = str(client.make_url("")).rstrip("/")
    foreign = await client.post("/__admin/clock", json={"advance": 3600}, headers={"Origin": "http://evil.example"})
    null = await client.post("/__admin/reset", headers={"Origin": "null"})
    read = await client.get("/__admin/journal", headers={"Origin": "http://evil.example"})
    for resp in (foreign, null, read):
        assert resp.status == 403 and (await resp.json())["message"]
    # A page served under another host name that resolves to 127.0.0.1 (DNS rebinding)
    # sends its own Origin and Host; with no token in force the Host must be loopback.
    rebound = await client.post("/__admin/clock", json={"advance": 3600},
                                headers={"Host": "evil.example:80", "Origin": "http://evil.example:80"})
    assert rebound.status == 403
    assert engine.clock.now() == before and not len(engine.faults)
    same = await client.post("/__admin/clock", json={"advance": 1}, headers={"Origin": origin})
    assert same.status == 200 and engine.clock.now() == pytest.approx(before + 1)
    assert (await client.post("/__admin/webhooks/drain")).status in (200, 409)  # no body: no type needed


# secrets and the delivery log ----------------------------------------------------------------
async def test_webhook_secrets_are_shown_as_a_fingerprint_only(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings()))
    resp = await client.put("/__admin/webhooks/pixverse", json={"secret": "s3cret-value", "api_key": "k1",
                                                                "url": "http://127.0.0.1:9/h"})
    assert resp.status == 200
    answers = [await resp.text()] + [await (await client.get(path)).text() for path in (
        "/__admin/webhooks/pixverse", "/__admin/webhooks/pixverse?api_key=k1", "/__admin/webhooks", "/__admin/")]
    for text in answers:
        assert "s3cret-value" not in text and "pixverse-mock-pixverse-secret" not in text
    view = await (await client.get("/__admin/webhooks/pixverse?api_key=k1")).json()
    assert "secret" not in view
    assert view["secret_fingerprint"] == "sha256:" + hashlib.sha256(b"s3cret-value").hexdigest()[:8]
    assert view["keys"][0]["secret_fingerprint"] == view["secret_fingerprint"]


async def test_delivery_log_redacts_url_credentials_and_keeps_a_short_excerpt(aiohttp_client, aiohttp_server):
    receiver = Receiver(default=(500, "internal: session=" + "A1b2C3d4" * 8 + " " + "x" * 400))
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    server = await aiohttp_server(app)
    client, engine = await fake(aiohttp_client)
    url = f"http://hook-user:pa55word@127.0.0.1:{server.port}/hooks"
    task_id = await freepik_job(client, url)
    engine.clock.advance((await engine.get_job("freepik", task_id)).plan.queue_s + 0.01)
    await engine.webhooks.drain()
    assert receiver.hits, "the receiver was not called"
    resp = await client.get("/__admin/webhooks/deliveries")
    assert "pa55word" not in await resp.text()
    entry = (await deliveries(client, job_id=task_id))[0]
    assert entry["url"] == f"http://hook-user:****@127.0.0.1:{server.port}/hooks"
    assert entry["http_status"] == 500 and entry["outcome"] == "failed"
    job = await (await client.get(f"/__admin/jobs/freepik/{task_id}")).json()
    assert job["request"]["webhook_url"] == entry["url"]
    # The token-like run is cut to its first 4 characters, the rest of the answer dropped.
    assert entry["response"].startswith("internal: sess\u2026")
    assert "A1b2C3d4" not in entry["response"] and len(entry["response"]) <= 82


async def test_upper_case_localhost_with_a_trailing_dot_is_loopback_and_never_looked_up(aiohttp_client, aiohttp_server):
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    client, engine = await fake(aiohttp_client)
    task_id = await freepik_job(client, f"http://LOCALHOST.:{server.port}/hooks")
    engine.clock.advance((await engine.get_job("freepik", task_id)).plan.queue_s + 0.01)
    await engine.webhooks.drain()
    entry = (await deliveries(client, job_id=task_id))[0]
    assert entry["outcome"] == "delivered", entry
    assert [h.json["status"] for h in receiver.hits] == ["IN_PROGRESS"]


# slow clients (item 10) ------------------------------------------------------------------------
async def test_slow_header_senders_and_idle_connections_are_closed():
    from mockserver.serving import make_runner, start_site

    settings = make_settings(port=0, header_read_timeout_s=0.3, keepalive_timeout_s=1.5)
    runner = make_runner(create_app(settings), settings)
    site = await start_site(runner, settings, "127.0.0.1", 0)
    loop = asyncio.get_running_loop()

    async def slowloris() -> float:
        """Headers one byte every 0.1 s, never finished: seconds until the fake hangs up."""
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        started = loop.time()
        try:
            for byte in b"GET /__admin/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
                writer.write(bytes([byte]))
                await writer.drain()
                if reader.at_eof():
                    break
                try:
                    if await asyncio.wait_for(reader.read(1), 0.1) == b"":
                        break
                except asyncio.TimeoutError:
                    pass
        except ConnectionError:
            pass
        finally:
            writer.close()
        return loop.time() - started

    async def idle_after_one_request() -> tuple[bytes, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        writer.write(b"GET /__admin/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status = await reader.readline()
        await reader.readuntil(b"\r\n\r\n")
        answered = loop.time()
        while await asyncio.wait_for(reader.read(65536), 5):  # the body, then EOF when closed
            pass
        writer.close()
        return status, loop.time() - answered

    try:
        *slow, (status, idle) = await asyncio.wait_for(
            asyncio.gather(slowloris(), slowloris(), slowloris(), idle_after_one_request()), 10)
    finally:
        await runner.cleanup()
    assert status.startswith(b"HTTP/1.1 200")
    # 0.3 s allowed for headers, 13 s of dribbling offered; closed well before the
    # keep-alive timeout, so by the header deadline.
    for seconds in slow:
        assert 0.25 < seconds < 1.2, slow
    # The idle connection is closed by the keep-alive timeout: not sooner (the header
    # deadline applies to a connection's first request only), and not left open.
    keepalive = settings.keepalive_timeout_s
    assert idle >= keepalive - 0.2, f"closed after {idle:.2f} s, before the {keepalive} s keep-alive timeout"
    assert idle <= keepalive + 2.5, f"still open {idle:.2f} s after its last answer ({keepalive} s allowed)"


async def test_a_request_without_host_is_not_refused_on_loopback():
    """HTTP/1.0 tools may send no Host; DNS rebinding needs a browser, which always does."""
    with ThreadedFake(make_settings(port=0)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /__admin/health HTTP/1.0\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200") or answer.startswith(b"HTTP/1.0 200"), answer[:80]
