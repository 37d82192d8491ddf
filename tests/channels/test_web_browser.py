"""The chat page in real headless Chromium against the real server: what a visitor sees and clicks."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from bot.app import create_app
from bot.config import ROOT
from bot.core.engine import Engine
from bot.service import load_engine
from tests.channels.test_web import make_services

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 15  # seconds: the longest any step may take
XSS = "<img src=x onerror=alert(1)> 电话"


def _need_browser() -> None:
    """Skip only on a developer machine without Chromium; under CI a missing browser is a failure."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(
            f"CI is set but {', '.join(missing)} is missing: install chromium and chromium-driver"
        )
    pytest.skip(f"no headless browser here ({', '.join(missing)} missing); set CI=1 to require it")


class SlowEngine:
    """The real engine, but each answer waits until the test releases it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.release = threading.Event()

    def __getattr__(self, name: str):
        return getattr(self.engine, name)

    def respond(self, incoming, now, context=None):
        self.release.wait(WAIT)
        return self.engine.respond(incoming, now, context)


class LiveServer:
    """The real aiohttp server on 127.0.0.1, on its own loop in a thread so Selenium may block."""

    def __init__(self, app: web.Application) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner = web.AppRunner(app)
        self._call(self.runner.setup())
        self._call(web.TCPSite(self.runner, "127.0.0.1", 0).start())
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self.running = True

    def _call(self, coro):
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


@pytest.fixture(scope="module")
def engine() -> Engine:
    return load_engine(ROOT / "knowledge", ROOT / "intents.yaml")


@pytest.fixture
def server(tmp_path, engine) -> Iterator[LiveServer]:
    services = make_services(tmp_path / "bot.sqlite3", engine)
    live = LiveServer(create_app(services))
    yield live
    live.close()
    services.store.close()


@pytest.fixture
def slow_server(tmp_path, engine) -> Iterator[tuple[LiveServer, SlowEngine]]:
    slow = SlowEngine(engine)
    services = make_services(tmp_path / "bot.sqlite3", slow)
    live = LiveServer(create_app(services))
    yield live, slow
    slow.release.set()
    live.close()
    services.store.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[WebDriver]:
    _need_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        "--window-size=390,844",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


def wait(driver: WebDriver):
    return WebDriverWait(driver, WAIT)


def bot_answers(driver: WebDriver) -> list[str]:
    """Text of the bot's answer bubbles (not the welcome, not the typing indicator)."""
    rows = driver.find_elements(By.CSS_SELECTOR, "#messages .row.bot:not(.welcome):not(.typing)")
    return [r.find_element(By.CSS_SELECTOR, ".bubble").text for r in rows]


def user_questions(driver: WebDriver) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#messages .row.user .text")]


def open_page(driver: WebDriver, server: LiveServer) -> None:
    driver.get(server.url + "/")
    wait(driver).until(lambda d: d.find_element(By.ID, "input").is_displayed())


def ask(driver: WebDriver, text: str, *, enter: bool = False) -> str:
    """Type a question, send it and return the bot bubble that answers it."""
    before = len(bot_answers(driver))
    box = driver.find_element(By.ID, "input")
    box.send_keys(text)
    if enter:
        box.send_keys(Keys.ENTER)
    else:
        driver.find_element(By.ID, "send").click()
    wait(driver).until(lambda d: len(bot_answers(d)) > before)
    return bot_answers(driver)[-1]


def test_question_gets_an_answer_bubble(browser, server):
    open_page(browser, server)
    answer = ask(browser, "总结材料什么时候交")
    assert "9月30日" in answer
    assert user_questions(browser)[-1] == "总结材料什么时候交"
    last = browser.find_elements(By.CSS_SELECTOR, "#messages .row.bot .bubble")[-1]
    assert last.find_element(By.CSS_SELECTOR, ".source").text.startswith(
        "来源：粤建质函〔2021〕622号"
    )
    assert last.text.count("粤建质函〔2021〕622号") == 1  # the source is shown once, in grey
    assert browser.find_element(By.ID, "input").get_attribute("value") == ""
    assert browser.find_element(By.ID, "send").is_enabled()
    # Enter sends too
    assert "83133733" in ask(browser, "联系电话", enter=True)


def test_send_is_disabled_while_waiting(browser, slow_server):
    server, slow = slow_server
    open_page(browser, server)
    browser.find_element(By.ID, "input").send_keys("总结材料什么时候交")
    browser.find_element(By.ID, "send").click()
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#messages .row.typing"))
    assert not browser.find_element(By.ID, "send").is_enabled()
    assert not browser.find_element(By.CSS_SELECTOR, ".welcome .example").is_enabled()
    slow.release.set()
    wait(browser).until(lambda d: bot_answers(d))
    assert "9月30日" in bot_answers(browser)[-1]
    assert browser.find_elements(By.CSS_SELECTOR, "#messages .row.typing") == []
    assert browser.find_element(By.ID, "send").is_enabled()


def test_markup_in_a_question_is_shown_as_text(browser, server):
    open_page(browser, server)
    ask(browser, XSS)
    assert user_questions(browser)[-1] == XSS
    assert browser.find_elements(By.CSS_SELECTOR, "#messages img") == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018


def test_suggestion_chip_asks_it(browser, server):
    open_page(browser, server)
    ask(browser, "总结材料什么时候交")
    chips = wait(browser).until(
        lambda d: [c for c in d.find_elements(By.CSS_SELECTOR, "#chips .chip") if c.is_displayed()]
    )
    question = chips[0].text
    before = len(bot_answers(browser))
    chips[0].click()
    wait(browser).until(lambda d: len(bot_answers(d)) > before)
    assert user_questions(browser)[-1] == question
    assert bot_answers(browser)[-1].strip()


def test_welcome_example_asks_it(browser, server):
    open_page(browser, server)
    example = browser.find_elements(By.CSS_SELECTOR, ".welcome .example")[0]
    question = example.text
    example.click()
    wait(browser).until(lambda d: len(bot_answers(d)) == 1)
    assert user_questions(browser) == [question]


def test_deadline_card_counts_down(browser, server):
    open_page(browser, server)
    card = wait(browser).until(
        lambda d: (
            d.find_element(By.ID, "deadlines")
            if d.find_element(By.ID, "deadlines").is_displayed()
            else None
        )
    )
    text = card.text
    assert "2021年9月30日" in text
    assert "还有 10 天" in text  # the fixed clock is 2021-09-20


def test_server_gone_shows_an_error_bubble(browser, server):
    open_page(browser, server)
    server.stop()
    box = browser.find_element(By.ID, "input")
    box.send_keys("总结材料什么时候交")
    browser.find_element(By.ID, "send").click()
    error = wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#messages .row.error"))
    assert "网络错误" in error[-1].text
    assert browser.find_element(By.ID, "send").is_enabled()
