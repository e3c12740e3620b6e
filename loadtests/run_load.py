"""``make load``: the locust scenarios, headless, bounded, with a report and thresholds.

Without ``--host`` it starts a fresh fake on 127.0.0.1 (any free port, the given time
scale and seed), runs the scenarios against it and stops it; with ``--host URL`` it
targets that server instead (your own service in front of the fake, or a fake you
started), reading the time scale from ``--admin-url`` (default: the host) unless
``--time-scale`` says it.

Writes to ``--report-dir`` (default ``reports/load``): ``load_stats.csv``,
``load_stats_history.csv``, ``load_failures.csv``, ``load_exceptions.csv``,
``report.html`` and ``thresholds.json``; the fake's own log is ``fake.log``.

Exit status: locust's, which ``loadtests/locustfile.py`` sets to 1 when a threshold
(error ratio, end-to-end p95) is missed; 3 when the fake did not start; 4 when locust
had to be killed (it overran its run time by more than a minute).

    python loadtests/run_load.py [--users 20] [--spawn-rate 5] [--run-time 45s] [--shape constant]
                                 [--processes N] [--host URL] [-- extra locust arguments]
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LOCUSTFILE = HERE / "locustfile.py"
# What the fake signs Freepik webhooks with unless configured otherwise.
DEFAULT_FREEPIK_SECRET = "pixverse-mock-freepik-secret"
EXIT_START, EXIT_KILLED = 3, 4


def parse_timespan(text: str) -> int:
    """Seconds in a locust time span: ``90``, ``45s``, ``2m``, ``1h30m``."""
    if text.isdigit():
        return int(text)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not parts or not any(parts.groups()):
        raise argparse.ArgumentTypeError(f"not a time span: {text!r} (e.g. 45s, 2m, 1h)")
    h, m, s = (int(g or 0) for g in parts.groups())
    return h * 3600 + m * 60 + s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_fake(args: argparse.Namespace, log_path: Path) -> tuple[subprocess.Popen, str]:
    """``pixverse-mock serve`` on 127.0.0.1:<free port>; (process, base URL) once it answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXVERSE_MOCK_")}
    argv = [sys.executable, "-m", "mockserver", "serve", "--host", "127.0.0.1", "--port", "0",
            "--time-scale", str(args.time_scale or 50)]
    if args.seed is not None:
        argv += ["--seed", str(args.seed)]
    if args.fake_workers > 1:  # several workers share their state through a Redis of our own
        argv += ["--redis", args._redis.url, "--workers", str(args.fake_workers)]
    log = open(log_path, "w")
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    deadline = time.monotonic() + 30
    first = proc.stdout.readline() if proc.stdout else ""
    log.write(first)
    match = re.search(r"listening on (http://[\d.]+:\d+)", first)
    if not match:
        proc.kill()
        raise SystemExit(f"the fake did not start (see {log_path}): {first.strip()!r}")
    base = match.group(1)
    # The rest of its stdout goes to the log file.
    import threading

    def drain() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            log.write(line)
        log.close()

    threading.Thread(target=drain, daemon=True).start()
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/__admin/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the fake at {base} did not answer /__admin/health (see {log_path})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="", help="target this server instead of starting a fake (URL)")
    parser.add_argument("--admin-url", default="", help="the fake's admin API when --host is not the fake")
    parser.add_argument("--users", "-u", type=int, default=20, help="peak users [20]")
    parser.add_argument("--spawn-rate", "-r", type=float, default=5.0, help="users started per second [5]")
    parser.add_argument("--run-time", "-t", type=parse_timespan, default=45, help="run length, e.g. 45s, 10m [45s]")
    parser.add_argument("--shape", default="constant", help="constant | ramp | step | spike | soak [constant]")
    parser.add_argument("--processes", type=int, default=0,
                        help="locust worker processes (distributed mode, one master); 0: one process [0]")
    parser.add_argument("--fake-workers", type=int, default=1,
                        help="worker processes of the fake this script starts; more than one share "
                             "their state through a redis-server it starts on loopback [1]")
    parser.add_argument("--time-scale", type=float, default=0.0,
                        help="the fake's time scale: the one started here [50], else read from its admin API")
    parser.add_argument("--seed", type=int, default=None, help="seed for the fake and the scenario data")
    parser.add_argument("--report-dir", type=Path, default=REPO / "reports" / "load", help="[reports/load]")
    parser.add_argument("--max-error-ratio", type=float, default=0.01, help="threshold [0.01]")
    parser.add_argument("--max-e2e-p95", type=float, default=0.0,
                        help="threshold in wall seconds; 0: from the time scale [0]")
    parser.add_argument("--verbose", action="store_true", help="print locust's running stats table too")
    parser.add_argument("locust_args", nargs="*", help="after --: passed to locust as they are")
    args = parser.parse_args(argv)
    if args.users < 1 or args.spawn_rate <= 0 or args.run_time < 1:
        parser.error("--users, --spawn-rate and --run-time must be positive")
    if args.host and not re.match(r"^https?://", args.host):
        parser.error(f"--host must be a URL (http://...), got {args.host!r}")

    report = args.report_dir
    report.mkdir(parents=True, exist_ok=True)
    fake = None
    args._redis = None
    try:
        if args.fake_workers > 1 and not args.host:
            from mockserver.testing.redis_server import start as start_redis

            args._redis = start_redis()
        if args.host:
            host = args.host.rstrip("/")
        else:
            fake, host = start_fake(args, report / "fake.log")
            print(f"fake started at {host} (time scale {args.time_scale or 50:g}, log {report / 'fake.log'})",
                  flush=True)
        cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host,
               "-u", str(args.users), "-r", f"{args.spawn_rate:g}", "-t", f"{args.run_time}s",
               "--shape", args.shape, "--csv", str(report / "load"), "--csv-full-history",
               "--html", str(report / "report.html"), "--thresholds-json", str(report / "thresholds.json"),
               "--max-error-ratio", f"{args.max_error_ratio:g}", "--stop-timeout", "5"]
        if args.max_e2e_p95:
            cmd += ["--max-e2e-p95", f"{args.max_e2e_p95:g}"]
        if args.time_scale and args.host:
            cmd += ["--time-scale", f"{args.time_scale:g}"]
        if args.admin_url:
            cmd += ["--admin-url", args.admin_url]
        if args.seed is not None:
            cmd += ["--data-seed", str(args.seed)]
        if fake is not None:  # ours: its signatures are checkable
            cmd += ["--webhook-secret", DEFAULT_FREEPIK_SECRET]
        if args.processes:
            # The master listens on loopback only, on a free port (not locust's fixed 5557,
            # which another run may hold).
            port = free_port()
            cmd += ["--processes", str(args.processes), "--master-bind-host", "127.0.0.1",
                    "--master-bind-port", str(port), "--master-host", "127.0.0.1", "--master-port", str(port)]
        if not args.verbose:
            cmd += ["--only-summary"]
        cmd += args.locust_args
        print("$ " + " ".join(cmd), flush=True)
        # Bounded: locust stops itself at -t; if it does not within a minute more, it is killed.
        proc = subprocess.Popen(cmd, cwd=REPO, start_new_session=True)
        try:
            code = proc.wait(timeout=args.run_time + 60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            print("locust overran its run time by a minute and was killed", file=sys.stderr)
            return EXIT_KILLED
        if fake is not None and fake.poll() is not None:
            print(f"the fake exited during the run (status {fake.returncode}); see {report / 'fake.log'}",
                  file=sys.stderr)
            return code or EXIT_START
        print(f"report: {report / 'report.html'}, CSV: {report}/load_*.csv, thresholds: "
              f"{report / 'thresholds.json'} (exit status {code})", flush=True)
        return code
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return EXIT_START
        raise
    finally:
        if fake is not None and fake.poll() is None:
            fake.send_signal(signal.SIGTERM)
            try:
                fake.wait(timeout=15)
            except subprocess.TimeoutExpired:
                fake.kill()
                fake.wait()
        if args._redis is not None:
            args._redis.stop()


if __name__ == "__main__":
    sys.exit(main())
