"""The console in a real browser: log in, see the call the emulator just ran, open its timeline,
retry a dead event and watch it turn done (headless Chromium, the real ``callbacks serve``).

Screenshots go to the test's temporary folder only (docs/screenshots.py makes the documented
ones).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
import pytest_asyncio

from tests.support.browser import browser_page, needs_browser
from tests.support.flow_harness import API_KEY, GA, SOURCE, Service, running_service
from tests.support.log_bodies import ga_element

pytestmark = needs_browser

CALLEE = "+14250000001"
SCENARIO = {"default": {"answer": True, "recognize": [{"tones": "1"}]}}
REMINDER = {
    "CALLBACKS_REMINDER_SOURCE": SOURCE,
    "CALLBACKS_REMINDER_PROMPT_URL": "https://media.example/reminder.wav",
    "CALLBACKS_REMINDER_CONFIRMATION_URL": "https://media.example/confirmed.wav",
    "CALLBACKS_REMINDER_AGENT": "8:acs:resource_agent",
}
TIMEOUT = 15_000  # ms, for each wait in the browser


@pytest_asyncio.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    """The emulator, and serve with the reminder (on GA), the failing plugin and the console."""
    settings = {**REMINDER, "CALLBACKS_CONSOLE": "true",
                "CALLBACKS_TEST_CONSOLE_FLAG": str(tmp_path / "fixed")}
    async with running_service(
        tmp_path, SCENARIO, "reminder,tests.support.console_plugin:router", settings,
        api_version=GA,
    ) as running:
        yield running


async def test_log_in_see_the_call_open_its_timeline_retry_a_dead_event(
    service: Service, tmp_path: Path
) -> None:
    started = await service.start_flow("reminder", {"to": CALLEE, "appointment": "dentist"})
    assert started.status_code == 202, started.text
    flow_id, call_id = started.json()["id"], started.json()["calls"][0]["call_id"]
    await service.settled("reminder", flow_id)
    dead_event = ga_element("console-dead-1", 1, event_type="PlayFailed",
                            operation_context="<i>menu</i>")
    async with httpx2.AsyncClient() as http:
        posted = await http.post(service.callback_url, content=json.dumps([dead_event]),
                                 headers={"content-type": "application/json"})
        assert posted.status_code == 200

    shots = tmp_path / "screenshots"
    from playwright.async_api import expect

    async with browser_page(tmp_path / "profile") as page:
        page.set_default_timeout(TIMEOUT)
        await page.goto(f"{service.url}/console/")
        assert "/console/login" in page.url
        await page.fill("input[name=api_key]", API_KEY)
        await page.click("form.login button")
        row = page.locator("table.calls tr", has_text=call_id)
        await row.wait_for()
        assert "reminder: confirmed" in await row.inner_text()
        await page.screenshot(path=str(shots / "calls.png"), full_page=True)

        await row.locator("a").click()
        await page.wait_for_selector("table.timeline")
        timeline = await page.inner_text("table.timeline")
        assert "CallConnected" in timeline and "RecognizeCompleted" in timeline
        assert "start_recognizing_media" in timeline and ":recognize" in timeline
        assert "REST" in timeline and "handler" in timeline and "+0.000s" in timeline
        await page.screenshot(path=str(shots / "call.png"), full_page=True)

        await page.click("header nav >> text=Dead events")
        dead_row = page.locator("table.dead tr", has_text="console-dead-1")
        await dead_row.wait_for()
        assert "the speaker is unplugged <b>not bold</b>" in await dead_row.inner_text()
        await dead_row.locator("a").first.click()  # the event's page
        await page.wait_for_selector("#event-status")
        assert await page.inner_text("#event-status") == "dead"
        assert "<i>menu</i>" in await page.inner_text("dl.summary")
        (tmp_path / "fixed").touch()  # the cause is fixed: the retry will succeed
        await page.click("form.retry button")
        # No reload: the page's live update (server-sent events) shows the new status.
        await expect(page.locator("#event-status")).to_have_text("done", timeout=TIMEOUT)
        assert "ok" in await page.inner_text("table.outcomes")
        await page.screenshot(path=str(shots / "event.png"), full_page=True)
    assert len(list(shots.glob("*.png"))) == 3


@pytest.mark.parametrize("path", ["/console/", "/console/dead"])
async def test_pages_without_a_session_send_the_browser_to_log_in(
    service: Service, tmp_path: Path, path: str
) -> None:
    async with browser_page(tmp_path / "profile") as page:
        await page.goto(service.url + path)
        assert "/console/login" in page.url
        assert await page.locator("table").count() == 0
