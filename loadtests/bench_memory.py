"""Resident memory of the fake holding N stored jobs (``bench.py --memory N`` runs this).

Run in a fresh interpreter so its RSS is the fake's alone:

    python loadtests/bench_memory.py 1000000 [--json out.json]

It builds the whole app (``create_app``, default settings but retention raised to
keep every job: ``retention_max_jobs=N``, ``retention_seconds=1e12``), freezes the
start-up objects the way ``pixverse-mock serve`` does, then creates N jobs through the
four providers' own create handlers in rotation (Freepik image-to-video, AI/ML API
text-to-video, pixwith text-to-video, PixVerse text-to-video), each from a distinct
JSON body parsed with orjson and a key decoded per request, as the HTTP path would
hand them over: what is stored per job is what real traffic stores.  HTTP itself is
skipped (it stores nothing per job and would take minutes for a million jobs); the
journal is bounded (10,000 entries) and not part of the measure.

Prints the RSS after start-up and with N jobs (VmRSS from /proc/self/status), bytes
per job, objects the garbage collector tracks per job, the time of one full
collection with every job stored (a pause every request in flight waits for), and
a job lookup's cost at that size.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent

TARGET_MB = 1536  # the "under 1.5 GB"
KEYS = 64  # distinct API keys (one per simulated customer)
WORDS = ("a red fox running through fresh snow at dawn cinematic lighting slow motion drone shot "
         "over a neon city in the rain close up of a smiling astronaut floating inside a space "
         "station golden hour waves crashing on black sand beach macro shot of dew on a leaf "
         "anime style cat chasing butterflies in a meadow vintage film grain portrait").split()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def bodies(rng: random.Random):
    """(provider, operationId, raw JSON body) forever, the four providers in turn."""
    def prompt() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18)))

    while True:
        yield "freepik", "create_pixverse_v5_video", orjson.dumps({
            "prompt": prompt(), "image_url": f"https://cdn.example.com/u/{rng.getrandbits(48):x}.jpg",
            "resolution": rng.choice(("540p", "720p", "1080p")), "duration": 5,
            "negative_prompt": "blurry, low quality", "seed": rng.randint(0, 2**31 - 1)})
        yield "aimlapi", "create_video_generation", orjson.dumps({
            "model": "pixverse/v5/text-to-video", "prompt": prompt(),
            "resolution": rng.choice(("540p", "720p")), "duration": rng.choice((5, 8)),
            "aspect_ratio": rng.choice(("16:9", "9:16", "1:1"))})
        yield "pixwith", "create_task", orjson.dumps({
            "prompt": prompt(), "model_id": "2-27",
            "options": {"prompt_optimization": True, "num_outputs": 1, "resolution": "720p",
                        "aspect_ratio": "16:9", "duration": 5}})
        yield "pixverse", "text_to_video", orjson.dumps({
            "prompt": prompt(), "model": "v5", "quality": rng.choice(("540p", "720p")), "duration": 5,
            "aspect_ratio": "16:9", "negative_prompt": "", "seed": rng.randint(0, 2**31 - 1)})


async def fill(n: int) -> dict:
    from mockserver.app import ADAPTERS, ENGINE, create_app
    from mockserver.providers.base import Call
    try:
        from mockserver.contract import integral
    except ImportError:  # trees before integral() moved to contract.py
        from mockserver.providers.base import _integral as integral
    from mockserver.settings import Settings

    settings = Settings(seed=1, retention_max_jobs=n, retention_seconds=1e12,
                        starting_credits=10**15)
    from aiohttp.test_utils import make_mocked_request
    app = create_app(settings)
    engine, adapters = app[ENGINE], app[ADAPTERS]
    gc.collect()
    gc.freeze()  # as `pixverse-mock serve` does after create_app
    rss0 = rss_mb()
    tracked0 = len(gc.get_objects())

    handlers = {}
    for provider, adapter in adapters.items():
        for op_id in adapter.handlers:
            handlers[(provider, op_id)] = (adapter.contract.operation(op_id), adapter.handler(op_id))
    keys = [f"bench-key-{i:02d}-{'x' * 24}".encode() for i in range(KEYS)]
    # Handlers read a few headers (PixVerse's trace id for its webhook); one request
    # stand-in per provider, with what its clients send.
    requests = {provider: make_mocked_request("POST", op.path, headers={
        "Content-Type": "application/json", "Ai-trace-id": "6d4e2c1a-9b8f-4e7d-8c6b-5a4f3e2d1c0b"})
        for (provider, _), (op, _) in handlers.items()}
    rng = random.Random(1)
    source = bodies(rng)
    fill_s = 0.0
    clock = time.perf_counter
    for i in range(n):
        provider, op_id, raw = next(source)
        op, handler = handlers[(provider, op_id)]
        t0 = clock()
        body = orjson.loads(raw)
        # What the endpoint hands a handler: a fresh key string and the parsed body.
        call = Call(requests[provider], op, keys[i % KEYS].decode(), integral(body), {}, {},
                    "http://127.0.0.1:8000", None)
        reply = await handler(call)
        fill_s += clock() - t0
        if reply.status != 200 or (provider == "pixwith" and reply.body.get("code") != 1) \
                or (provider == "pixverse" and reply.body.get("ErrCode") != 0):
            raise SystemExit(f"job {i} ({provider}) was refused: {reply.body}")
    if len(engine.jobs) != n:
        raise SystemExit(f"expected {n} stored jobs, the store holds {len(engine.jobs)}")
    rss1 = rss_mb()
    tracked1 = len(gc.get_objects())
    t0 = time.perf_counter()
    gc.collect()
    gc_ms = (time.perf_counter() - t0) * 1000
    # A poll's store lookup with every job held (ids of a few known jobs).
    sample = [job for _, job in zip(range(1000), engine.jobs.all())]
    t0 = time.perf_counter()
    for _ in range(100):
        for job in sample:
            await engine.get_job(job.provider, job.id)
    lookup_us = (time.perf_counter() - t0) / (100 * len(sample)) * 1e6
    return {
        "jobs": n, "rss_start_mb": rss0, "rss_mb": rss1, "target_mb": TARGET_MB,
        "bytes_per_job": (rss1 - rss0) * 1024 * 1024 / n,
        "gc_tracked_per_job": (tracked1 - tracked0) / n,
        "fill_s": fill_s, "fill_us_per_job": fill_s / n * 1e6,
        "full_gc_ms": gc_ms, "lookup_us": lookup_us,
    }


def report(r: dict) -> str:
    ok = "ok" if r["rss_mb"] < r["target_mb"] else "MISSED"
    return "\n".join([
        f"memory ({r['jobs']:,} stored jobs, the four providers' create handlers in turn, in-process)",
        f"  rss after start-up      {r['rss_start_mb']:8.1f} MB",
        f"  rss with {r['jobs']:,} jobs {r['rss_mb']:8.1f} MB   target < {r['target_mb']} MB: {ok}",
        f"  per job                 {r['bytes_per_job']:8.0f} bytes, {r['gc_tracked_per_job']:.2f} GC-tracked objects",
        f"  creating them           {r['fill_s']:8.1f} s "
        f"({r['fill_us_per_job']:.1f} us/job: body parse and create handler)",
        f"  one full gc.collect()   {r['full_gc_ms']:8.1f} ms with every job stored",
        f"  job lookup              {r['lookup_us']:8.2f} us",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jobs", type=int, nargs="?", default=1_000_000, help="jobs to store [1000000]")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--fake-root", type=Path, default=REPO, help="source tree to import mockserver from [repo]")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.fake_root.resolve()))
    if args.jobs < 1:
        parser.error("jobs must be at least 1")
    result = asyncio.run(fill(args.jobs))
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["rss_mb"] < result["target_mb"] else 1


if __name__ == "__main__":
    sys.exit(main())
