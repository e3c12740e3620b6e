"""The dashboard as a person uses it: Playwright drives headless Chromium.

Each test starts the fake as a real server on a free 127.0.0.1 port (``ThreadedFake``)
on a 1x clock, so jobs move only when the page's clock buttons move them, and talks to
its provider APIs over HTTP like any client.  Chromium is Debian's (``/usr/bin/chromium``,
or ``CHROMIUM``); Playwright never downloads a browser.  Skipped when there is none
(``apt-get install -y chromium``).  The run saves the README's screenshots
(reports/screenshots/; docs/ with `make screenshots`).
"""
from __future__ import annotations

import os
import shutil
import uuid

import pytest
import requests

from mockserver.testing.server import ThreadedFake
from support import PIXWITH_T2V, ROOT, make_settings

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

CHROMIUM = os.environ.get("CHROMIUM") or next(
    (path for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
     if (path := shutil.which(name))), None)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (apt-get install -y chromium, or set CHROMIUM)")

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-extensions", "--disable-dev-shm-usage"]
# The README's screenshots: written to reports/screenshots/ on every run (so a test run
# leaves the work tree clean), to docs/ with `make screenshots` (SCREENSHOTS_DIR=docs).
DOCS = ROOT / os.environ.get("SCREENSHOTS_DIR", "reports/screenshots")
EVIL = '<img src=x onerror="document.title=1">'
FREEPIK_T2V = "/v1/ai/text-to-video/pixverse-v5"
FP_KEY = {"x-freepik-api-key": "browser-test-key-1"}
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def fake():
    with ThreadedFake(make_settings(time_scale=1.0)) as server:
        yield server


@pytest.fixture
def page(browser, fake):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=fake.base_url)
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, errors  # the page's script never threw


def open_dashboard(page, query: str = ""):
    page.goto(f"/__admin/{query}")
    expect(page.locator("#live")).to_have_text("(live)")  # the event stream is connected


def freepik_create(fake, prompt: str = "a cat", headers: dict | None = None, **extra) -> requests.Response:
    return requests.post(fake.base_url + FREEPIK_T2V, json={"prompt": prompt, **extra},
                         headers={**FP_KEY, **(headers or {})}, timeout=10)


def job_row(page, task_id: str):
    return page.locator("#jobs tr", has=page.locator("td", has_text=task_id))


def test_page_loads_live_with_hostile_text_kept_as_text(page, fake):
    rule = requests.post(fake.base_url + "/__admin/faults", timeout=10, json={
        "provider": "pixwith", "operation": "get_task", "error": 500, "times": 1, "description": EVIL}).json()
    task = freepik_create(fake, headers={"X-Mock-Test-Id": EVIL}).json()["data"]["task_id"]
    open_dashboard(page)

    expect(page).to_have_title("pixverse-mock admin")
    row = job_row(page, task)
    expect(row.locator("td").nth(0)).to_have_text("freepik")
    expect(row.locator("td").nth(4)).to_have_text(EVIL)  # the hostile test id stayed text
    expect(row.locator("td").nth(5)).to_have_text("brow...ey-1")
    assert '"description": "<img src=x onerror=' in page.locator("#faults td.mono").nth(1).inner_text()
    assert page.locator("#faults td").first.inner_text() == rule["faults"][0]["id"]
    # The same text arriving live, through the event stream, stays text too.
    late = freepik_create(fake, headers={"X-Mock-Test-Id": EVIL}).json()["data"]["task_id"]
    expect(job_row(page, late).locator("td").nth(4)).to_have_text(EVIL)
    assert page.locator("img[src=x]").count() == 0 and page.title() == "pixverse-mock admin"
    # Every provider's operations are offered, from the adapters.
    options = page.locator("#fault-form select[name=operation] option").evaluate_all("os => os.map(o => o.value)")
    assert {"submit", "create_task", "get_task", "create_video_generation", "text_to_video",
            "create_pixverse_v5_text_to_video", "video"} <= set(options)


