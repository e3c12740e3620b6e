"""A real ``pixverse-mock serve`` process on a free loopback port, for tests of the
command line (shutdown, restarts)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys


def command() -> list[str]:
    """How to run the installed command (or the module, without the script)."""
    exe = shutil.which("pixverse-mock", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "mockserver"]


def serve(*args: str) -> tuple[subprocess.Popen, str]:
    """Start ``serve --port 0 *args``; returns the process and its base URL."""
    proc = subprocess.Popen([*command(), "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert "listening on http://127.0.0.1:" in first, first + proc.stderr.read()
    return proc, first.split("listening on ")[1].split()[0]
