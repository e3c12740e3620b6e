"""The control plane's door: every ``/__admin`` request passes ``admin_guard`` first.

The admin routes live in their own aiohttp sub-application mounted at ``/__admin``
(``mount_admin``), and every handler of that sub-application is wrapped in this guard
when it is registered (``routes.register``, paths no route serves included);
``mount_admin`` refuses to mount one that is not, so every admin route, present and
future (HTML, metrics, event streams, static files), is behind it.  A wrapper, not a
middleware: any middleware, even a sub-application's, makes aiohttp run a middleware
layer on every request of the whole application (``_fix_request_current_app``),
~15,000 CPU instructions on each provider create and poll (``loadtests/bench_instructions.py``).
In order:

1. **Origin.** A request carrying an ``Origin`` header that is not the fake's own
   origin (``scheme://Host``) gets 403 ``{"message"}``: a web page the developer has
   open cannot drive the fake.  With no admin token in force, the ``Host`` must also
   be a loopback name or address (403 otherwise), so a DNS-rebinding page cannot
   pose as the fake's own origin.
2. **Credential.** When ``admin_token`` is set (``--admin-token``,
   ``PIXVERSE_MOCK_ADMIN_TOKEN``; generated at start-up when bound beyond loopback),
   a request needs it as ``Authorization: Bearer <token>``, ``X-Mock-Admin-Token:
   <token>`` or the cookie ``pixverse_mock_admin=<token>``, else 401 ``{"message"}``
   with ``WWW-Authenticate: Bearer``.  ``GET /__admin/...?token=<token>`` (a browser's
   first visit) sets that cookie (HttpOnly, SameSite=Strict, Path=/__admin) and
   redirects (303) to the same URL without ``token``.  Compared in constant time.
3. **Content type.** A write (POST, PUT, PATCH, DELETE) that carries a body must say
   ``Content-Type: application/json`` (415 ``{"message"}`` otherwise): a JSON body
   cannot be sent cross-site without a CORS preflight, which the fake never grants.
"""
from __future__ import annotations

import hmac
import ipaddress
from typing import Awaitable, Callable

import orjson
from aiohttp import hdrs, web

__all__ = ["ADMIN_PREFIX", "COOKIE", "TOKEN_HEADER", "admin_guard", "is_loopback_host", "add_unserved_route",
           "mount_admin"]

ADMIN_PREFIX = "/__admin"
TOKEN_HEADER = "X-Mock-Admin-Token"
COOKIE = "pixverse_mock_admin"
QUERY = "token"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Set on every handler ``admin_guard`` wrapped; ``mount_admin`` checks it.
_GUARDED = "__pixverse_mock_admin_guarded__"


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or address, ``[v6]`` and a trailing dot allowed, no
    port) is loopback: ``localhost``, ``*.localhost``, 127.0.0.0/8 or ``::1``.
    Nothing is resolved: any other name counts as not loopback."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse(status: int, message: str, **headers: str) -> web.Response:
    return web.Response(body=orjson.dumps({"message": message}), status=status,
                        content_type="application/json", headers=headers)


def _same(offered: str | None, token: bytes) -> bool:
    if not offered:
        return False
    return hmac.compare_digest(offered.encode("utf-8", "surrogateescape"), token)


def _offered(request: web.Request) -> str | None:
    auth = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get(TOKEN_HEADER) or request.cookies.get(COOKIE)


def admin_guard(admin_token: str | None) -> Callable[[Handler], Handler]:
    """``guarded(handler)``: ``handler`` behind the checks described above (their
    refusals answered before it runs); ``admin_token`` None leaves only the Origin,
    loopback-Host and content-type rules."""
    token = admin_token.encode("utf-8") if admin_token else None

    def guarded(handler: Handler) -> Handler:
        async def guard(request: web.Request) -> web.StreamResponse:
            return await _check(request, handler)
        setattr(guard, _GUARDED, True)
        guard.__name__ = getattr(handler, "__name__", guard.__name__)
        return guard

    async def _check(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get(hdrs.HOST)
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is not None and origin != f"{request.scheme}://{host}":
            return _refuse(403, f"cross-origin requests to the control plane are refused (Origin {origin!r})")
        if token is None:
            # Browsers always send Host (what DNS rebinding abuses); HTTP/1.0 tools may not.
            name = host.rsplit(":", 1)[0] if host and not host.endswith("]") else host
            if name is not None and not is_loopback_host(name):
                return _refuse(403, "the control plane answers only on a loopback host name "
                                    "unless an admin token is set")
        else:
            if not _same(_offered(request), token):
                from_query = request.query.get(QUERY)
                if request.method == "GET" and _same(from_query, token):
                    query = request.rel_url.query.copy()
                    del query[QUERY]
                    target = request.rel_url.with_query(query)
                    answer = web.Response(status=303, headers={hdrs.LOCATION: str(target)})
                    answer.set_cookie(COOKIE, from_query or "", httponly=True, samesite="Strict",
                                      path=ADMIN_PREFIX)
                    return answer
                return _refuse(401, "the control plane needs the admin token: Authorization: Bearer <token>, "
                                    f"{TOKEN_HEADER}: <token>, or open {ADMIN_PREFIX}/?token=<token> once",
                               **{"WWW-Authenticate": 'Bearer realm="pixverse-mock admin"'})
        if request.method in WRITES and request.body_exists and request.content_type != "application/json":
            return _refuse(415, "control-plane writes take Content-Type: application/json "
                                f"(got {request.content_type!r})")
        return await handler(request)

    return guarded


def add_unserved_route(admin: web.Application, guarded: Callable[[Handler], Handler]) -> None:
    """The admin sub-application's last route, ``/{tail:.*}`` behind the guard like the
    others: for a path no admin route serves, what aiohttp answers, 404, or 405 with
    ``Allow`` for a method the path does not allow.  Add it after every other route."""

    async def unserved(request: web.Request) -> web.StreamResponse:
        allowed: set[str] = set()
        for resource in request.app.router.resources():
            if resource is not catch_all:
                allowed |= (await resource.resolve(request))[1]
        if allowed:
            raise web.HTTPMethodNotAllowed(request.method, allowed)
        raise web.HTTPNotFound()

    catch_all = admin.router.add_resource("/{tail:.*}")
    catch_all.add_route("*", guarded(unserved))


def mount_admin(app: web.Application, admin: web.Application) -> None:
    """Mount ``admin`` (its routes registered, relative to ``/__admin``) on ``app``.
    Routes cannot be added to ``admin`` afterwards: aiohttp freezes its router.
    Raises RuntimeError for a route whose handler is not behind ``admin_guard``."""
    bare = [f"{route.method} {route.resource.canonical if route.resource else '?'}"
            for route in admin.router.routes() if not getattr(route.handler, _GUARDED, False)]
    if bare:
        raise RuntimeError(f"admin routes not behind admin_guard: {bare}")
    app.add_subapp(ADMIN_PREFIX, admin)