def test_jobs_created_through_a_provider_api_appear_without_a_reload(page, fake):
    open_dashboard(page)
    expect(page.locator("#jobs-empty")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    task = freepik_create(fake).json()["data"]["task_id"]
    pw = requests.post(fake.base_url + "/api/task/create", json=PIXWITH_T2V, timeout=10,
                       headers={"Api-Key": "browser-test-key-2"}).json()["data"]["task_id"]
    expect(job_row(page, task)).to_have_count(1)
    expect(job_row(page, pw)).to_have_count(1)
    expect(page.locator(f'#timeline .tl-row[data-job="freepik/{task}"]')).to_have_count(1)
    expect(page.locator("#requests tr.entry")).to_have_count(2)
    assert page.evaluate("window.notReloaded") is True


def test_the_clock_button_finishes_a_job_and_its_video_plays(page, fake):
    task = freepik_create(fake).json()["data"]["task_id"]
    open_dashboard(page)
    status = job_row(page, task).locator("td").nth(3)
    expect(status).to_have_text("queued")
    page.click("#advance-hour")
    expect(status).to_have_text("succeeded")
    assert requests.get(f"{fake.base_url}{FREEPIK_T2V}/{task}", headers=FP_KEY,
                        timeout=10).json()["data"]["status"] == "COMPLETED"
    video = page.locator(f'#results video[data-job="{task}"]')
    expect(video).to_have_count(1)
    # Chromium decodes the fake's H.264 MP4: enough data for the current frame at least.
    page.wait_for_function("v => v.readyState >= 2", arg=video.element_handle(), timeout=TIMEOUT_MS)
    size = video.evaluate("v => [v.videoWidth, v.videoHeight, Math.round(v.duration)]")
    assert size == [1280, 720, 5]
    # And it plays: frames decode one after another (muted, so autoplay rules allow it).
    video.evaluate("v => v.play()")
    page.wait_for_function("v => v.currentTime > 0.2 && !v.error", arg=video.element_handle(), timeout=TIMEOUT_MS)


def test_a_fault_added_through_the_form_hits_the_next_matching_request(page, fake):
    open_dashboard(page)
    form = page.locator("#fault-form")
    form.locator("select[name=provider]").select_option("freepik")
    form.locator("select[name=operation]").select_option("create_pixverse_v5_text_to_video")
    form.locator("select[name=error]").select_option("503")
    form.locator("input[name=times]").fill("1")
    form.locator("button[type=submit]").click()
    expect(form.locator(".form-status")).to_have_text("added f1")
    expect(page.locator("#faults td").first).to_have_text("f1")

    hit = freepik_create(fake)
    assert hit.status_code == 503 and hit.headers["X-Mock-Fault-Injected"] == "error"
    assert freepik_create(fake).status_code == 200  # times: 1
    first = page.locator("#requests tr.entry").last
    expect(first.locator("td").nth(5)).to_have_text("503")
    expect(first.locator("td").nth(10)).to_have_text("error")
    expect(page.locator("#faults td").nth(2)).to_have_text("1")  # fired once
    expect(page.locator("#timeline .tick.fault")).to_have_count(1)

    # And the form says what the fake refused, in the fake's words.
    form.locator("select[name=error]").select_option("")
    form.locator("button[type=submit]").click()
    expect(form.locator(".form-status")).to_contain_text("a fault rule needs an effect")


def test_the_inspector_shows_a_request_and_copies_it_as_curl(page, fake, browser):
    open_dashboard(page)
    prompt = "a red fox in fresh snow"
    task = freepik_create(fake, prompt, headers={"X-Mock-Test-Id": "inspect-me"}).json()["data"]["task_id"]
    requests.get(f"{fake.base_url}{FREEPIK_T2V}/{task}", headers=FP_KEY, timeout=10)
    create = page.locator("#requests tr.entry", has=page.locator("td", has_text="create_pixverse_v5"))
    create.click()
    inspector = page.locator("#inspector")
    expect(inspector).to_be_visible()
    expect(page.locator("#insp-request-line")).to_contain_text(f"POST {FREEPIK_T2V}")
    expect(page.locator("#insp-request-body")).to_contain_text(f'"prompt": "{prompt}"')
    expect(page.locator("#insp-request-headers")).to_contain_text("x-freepik-api-key: brow...ey-1")
    expect(page.locator("#insp-status-line")).to_contain_text("HTTP 200")
    expect(page.locator("#insp-response-body")).to_contain_text(task)
    curl = page.locator("#insp-curl").inner_text()
    assert curl.startswith(f"curl -sS -X POST {fake.base_url}{FREEPIK_T2V}") and "browser-test-key-1" not in curl
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=fake.base_url)
    page.click("#copy-curl")
    expect(page.locator("#insp-status")).to_have_text("copied")
    assert page.evaluate("navigator.clipboard.readText()") == curl
    DOCS.mkdir(parents=True, exist_ok=True)
    inspector.screenshot(path=str(DOCS / "dashboard-inspector.png"))


