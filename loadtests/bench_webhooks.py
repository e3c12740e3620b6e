"""Webhook delivery lag of the fake on loopback, in wall-clock milliseconds.

Starts the fake as a subprocess (``python -m mockserver serve --port 0``) and a receiver
(aiohttp, in its own process) on 127.0.0.1, points PixVerse's account webhook at the
receiver, and runs two scenarios of ``--jobs`` text-to-video generations (one webhook
each, at the final status):

* ``burst``: the clock is frozen, every job is submitted, then one ``POST
  /__admin/clock {"advance": 3600}`` makes all deliveries due at once.  Lag = arrival at
  the receiver minus the wall time the advance was answered.
* ``spread``: the clock runs at ``--scale`` (default 200x) and jobs end over the wall
  seconds the submits take, as planned, while submits keep the fake's one core busy.
  Lag = arrival minus the wall time the job's virtual end passed (from the clock's scale).
* ``steady``: issue 8's "10,000 jobs in flight": submits paced at ``--rate`` per second
  with the clock at ``--steady-scale`` (default 4x, so a 360p job lasts 7.5-14.5 wall
  seconds and all ``--jobs`` are pending at once when the last submit is answered),
  then the deliveries fall due as planned.  Lag as in ``spread``; also prints how many
  jobs were in flight when the submits ended.

The receiver runs in its own process (``--receiver``), so the load generator does not
delay its clock readings.  Prints, per scenario, the arrival lag (p50, p99, max) and the
same lag as the fake's delivery log sees it (attempt start plus the receiver's answer
time).  A benchmark, not a test; numbers depend on the machine.

    python loadtests/bench_webhooks.py [--jobs 10000] [--scale 200] [--in-flight 64]
                                       [--rate 2000] [--steady-scale 4]

The fake's stdout and stderr go to files (``bench.Server``: a pipe nobody reads fills
up and blocks the server); on a failure the last lines of its stderr are printed and
the files kept.  ``BENCH_PROFILE=script.py`` runs ``python script.py SCALE`` instead of
``serve`` (under a profiler, say): it must listen on ``$PIXVERSE_MOCK_PORT``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from aiohttp import web

from bench import HOST, BenchError, Server, free_port

ROOT = Path(__file__).resolve().parents[1]
BODY = {"aspect_ratio": "16:9", "duration": 5, "model": "v5", "prompt": "bench", "quality": "360p"}
#: Wall seconds the fake may take to answer its first create.
START_TIMEOUT_S = 30.0


def start_fake(scale: float, in_flight: int, log_dir: Path) -> tuple[Server, str]:
    """The fake on 127.0.0.1:<free port>, its output in ``log_dir``; (server, base URL)
    once it answers a create.  BenchError (with its stderr's tail) if it does not."""
    port = free_port()
    env = {**os.environ, "PIXVERSE_MOCK_WEBHOOKS__MAX_IN_FLIGHT": str(in_flight), "PIXVERSE_MOCK_PORT": str(port),
           "PIXVERSE_MOCK_RETENTION_MAX_JOBS": "200000", "PIXVERSE_MOCK_STARTING_CREDITS": str(10**9)}
    cmd = ([sys.executable, os.environ["BENCH_PROFILE"], str(scale)] if os.environ.get("BENCH_PROFILE") else
           [sys.executable, "-m", "mockserver", "serve", "--host", HOST, "--port", str(port),
            "--seed", "1", "--time-scale", str(scale)])
    server = Server("fake", cmd, ROOT, env, port, log_dir)
    server.start(START_TIMEOUT_S)
    return server, f"http://{HOST}:{port}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def submit_all(session: aiohttp.ClientSession, base: str, n: int, key: str,
                     rate: float | None = None) -> list[int]:
    """Submit ``n`` jobs, 64 at a time, as fast as the fake answers or (``rate``)
    the i-th no earlier than i / rate seconds after the first."""
    sem = asyncio.Semaphore(64)
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def one(i: int) -> int:
        if rate:
            await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
        async with sem:
            headers = {"API-KEY": key, "Ai-Trace-Id": str(uuid.uuid4())}
            async with session.post(f"{base}/openapi/v2/video/text/generate", json=BODY, headers=headers) as r:
                data = await r.json()
                assert data["ErrCode"] == 0, data
                return data["Resp"]["video_id"]

    return await asyncio.gather(*(one(i) for i in range(n)))


def receiver_main(port_file: str) -> None:
    """The receiver, in its own process so the load generator does not delay it:
    records each delivery's arrival (wall time) and answers PixVerse's "ok"."""
    arrivals: dict[str, float] = {}

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        arrivals[body["id"]] = time.time()
        return web.Response(text="ok")

    async def dump(request: web.Request) -> web.Response:
        return web.json_response(arrivals)

    async def count(request: web.Request) -> web.Response:
        return web.Response(text=str(len(arrivals)))

    async def clear(request: web.Request) -> web.Response:
        arrivals.clear()
        return web.Response(text="ok")

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/hook", receive)
        app.router.add_get("/arrivals", dump)
        app.router.add_get("/count", count)
        app.router.add_delete("/arrivals", clear)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        Path(port_file).write_text(str(site._server.sockets[0].getsockname()[1]))
        await asyncio.Event().wait()

    asyncio.run(serve())


async def wait_for_arrivals(s: aiohttp.ClientSession, receiver: str, n: int) -> dict[str, float]:
    deadline = time.time() + 600
    while time.time() < deadline:
        if int(await (await s.get(f"{receiver}/count")).text()) >= n:
            return await (await s.get(f"{receiver}/arrivals")).json()
        await asyncio.sleep(0.2)
    raise SystemExit("deliveries did not all arrive")


