"""A real browser for the console's tests: Debian's headless Chromium driven by Playwright.

Playwright's own browser download (``playwright install``) is never used: the tests launch the
system's ``chromium`` (``CALLBACKS_TEST_CHROMIUM`` names another binary), with a fresh profile in
the test's temporary folder. Without Playwright or a Chromium binary, the tests skip and say
which is missing and how to install it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CALLBACKS_TEST_CHROMIUM") or shutil.which("chromium") or (
    "/usr/bin/chromium"
)
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def missing() -> str | None:
    """Why no browser test can run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "browser tests need Playwright: pip install -e '.[browser]'"
    if not os.access(CHROMIUM, os.X_OK):
        return (f"browser tests need Chromium at {CHROMIUM}: apt-get install chromium "
                "(or set CALLBACKS_TEST_CHROMIUM)")
    return None


needs_browser = pytest.mark.skipif(missing() is not None, reason=missing() or "")


@contextlib.asynccontextmanager
async def browser_page(profile: Path, **options: Any) -> AsyncIterator[Any]:
    """A page of a fresh headless Chromium (Playwright's async ``Page``)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=ARGS, headless=True,
            viewport={"width": 1280, "height": 800}, **options,
        )
        try:
            yield context.pages[0] if context.pages else await context.new_page()
        finally:
            await context.close()
