"""Make the console's screenshots in docs/: a reminder call on the emulator, a dead event, and
each page in headless Chromium.

    python docs/screenshots.py [--out docs]

Needs Debian's ``chromium`` (``apt-get install chromium``) and Playwright (``pip install -e
'.[browser]'``); run it from the repository's root. It starts the emulator and the real
``callbacks serve --console`` (the reminder, and a test plugin that fails for good on one event),
places GA reminder calls whose callee presses 1, posts an event whose handler fails, then saves
``console-calls.png``, ``console-call.png``, ``console-event.png`` and ``console-dead.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402 - after the path set-up, for `python docs/screenshots.py`

from tests.e2e.test_console import CALLEE, REMINDER, SCENARIO  # noqa: E402
from tests.support.browser import browser_page, missing  # noqa: E402
from tests.support.flow_harness import API_KEY, GA, running_service  # noqa: E402
from tests.support.log_bodies import ga_element  # noqa: E402


async def shoot(out: Path) -> None:
    """Run the stack and save the four screenshots to ``out``."""
    with tempfile.TemporaryDirectory(prefix="callbacks-shots-") as tmp:
        settings = {**REMINDER, "CALLBACKS_CONSOLE": "true",
                    "CALLBACKS_TEST_CONSOLE_FLAG": str(Path(tmp) / "never")}
        async with running_service(
            Path(tmp), SCENARIO, "reminder,tests.support.console_plugin:router", settings,
            api_version=GA,
        ) as service:
            for to in (CALLEE, "+14250000002"):
                started = await service.start_flow("reminder", {"to": to,
                                                                "appointment": "dentist"})
                await service.settled("reminder", started.json()["id"])
            flow_call = started.json()["calls"][0]["call_id"]
            dead = ga_element("console-dead-7f3a", 1, event_type="PlayFailed",
                              operation_context="menu:main")
            async with httpx2.AsyncClient() as http:
                await http.post(service.callback_url, content=json.dumps([dead]),
                                headers={"content-type": "application/json"})
            await asyncio.sleep(1.5)
            async with browser_page(Path(tmp) / "profile") as page:
                await page.goto(f"{service.url}/console/")
                await page.fill("input[name=api_key]", API_KEY)
                await page.click("form.login button")
                await page.wait_for_selector("table.calls")
                await page.screenshot(path=str(out / "console-calls.png"), full_page=True)
                await page.goto(f"{service.url}/console/calls/{flow_call}")
                await page.wait_for_selector("table.timeline")
                await page.screenshot(path=str(out / "console-call.png"), full_page=True)
                await page.goto(f"{service.url}/console/events/console-dead-7f3a%2F1")
                await page.wait_for_selector("#event-status")
                await page.screenshot(path=str(out / "console-event.png"), full_page=True)
                await page.goto(f"{service.url}/console/dead")
                await page.wait_for_selector("table.dead")
                await page.screenshot(path=str(out / "console-dead.png"), full_page=True)


def main() -> int:
    """``python docs/screenshots.py``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", default=str(ROOT / "docs"), help="folder for the PNG files "
                        "(default: docs/)")
    args = parser.parse_args()
    why = missing()
    if why is not None:
        print(f"screenshots: {why}", file=sys.stderr)
        return 2
    asyncio.run(shoot(Path(args.out)))
    print(f"screenshots written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
