"""The admin page as a person sees it: rendered by headless Chromium.

Starts the fake on 127.0.0.1 (aiohttp's test server, same event loop), makes a few
provider requests, then lets Chromium load ``/__admin/`` and checks the rendered DOM
shows them, with hostile text escaped.  Skipped when no Chromium is installed
(Debian: ``apt-get install -y chromium``; or point ``CHROMIUM`` at a binary).
"""
from __future__ import annotations

import asyncio
import io
import os
import shutil
from html.parser import HTMLParser

import pytest
from PIL import Image

from test_admin import PIXWITH_T2V

CHROMIUM = os.environ.get("CHROMIUM") or next(
    (path for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
     if (path := shutil.which(name))), None)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (apt-get install -y chromium, or set CHROMIUM)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
         "--hide-scrollbars", "--window-size=1400,1000"]
EVIL = '<img src=x onerror="document.title=1">'


async def chromium(tmp_path, *args: str) -> str:
    """Run headless Chromium with a fresh profile; returns its stdout."""
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


class Tables(HTMLParser):
    """Text of each table row by table id, and every element name seen."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[list[str]]] = {}
        self.tags: list[str] = []
        self.title = ""
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "table":
            self._table = dict(attrs).get("id")
            self.rows[self._table] = []
        elif tag == "tr" and self._table:
            self.rows[self._table].append([])
        elif tag == "td" and self._table:
            self._cell = []
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "td" and self._cell is not None:
            self.rows[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title:
            self.title += data


async def test_admin_page_in_headless_chromium(client, engine, tmp_path):
    host = client.server.host
    assert host == "127.0.0.1"
    base = f"http://{host}:{client.server.port}"

    rule = engine.faults.add({"provider": "pixwith", "operation": "get_task", "error": 500, "times": 1,
                       "description": EVIL})
    fp = {"x-freepik-api-key": "browser-test-key-1", "X-Mock-Test-Id": EVIL}
    task = (await (await client.post("/v1/ai/text-to-video/pixverse-v5", json={"prompt": "a cat"},
                                     headers=fp)).json())["data"]["task_id"]
    await client.get(f"/v1/ai/text-to-video/pixverse-v5/{task}", headers=fp)
    pw = {"Api-Key": "browser-test-key-2"}
    created = await (await client.post("/api/task/create", headers=pw, json=PIXWITH_T2V)).json()
    pw_task = created["data"]["task_id"]
    await client.post("/api/task/get", headers=pw, json={"task_id": pw_task})  # the injected 500
    await client.get("/v1/ai/no-such-route")
    await client.post("/__admin/clock", json={"advance": 3600})  # every job has finished

    dom = await chromium(tmp_path, "--dump-dom", f"{base}/__admin/")
    page = Tables()
    page.feed(dom)

    assert page.title == "pixverse-mock admin"
    assert "script" not in page.tags and "img" not in page.tags  # the hostile test id stayed text
    jobs = {row[1]: row for row in page.rows["jobs"] if row}
    assert set(jobs) == {task, pw_task}
    assert jobs[task][0] == "freepik" and jobs[task][3] == "succeeded" and jobs[task][4] == EVIL
    assert jobs[task][5] == "brow...ey-1"
    requests = [row for row in page.rows["requests"] if row]
    assert [(r[1], r[2], r[5]) for r in requests] == [
        ("freepik", "(no route)", "404"),  # under Freepik's prefix: journaled as Freepik's
        ("pixwith", "get_task", "500"),
        ("pixwith", "create_task", "200"),
        ("freepik", "get_pixverse_v5_text_to_video", "200"),
        ("freepik", "create_pixverse_v5_text_to_video", "200"),
    ]
    assert requests[1][8] == pw_task and requests[1][10] == "error"
    assert requests[4][7] == EVIL
    faults = [row for row in page.rows["faults"] if row]
    assert len(faults) == 1 and faults[0][:4] == [rule.id, "admin", "1", "0"]
    assert '"description": "<img src=x onerror=' in faults[0][4]

    # And it paints: a screenshot with dark text on the light page.
    shot = tmp_path / "admin.png"
    await chromium(tmp_path, f"--screenshot={shot}", f"{base}/__admin/")
    with Image.open(io.BytesIO(shot.read_bytes())) as image:
        assert image.size == (1400, 1000)
        darkest, lightest = image.convert("L").getextrema()
        assert darkest < 80 and lightest > 200
