"""CPU instructions per request of the fake, counted by valgrind's callgrind: a figure
that does not move with whatever else the machine runs (wall time and wrk's req/s do).

Starts the fake (``python -m mockserver serve --host 127.0.0.1 --port <free> --seed 1``,
its default settings) under ``valgrind --tool=callgrind`` on loopback, then, on one
keep-alive connection, one request at a time:

* start-up: process start to the first successful create (the probe loop), with the
  fake byte-compiled first (``compileall``, as an installed package is; ``--cold``: not);
* the virtual clock frozen (``POST /__admin/clock {"freeze": true}``): what a request
  does then does not depend on how much wall time passed, which under callgrind and a
  busy machine varies (``--no-freeze``: it runs at the default scale);
* warm-up: ``--warmup`` creates and as many polls (not counted);
* ``create``: ``--requests`` Freepik creates (``POST /v1/ai/image-to-video/pixverse-v5``,
  the body ``bench.py`` and ``wrk/create.lua`` send);
* ``poll``: ``--requests`` polls of one task held IN_PROGRESS through the admin API
  (what ``bench.py``'s poll scenario measures).

After each phase ``callgrind_control --dump`` writes the server's counts since the last
dump, so each phase's instructions are the server process's own (the client is another
process).  Prints instructions per create and per poll and the start-up's total, for the
work tree or, with ``--ref``, for a commit (``git archive``, as ``bench.py --ref`` does).
Run it for two trees to compare them: counts move by well under 1 % between runs of the
same code.  ``--keep DIR`` keeps the callgrind files for ``callgrind_annotate`` (C-level
functions only: CPython 3.11 shows Python code as ``_PyEval_EvalFrameDefault``).

Everything is bounded: loopback only, a fixed number of requests, every wait with a
timeout (callgrind runs the server ~50x slower: 2,000 requests take about a minute).

    python loadtests/bench_instructions.py [--requests 2000] [--warmup 200]
    python loadtests/bench_instructions.py --ref f2d9754      # the fake as committed there
    python loadtests/bench_instructions.py --json after.json --keep /tmp/cg

Exit status: 0 ok; 2 valgrind missing or bad arguments; 3 the server did not start;
4 a request got an unexpected answer.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import (
    API_KEY,
    CREATE_BODY,
    CREATE_PATH,
    EXIT_ERRORS,
    EXIT_START,
    EXIT_USAGE,
    HOST,
    REPO,
    BenchError,
    export_tree,
    free_port,
    git_facts,
)

STARTUP_TIMEOUT_S = 600.0   # python's imports under callgrind take a while
REQUEST_TIMEOUT_S = 60.0
DUMP_TIMEOUT_S = 120.0


class Client:
    """One keep-alive HTTP/1.1 connection to the server, reopened if it closes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def send(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"x-freepik-api-key": API_KEY}
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT_S)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def expect(status: int, body: bytes, what: str) -> bytes:
    if status != 200:
        raise BenchError(f"{what}: HTTP {status}: {body[:300]!r}", EXIT_ERRORS)
    return body


def dump(pid: int, label: str, out_dir: Path, prefix: str, before: set[Path]) -> Path:
    """Ask callgrind (this run's only: ``--vgdb-prefix``) to write its counts; wait for the file."""
    subprocess.run(["callgrind_control", f"--vgdb-prefix={prefix}", f"--dump={label}", str(pid)],
                   check=True, capture_output=True, timeout=DUMP_TIMEOUT_S)
    deadline = time.monotonic() + DUMP_TIMEOUT_S
    while time.monotonic() < deadline:
        new = set(out_dir.glob("callgrind.out.*")) - before
        for path in new:
            if path.stat().st_size and "totals:" in path.read_text(errors="replace")[-4096:]:
                return path
        time.sleep(0.05)
    raise BenchError(f"callgrind wrote no dump for {label}", EXIT_ERRORS)


def instructions(path: Path) -> int:
    text = path.read_text(errors="replace")
    match = re.search(r"^(?:totals|summary):\s*(\d+)", text, re.M)
    if match is None:
        raise BenchError(f"no totals in {path}", EXIT_ERRORS)
    return int(match.group(1))


