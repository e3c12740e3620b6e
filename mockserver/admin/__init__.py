"""The control plane under ``/__admin/``: health, clock and job inspection.

Talks to the engine, never to providers (it only reads adapters' violation lists).
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ..engine import Engine


def add_admin_routes(app: web.Application, engine: Engine, adapters: dict[str, Any]) -> None:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "jobs": len(engine.jobs)})

    async def clock_get(request: web.Request) -> web.Response:
        return web.json_response(_clock(engine))

    async def clock_post(request: web.Request) -> web.Response:
        """Body: ``{"advance": seconds}``, ``{"freeze": bool}``, ``{"scale": x}``.
        400 ``{"message": ...}`` for anything else or a negative advance."""
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("body must be an object")
            if "scale" in body:
                engine.clock.set_scale(float(body["scale"]))
            if "freeze" in body:
                engine.clock.freeze() if body["freeze"] else engine.clock.unfreeze()
            if "advance" in body:
                engine.clock.advance(float(body["advance"]))
        except (ValueError, TypeError) as exc:
            return web.json_response({"message": str(exc)}, status=400)
        return web.json_response(_clock(engine))

    async def reset(request: web.Request) -> web.Response:
        engine.reset()
        return web.json_response({"status": "reset"})

    async def job_get(request: web.Request) -> web.Response:
        job = engine.get_job(request.match_info["provider"], request.match_info["job_id"])
        if job is None:
            return web.json_response({"message": "job not found"}, status=404)
        return web.json_response({
            "id": job.id, "provider": job.provider, "kind": job.kind,
            "status": engine.status(job), "created_at": job.created_at,
            "finishes_at": job.finishes_at, "polls": job.polls,
            "width": job.width, "height": job.height, "duration": job.duration,
            "outputs": job.outputs, "outcome": job.plan.outcome,
        })

    app.router.add_get("/__admin/health", health)
    app.router.add_get("/__admin/clock", clock_get)
    app.router.add_post("/__admin/clock", clock_post)
    app.router.add_post("/__admin/reset", reset)
    app.router.add_get("/__admin/jobs/{provider}/{job_id}", job_get)


def _clock(engine: Engine) -> dict[str, Any]:
    return {"now": engine.clock.now(), "scale": engine.clock.scale, "frozen": engine.clock.frozen}
