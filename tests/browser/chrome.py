"""Headless Chromium for the browser tests, and a live aiohttp server Selenium can reach.

Any page's tests use these: `need_browser()` skips (or, under CI, fails) with one line when Debian's
chromium or chromium-driver is missing; `launch()` starts a browser; `LiveServer` serves an app on
127.0.0.1 from a thread so Selenium calls may block.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PACKAGES = "chromium chromium-driver fonts-noto-cjk"
WAIT = 15  # seconds: the longest any step may take
DESKTOP = (1280, 900)
PHONE = (390, 844)


def missing_browser() -> str:
    """Why the browser tests cannot run here, or "" when they can."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return ""
    return f"browser tests skipped: {', '.join(missing)} missing (apt-get install {PACKAGES})"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def need_browser() -> None:
    """Skip only on a developer machine without Chromium; under CI a missing browser is a failure."""
    reason = missing_browser()
    if reason and in_ci():
        pytest.fail(f"CI is set but {reason}")
    if reason:
        pytest.skip(reason)


def launch(profile: Path, size: tuple[int, int] = PHONE) -> WebDriver:
    """Headless Chromium with no background traffic (the machine has no network beyond loopback)."""
    need_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-quic",
        "--no-first-run",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--window-size={size[0]},{size[1]}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver


def wait(driver: WebDriver) -> WebDriverWait:
    return WebDriverWait(driver, WAIT)


def set_viewport(driver: WebDriver, size: tuple[int, int]) -> None:
    """The layout viewport exactly `size` CSS pixels (window chrome differs between machines)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size[0] < 600},
    )


class LiveServer:
    """An aiohttp app on 127.0.0.1, on its own loop in a thread so Selenium may block."""

    def __init__(
        self,
        app: web.Application,
        start: Callable[[web.AppRunner], Coroutine[Any, Any, Any]] | None = None,
        ports: int = 1,
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner = web.AppRunner(app)
        self._call(self.runner.setup())
        for _ in range(ports):
            site = start(self.runner) if start else web.TCPSite(self.runner, "127.0.0.1", 0).start()
            self._call(site)
        self.ports = [a[1] for a in self.runner.addresses]
        self.url = f"http://127.0.0.1:{self.ports[0]}"
        self.running = True

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT)

    def stop(self) -> None:
        if self.running:
            self.running = False
            self._call(self.runner.cleanup())

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.loop.close()

