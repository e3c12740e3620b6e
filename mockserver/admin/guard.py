"""The control plane's door: every ``/__admin`` request passes ``admin_guard`` first.

The admin routes live in their own aiohttp sub-application mounted at ``/__admin``
(``mount_admin``), and this guard is that sub-application's only middleware, so every
admin route, present and future (HTML, metrics, event streams, static files), is
behind it while provider routes pay nothing (an app-wide middleware costs every
provider request; ``recording.py``).  In order:

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
from typing import TYPE_CHECKING, Awaitable, Callable

import orjson
from aiohttp import hdrs, web

if TYPE_CHECKING:
    from aiohttp.typedefs import Middleware

__all__ = ["ADMIN_PREFIX", "COOKIE", "TOKEN_HEADER", "admin_guard", "is_loopback_host", "mount_admin"]

ADMIN_PREFIX = "/__admin"
TOKEN_HEADER = "X-Mock-Admin-Token"
COOKIE = "pixverse_mock_admin"
QUERY = "token"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


def admin_guard(admin_token: str | None) -> Middleware:
    """The middleware described above; ``admin_token`` None leaves only the Origin,
    loopback-Host and content-type rules."""
    token = admin_token.encode("utf-8") if admin_token else None

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
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

    return guard


def mount_admin(app: web.Application, admin: web.Application) -> None:
    """Mount ``admin`` (its routes registered, relative to ``/__admin``) on ``app``.
    Routes cannot be added to ``admin`` afterwards: aiohttp freezes its router."""
    app.add_subapp(ADMIN_PREFIX, admin)
