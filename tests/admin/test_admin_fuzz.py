"""Schemathesis against the control plane: the fake keeps contracts/admin.yaml.

Runs every check plus the stateful phase on a strict fake served from a thread, so
the test can also read what strict mode recorded.  The fault operations join the run
once the fake serves ``/__admin/faults`` (they are owned by admin/faults.py).
"""
from __future__ import annotations

import os
import subprocess
import sys

import requests
import yaml

from mockserver.admin import ADMIN_CONTRACT, ADMIN_VIOLATIONS
from mockserver.app import create_app
from mockserver.testing.server import ThreadedFake
from support import make_settings

MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "25"))


def test_control_plane_keeps_its_contract(tmp_path):
    app = create_app(make_settings(time_scale=1000))
    # The contract as served: its provider enums are the registry's, filled in at start-up.
    served = tmp_path / "admin.yaml"
    served.write_text(yaml.safe_dump(app[ADMIN_CONTRACT].document, sort_keys=False, allow_unicode=True))
    fake = ThreadedFake(app=app)
    try:
        base = fake.base_url
        # A few jobs and journal entries, so list answers are not all empty.
        for i in range(3):
            requests.post(f"{base}/v1/ai/text-to-video/pixverse-v5", json={"prompt": f"p{i}"},
                          headers={"x-freepik-api-key": "fuzz-key", "X-Mock-Test-Id": f"t{i}"}, timeout=10)
        faults_served = requests.get(f"{base}/__admin/faults", timeout=10).status_code != 404
        cmd = [sys.executable, "-m", "schemathesis.cli", "run", str(served),
               "--url", base, "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", "1",
               "--workers", "1", "--no-color", "--request-timeout", "10",
               # An event stream never ends: tests/admin/test_admin.py reads it instead.
               "--exclude-operation-id", "dashboard_events",
               *([] if faults_served else ["--exclude-tag", "faults"])]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    finally:
        fake.close()
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert not app[ADMIN_VIOLATIONS], app[ADMIN_VIOLATIONS]
