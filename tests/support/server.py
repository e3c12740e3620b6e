"""A real ``pixverse-mock serve`` process on a free loopback port, for tests of the
command line (shutdown, restarts, the banner, the contract run).

The server's stdout and stderr go to a file, not a pipe: a pipe nobody reads fills up
and then blocks the server mid-write.  ``output(proc)`` reads what it wrote so far.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Wall seconds a server may take to print its first line.
START_TIMEOUT_S = 30.0


def command() -> list[str]:
    """How to run the installed command (or the module, without the script)."""
    exe = shutil.which("pixverse-mock", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "mockserver"]


def output(proc: subprocess.Popen) -> str:
    """Everything the server has written to stdout and stderr so far."""
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def wait_for(proc: subprocess.Popen, text: str, timeout: float = START_TIMEOUT_S) -> str:
    """The server's output once it contains ``text``; AssertionError with the output
    if the process exits or ``timeout`` wall seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        seen = output(proc)
        if text in seen:
            return seen
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} from the server (exit {proc.poll()}):\n{seen}")
        time.sleep(0.02)  # a process's start-up: nothing on the virtual clock to advance


def serve(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """Start ``serve --port 0 *args`` (with ``env``, else this process's environment);
    returns the process and its base URL."""
    log = tempfile.NamedTemporaryFile("wb", prefix="pixverse-mock-serve-", suffix=".log", delete=False)
    with log:
        proc = subprocess.Popen([*command(), "serve", "--port", "0", *args],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    proc.log_path = log.name  # type: ignore[attr-defined]
    seen = wait_for(proc, "listening on http://")
    line = next(line for line in seen.splitlines() if "listening on http://" in line)
    return proc, line.split("listening on ")[1].split()[0]