def report(name: str, arrival_lags: list[float], answered_lags: list[float], last_s: float | None) -> None:
    extra = f"  last arrival after {last_s:.2f} s" if last_s is not None else ""
    print(f"{name:>6}: n={len(arrival_lags)}  arrival lag p50={statistics.median(arrival_lags):.1f} ms  "
          f"p99={pct(arrival_lags, 0.99):.1f} ms  max={max(arrival_lags):.1f} ms{extra}")
    print(f"{'':>6}  answered (fake's log) p50={statistics.median(answered_lags):.1f} ms  "
          f"p99={pct(answered_lags, 0.99):.1f} ms")


async def report_due_as_planned(name: str, s: aiohttp.ClientSession, base: str, receiver: str,
                                ids: list[int]) -> None:
    """Wait for every delivery, then report each one's lag behind the wall time its job's
    change fell due on a running clock (the clock's scale unchanged since)."""
    arrivals = await wait_for_arrivals(s, receiver, len(ids))
    clock = await (await s.get(f"{base}/__admin/clock")).json()
    t_ref = time.time()
    log = await (await s.get(f"{base}/__admin/webhooks/deliveries",
                             params={"limit": 10000, "provider": "pixverse"})).json()
    # due in wall time: now minus the virtual time since the change, over the scale
    due_wall = {e["job_id"]: t_ref - (clock["now"] - e["changed_at"]) / clock["scale"]
                for e in log["entries"]}
    report(name, [(arrivals[str(i)] - due_wall[str(i)]) * 1000 for i in ids],
           [(e["sent_at"] - e["changed_at"]) / clock["scale"] * 1000 + e["duration_ms"]
            for e in log["entries"]], None)


async def run(args: argparse.Namespace) -> None:
    port_file = Path(f"/tmp/bench_webhooks_receiver_{os.getpid()}")
    rproc = subprocess.Popen([sys.executable, __file__, "--receiver", str(port_file)])
    while not port_file.exists() or not port_file.read_text():
        await asyncio.sleep(0.05)
    receiver = f"http://127.0.0.1:{port_file.read_text()}"
    port_file.unlink()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    server: Server | None = None
    try:
        server, base = start_fake(args.scale, args.in_flight, log_dir)
        await scenarios(args, base, receiver)
    except BaseException:
        # A fake that did not start has its tail in the BenchError already.
        tail = f"{server.stderr_tail()}\n" if server is not None else ""
        print(f"{tail}(the fake's output: {log_dir})", file=sys.stderr)
        raise
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    finally:
        if server is not None:
            server.stop()
        rproc.terminate()
        rproc.wait(10)


async def scenarios(args: argparse.Namespace, base: str, receiver: str) -> None:
    """The three scenarios against the fake at ``base``, deliveries to ``receiver``."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as s:
        await s.put(f"{base}/__admin/webhooks/pixverse", json={"url": f"{receiver}/hook"})

        # burst: every delivery due at the same instant ---------------------------------
        await s.post(f"{base}/__admin/clock", json={"freeze": True})
        ids = await submit_all(s, base, args.jobs, "burst")
        await s.post(f"{base}/__admin/clock", json={"advance": 3600})
        t_advanced = time.time()
        arrivals = await wait_for_arrivals(s, receiver, len(ids))
        log = await (await s.get(f"{base}/__admin/webhooks/deliveries",
                                 params={"limit": 10000, "provider": "pixverse"})).json()
        report("burst", [(arrivals[str(i)] - t_advanced) * 1000 for i in ids],
               [(e["wall_time"] - t_advanced) * 1000 + e["duration_ms"] for e in log["entries"]],
               max(arrivals.values()) - t_advanced)

        # spread: jobs end over the running clock while others are being submitted -------
        await s.delete(f"{receiver}/arrivals")
        await s.delete(f"{base}/__admin/webhooks/deliveries")
        await s.post(f"{base}/__admin/clock", json={"freeze": False})
        ids = await submit_all(s, base, args.jobs, "spread")
        await report_due_as_planned("spread", s, base, receiver, ids)
        # steady: every job pending at once, then due as planned ------------------------
        await s.delete(f"{receiver}/arrivals")
        await s.delete(f"{base}/__admin/webhooks/deliveries")
        await s.post(f"{base}/__admin/clock", json={"scale": args.steady_scale})
        t_submit = time.time()
        ids = await submit_all(s, base, args.jobs, "steady", rate=args.rate)
        submit_s = time.time() - t_submit
        in_flight = len(ids) - int(await (await s.get(f"{receiver}/count")).text())
        print(f"steady: {len(ids)} submits in {submit_s:.1f} s ({len(ids) / submit_s:.0f}/s), "
              f"{in_flight} jobs in flight when they ended, clock at {args.steady_scale:g}x")
        await report_due_as_planned("steady", s, base, receiver, ids)
        summary = await (await s.get(f"{base}/__admin/webhooks")).json()
        print(json.dumps({k: summary[k] for k in ("counts", "pending")}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--scale", type=float, default=200.0)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--rate", type=float, default=2000.0, help="steady: submits per second [2000]")
    parser.add_argument("--steady-scale", type=float, default=4.0, help="steady: clock scale [4]")
    parser.add_argument("--receiver", help=argparse.SUPPRESS)  # internal: run the receiver
    args = parser.parse_args()
    if args.receiver:
        receiver_main(args.receiver)
    else:
        try:
            asyncio.run(run(args))
        except BenchError as exc:
            raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
