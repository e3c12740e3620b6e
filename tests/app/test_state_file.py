"""``--state-file`` (issue 17 item 4): the in-memory state written on shutdown and read
back at start, in process (every store) and through a real ``pixverse-mock serve``
stopped with SIGTERM; a corrupt or foreign file stops the start-up with exit code 2."""
from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess

import orjson
import pytest
import requests

from mockserver.app import ENGINE, create_app
from mockserver.engine import statefile
from mockserver.engine.statefile import StateFileError
from support import make_settings
from support import pixverse as pv
from support.server import command, output, serve
from support.webhooks import freepik_job

BALANCE_OP = "get_account_balance"


async def errcode(client) -> int:
    """The ErrCode of a balance read (PixVerse answers errors with HTTP 200)."""
    return (await (await client.get(pv.BALANCE, headers=pv.headers())).json())["ErrCode"]


async def test_every_store_comes_back(aiohttp_client, tmp_path):
    path = tmp_path / "state.json"
    settings = make_settings(state_file=path, progress_mode="polls")
    client = await aiohttp_client(create_app(settings))
    engine = client.server.app[ENGINE]
    image = pv.image_bytes(64, 36)
    img_id = await pv.upload_id(client, image)
    created = await pv.call(client, "POST", pv.T2V, json=pv.T2V_SEED)
    video_id = created["Resp"]["video_id"]
    await pv.call(client, "GET", pv.RESULT.format(video_id))  # one poll counted
    # A Freepik job with a webhook: a watch and its pending delivery are scheduled.
    task_id = await freepik_job(client, "http://127.0.0.1:9/hook")
    resp = await client.post("/__admin/faults", json={"provider": "pixverse", "operation": BALANCE_OP,
                                                       "error": 500, "times": 2})
    assert resp.status == 201
    assert await errcode(client) != 0  # 1 of 2 spent
    resp = await client.put("/__admin/webhooks/pixverse", params={"api_key": pv.KEY},
                            json={"url": "http://127.0.0.1:9/pv", "secret": "s3cret"})
    assert resp.status == 200
    engine.clock.freeze()
    engine.clock.advance(123)
    before = {
        "balance": await pv.balance(engine), "polls": (await engine.get_job("pixverse", str(video_id))).polls,
        "faults": engine.faults.list(), "journal": [e.to_dict() for e in engine.journal],
        "hook": engine.webhooks.account("pixverse", pv.KEY), "now": engine.now(),
        "watching": engine.webhooks.watching, "pending": engine.webhooks.pending,
        "upload": engine.uploads.get("pixverse", str(img_id)),
    }
    assert before["watching"] == 1
    await client.close()  # shutdown saves
    next_id = engine.new_int_id()  # what the first run would have handed out next

    client = await aiohttp_client(create_app(make_settings(state_file=path, progress_mode="polls")))
    again = client.server.app[ENGINE]
    assert again.now() == before["now"] and again.clock.frozen
    job = await again.get_job("pixverse", str(video_id))
    assert job is not None and job.polls == before["polls"]
    assert job.request == (await engine.get_job("pixverse", str(video_id))).request
    assert await again.get_job("freepik", task_id) is not None
    assert await pv.balance(again) == before["balance"]
    assert again.faults.list() == before["faults"]
    assert [e.to_dict() for e in again.journal] == before["journal"]
    assert again.webhooks.account("pixverse", pv.KEY) == before["hook"]
    assert (again.webhooks.watching, again.webhooks.pending) == (before["watching"], before["pending"])
    assert again.uploads.get("pixverse", str(img_id)) == before["upload"]
    # The fault has one firing left; the seeded sequence continues instead of repeating.
    assert await errcode(client) != 0
    assert await errcode(client) == 0
    assert again.new_int_id() == next_id != video_id


@pytest.mark.parametrize("content, message", [
    (b"{not json", "not valid JSON"),
    (b'{"format": "something-else"}', "not a pixverse-mock state file"),
    (orjson.dumps({"format": statefile.FORMAT, "version": 99}), "format version 99"),
    (orjson.dumps({"format": statefile.FORMAT, "version": statefile.VERSION, "clock": {}}),
     "does not fit"),
])
def test_a_file_that_cannot_be_read_back_stops_the_start(tmp_path, content, message):
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(StateFileError, match=message):
        create_app(make_settings(state_file=path))
    assert path.read_bytes() == content  # left as it was