def test_timeline_screenshot_with_every_provider_polls_faults_and_webhooks(page, fake):
    """The README's timeline picture: jobs on four providers at different stages,
    polls, an injected fault, a webhook that keeps failing (retries) and one delivered."""
    base = fake.base_url
    requests.post(base + "/__admin/faults", json={"provider": "freepik", "operation": "submit", "error": 429,
                                                  "nth": 2}, timeout=10)
    hook_fails = f"{base}/__admin/health"  # GET only: every attempt gets a 405
    hook_ok = f"{base}/api/task/get_credits"  # pixwith answers a POST without a key with HTTP 200
    tasks = [freepik_create(fake, "a cat", webhook_url=hook_ok).json()["data"]["task_id"]]
    assert freepik_create(fake).status_code == 429  # the injected fault
    requests.post(base + "/__admin/clock", json={"advance": 20}, timeout=10)
    tasks.append(freepik_create(fake, "a dog", webhook_url=hook_fails).json()["data"]["task_id"])
    requests.post(base + "/api/task/create", json=PIXWITH_T2V, headers={"Api-Key": "browser-test-key-2"},
                  timeout=10)
    aiml = {"Authorization": "Bearer browser-test-key-3"}
    gen = requests.post(base + "/v2/video/generations", headers=aiml, timeout=10,
                        json={"model": "pixverse/v5/text-to-video", "prompt": "a boat"}).json()
    pv = {"API-KEY": "browser-test-key-4"}
    requests.post(base + "/openapi/v2/video/text/generate", timeout=10,
                  headers={**pv, "Ai-Trace-Id": str(uuid.uuid4())},
                  json={"aspect_ratio": "16:9", "duration": 5, "model": "v5", "prompt": "a kite", "quality": "540p"})
    for step in range(4):
        requests.post(base + "/__admin/clock", json={"advance": 15}, timeout=10)
        for task in tasks:
            requests.get(f"{base}{FREEPIK_T2V}/{task}", headers=FP_KEY, timeout=10)
        requests.get(base + "/v2/video/generations", params={"generation_id": gen["id"]}, headers=aiml, timeout=10)
    requests.post(base + "/__admin/webhooks/drain", timeout=30)
    open_dashboard(page)
    timeline = page.locator("#timeline")
    expect(timeline.locator(".lane")).to_have_count(4)
    expect(timeline.locator(".tick.fault")).to_have_count(1)
    expect(timeline.locator(".mark").first).to_be_visible()
    assert timeline.locator(".tick.poll").count() >= 8
    DOCS.mkdir(parents=True, exist_ok=True)
    page.locator("#timeline-section").screenshot(path=str(DOCS / "dashboard-timeline.png"))
