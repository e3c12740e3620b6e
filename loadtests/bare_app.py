"""A bare aiohttp app with the wire shapes of the fake's Freepik PixVerse V5 endpoints.

The baseline for ``loadtests/bench.py``: what aiohttp alone costs on this machine for
the same requests, with no auth, no contract validation, no engine and no job store.

    POST /v1/ai/image-to-video/pixverse-v5            reads and JSON-parses the body,
        answers {"data": {"task_id": <uuid4>, "status": "CREATED", "generated": []}}
    GET  /v1/ai/image-to-video/pixverse-v5/{task_id}  answers the task as IN_PROGRESS

Served like ``pixverse-mock serve`` serves the fake: default asyncio event loop via
``asyncio.run``, ``AppRunner`` with the access log off, orjson for JSON, so the only
difference left is the fake's own work.

    python loadtests/bare_app.py --port 8001
"""
from __future__ import annotations

import argparse
import asyncio
import uuid

import orjson
from aiohttp import web

CREATE_PATH = "/v1/ai/image-to-video/pixverse-v5"
JSON = "application/json"


async def create(request: web.Request) -> web.Response:
    raw = await request.read()
    orjson.loads(raw)  # parse like the fake does; a bad body is a 500, on purpose not handled
    body = {"data": {"task_id": str(uuid.uuid4()), "status": "CREATED", "generated": []}}
    return web.Response(body=orjson.dumps(body), content_type=JSON)


async def get_task(request: web.Request) -> web.Response:
    task_id = request.match_info["task_id"]
    body = {"data": {"task_id": task_id, "status": "IN_PROGRESS", "generated": []}}
    return web.Response(body=orjson.dumps(body), content_type=JSON)


def create_bare_app() -> web.Application:
    app = web.Application()
    app.router.add_post(CREATE_PATH, create)
    app.router.add_get(CREATE_PATH + "/{task_id}", get_task)
    return app


async def _serve(host: str, port: int) -> None:
    runner = web.AppRunner(create_bare_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    real_port = site._server.sockets[0].getsockname()[1]  # the real one when --port 0
    print(f"bare aiohttp app listening on http://{host}:{real_port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind [127.0.0.1]")
    parser.add_argument("--port", type=int, default=8001, help="TCP port, 0 for any free one [8001]")
    args = parser.parse_args()
    try:
        asyncio.run(_serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