def test_no_file_yet_is_a_first_run(tmp_path):
    app = create_app(make_settings(state_file=tmp_path / "new" / "state.json"))
    assert len(app[ENGINE].jobs) == 0


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    assert proc.returncode == 0, output(proc)


def test_a_real_server_restarts_where_it_stopped(tmp_path):
    path = tmp_path / "state.json"
    args = ("--seed", "7", "--progress-mode", "polls", "--state-file", str(path))
    proc, base = serve(*args)
    try:
        created = requests.post(f"{base}{pv.T2V}", headers=pv.headers(), json=pv.T2V_SEED, timeout=5).json()
        video_id = created["Resp"]["video_id"]
        balance = requests.get(f"{base}{pv.BALANCE}", headers=pv.headers(), timeout=5).json()["Resp"]
        requests.post(f"{base}/__admin/faults", timeout=5, json={
            "provider": "pixverse", "operation": BALANCE_OP, "error": 500, "times": 2}).raise_for_status()
        assert requests.get(f"{base}{pv.BALANCE}", headers=pv.headers(), timeout=5).json()["ErrCode"] != 0
        rules = requests.get(f"{base}/__admin/faults", timeout=5).json()["faults"]
        assert rules[0]["remaining"] == 1
        _stop(proc)
        saved = json.loads(path.read_text())
        assert saved["format"] == statefile.FORMAT and saved["version"] == statefile.VERSION

        proc, base = serve(*args)
        assert requests.get(f"{base}/__admin/faults", timeout=5).json()["faults"] == rules
        assert requests.get(f"{base}{pv.BALANCE}", headers=pv.headers(), timeout=5).json()["ErrCode"] != 0
        assert requests.get(f"{base}{pv.BALANCE}", headers=pv.headers(), timeout=5).json()["Resp"] == balance
        status = None
        for _ in range(10):  # poll-count mode: a few polls finish it
            body = requests.get(f"{base}{pv.RESULT.format(video_id)}", headers=pv.headers(), timeout=5).json()
            assert body["ErrCode"] == 0, body
            status = body["Resp"]["status"]
            if status == 1:
                break
        assert status == 1
        again = requests.post(f"{base}{pv.T2V}", headers=pv.headers(), json=pv.T2V_SEED, timeout=5).json()
        assert again["Resp"]["video_id"] != video_id
        _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_corrupt_file_exits_2_with_a_message(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("garbage")
    done = subprocess.run([*command(), "serve", "--port", "0", "--state-file", str(path)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "not valid JSON" in done.stderr and str(path) in done.stderr


async def test_upload_bytes_sit_beside_the_file_and_go_with_their_upload(aiohttp_client, tmp_path):
    path = tmp_path / "state.json"
    client = await aiohttp_client(create_app(make_settings(state_file=path)))
    engine = client.server.app[ENGINE]
    image = pv.image_bytes(64, 36)
    await pv.upload_id(client, image)
    statefile.save(engine, path)
    blobs = statefile.blob_dir(path)
    assert [p.name for p in blobs.iterdir()] == [hashlib.sha256(image).hexdigest()]
    await engine.reset()  # the upload is gone: so are its bytes at the next save
    statefile.save(engine, path)
    assert list(blobs.iterdir()) == []


async def test_the_state_is_saved_every_interval(aiohttp_client, tmp_path):
    path = tmp_path / "state.json"
    client = await aiohttp_client(create_app(make_settings(state_file=path, state_save_interval_s=0.05)))
    created = await pv.call(client, "POST", pv.T2V, json=pv.T2V_SEED)
    job_id = str(created["Resp"]["video_id"])
    deadline = asyncio.get_running_loop().time() + 10
    while not (path.exists() and [j["id"] for j in orjson.loads(path.read_bytes())["jobs"]] == [job_id]):
        assert asyncio.get_running_loop().time() < deadline, "no save within 10 s"
        await asyncio.sleep(0.05)  # the interval is wall time by design: no virtual clock to advance