def measure(root: Path, env: dict[str, str], requests: int, warmup: int, work: Path,
            cold: bool = False, freeze: bool = True) -> dict[str, float]:
    out_dir = work / "cg"
    out_dir.mkdir()
    if not cold:
        # Byte-code compiled first, as an installed package has it: otherwise, with
        # PYTHONDONTWRITEBYTECODE set (this machine sets it), every start compiles the
        # whole package from source and the start-up count measures the compiler.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "mockserver")], env=env,
                       check=True, stdout=subprocess.DEVNULL, timeout=300)
    prefix = str(work / "vgdb")
    port = free_port()
    # Uncompressed names: each dump file then reads alone (callgrind_annotate).
    argv = ["valgrind", "--tool=callgrind", f"--vgdb-prefix={prefix}", "--vgdb=yes", "--compress-strings=no",
            f"--callgrind-out-file={out_dir}/callgrind.out.%p",
            sys.executable, "-m", "mockserver", "serve", "--host", HOST, "--port", str(port), "--seed", "1"]
    log = open(work / "server.log", "wb")
    proc = subprocess.Popen(argv, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    log.close()
    client = Client(port)
    create = json.dumps(CREATE_BODY).encode()
    seen: set[Path] = set()
    counts: dict[str, int] = {}
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise BenchError(f"the fake exited ({proc.returncode}); see {work / 'server.log'}", EXIT_START)
            if time.monotonic() > deadline:
                raise BenchError(f"the fake did not answer within {STARTUP_TIMEOUT_S:g} s", EXIT_START)
            try:
                status, body = client.send("POST", CREATE_PATH, create)
                break
            except OSError:
                client.close()
                time.sleep(0.2)
        expect(status, body, "first create")

        def phase(label: str) -> None:
            path = dump(proc.pid, label, out_dir, prefix, seen)
            seen.add(path)
            counts[label] = instructions(path)

        phase("startup")
        if freeze:
            expect(*client.send("POST", "/__admin/clock", b'{"freeze": true}'), "freezing the clock")
        task_id = json.loads(expect(*client.send("POST", CREATE_PATH, create), "poll task"))["data"]["task_id"]
        poll_path = f"{CREATE_PATH}/{task_id}"
        expect(*client.send("POST", f"/__admin/jobs/freepik/{task_id}", b'{"status": "running"}'),
               "holding the poll task running")
        for _ in range(warmup):
            expect(*client.send("POST", CREATE_PATH, create), "warm-up create")
            expect(*client.send("GET", poll_path), "warm-up poll")
        phase("warmup")
        for _ in range(requests):
            expect(*client.send("POST", CREATE_PATH, create), "create")
        phase("create")
        for _ in range(requests):
            body = expect(*client.send("GET", poll_path), "poll")
        if json.loads(body)["data"]["status"] != "IN_PROGRESS":
            raise BenchError(f"the poll task left IN_PROGRESS: {body[:300]!r}", EXIT_ERRORS)
        phase("poll")
    finally:
        client.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    return {"startup": counts["startup"], "create": counts["create"] / requests,
            "poll": counts["poll"] / requests}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Instructions per create and per poll of the fake (callgrind).")
    parser.add_argument("--requests", type=int, default=2000, help="creates, then polls, counted [2000]")
    parser.add_argument("--warmup", type=int, default=200, help="creates and polls before counting [200]")
    parser.add_argument("--ref", default=None, help="measure the fake as committed at this git ref")
    parser.add_argument("--fake-root", type=Path, default=None, help="measure the fake from this source tree")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--keep", type=Path, default=None, help="copy the callgrind files to this directory")
    parser.add_argument("--no-freeze", dest="freeze", action="store_false",
                        help="let the virtual clock run (by default it is frozen after start-up, so jobs "
                             "do not move on with the wall time callgrind's slowness and the machine's load take)")
    parser.add_argument("--cold", action="store_true",
                        help="do not byte-compile the fake first: with PYTHONDONTWRITEBYTECODE set, the start-up "
                             "then includes compiling every module from source")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 100_000 or not 0 <= args.warmup <= 100_000:
        parser.error("--requests 1..100000, --warmup 0..100000")
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
            return EXIT_USAGE
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    with tempfile.TemporaryDirectory(prefix="pixverse-instr-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        for key in [k for k in env if k.startswith("PIXVERSE_MOCK_")]:
            del env[key]
        root, source = REPO, f"work tree at {REPO}, git {git_facts(REPO)}"
        try:
            if args.ref:
                root, source = export_tree(args.ref, work), f"git archive {args.ref}"
            elif args.fake_root:
                root, source = args.fake_root.resolve(), f"source tree {args.fake_root}"
            if root != REPO:
                env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
            print(f"fake: {source}; {args.requests} creates and {args.requests} polls after "
                  f"{args.warmup} of each, one keep-alive connection, under callgrind", flush=True)
            figures = measure(root, env, args.requests, args.warmup, work, args.cold, args.freeze)
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.code
        finally:
            if args.keep is not None and (work / "cg").is_dir():
                shutil.copytree(work / "cg", args.keep, dirs_exist_ok=True)
    print(f"  create    {figures['create']:12,.0f} instructions per request")
    print(f"  poll      {figures['poll']:12,.0f} instructions per request")
    print(f"  start-up  {figures['startup']:12,.0f} instructions (process start to the first create answered)")
    if args.json is not None:
        args.json.write_text(json.dumps({"source": source, "requests": args.requests, **figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
