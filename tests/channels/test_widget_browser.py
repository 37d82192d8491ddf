"""The widget on another site, in real headless Chromium: a department page on a second local origin
(another site as far as the browser is concerned: localhost, not 127.0.0.1) embeds /widget.js."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from bot.app import create_app
from bot.config import ROOT
from bot.core.engine import Engine
from bot.service import Service, load_engine
from tests.browser.axe import assert_accessible
from tests.browser.chrome import DESKTOP, PHONE, LiveServer, launch, set_viewport, wait
from tests.channels.test_web import make_services

HOST_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>某市住房和城乡建设局</title></head>
<body><header><h1>某市住房和城乡建设局</h1></header>
<main><p>通知公告 · 办事指南 · 政策解读</p><a href="#top">返回顶部</a></main>
<script src="{bot}/widget.js" async></script>
</body></html>"""


@dataclass
class Sites:
    bot: LiveServer
    services: Service
    allowed: str  # a page on a site listed in BOT_WIDGET_ORIGINS
    other: str  # a page on a site that is not


@pytest.fixture(scope="module")
def engine() -> Engine:
    return load_engine(ROOT / "knowledge", ROOT / "intents.yaml")


@pytest.fixture
def sites(tmp_path, engine) -> Iterator[Sites]:
    page = {"html": ""}

    async def host_page(request: web.Request) -> web.Response:
        return web.Response(text=page["html"], content_type="text/html")

    host_app = web.Application()
    host_app.router.add_get("/", host_page)
    host = LiveServer(host_app, ports=2)
    allowed, other = (f"http://localhost:{p}" for p in host.ports)
    services = make_services(tmp_path / "bot.sqlite3", engine, widget_origins=frozenset({allowed}))
    bot = LiveServer(create_app(services))
    page["html"] = HOST_PAGE.replace("{bot}", bot.url)
    yield Sites(bot, services, allowed + "/", other + "/")
    bot.close()
    host.close()
    services.store.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[WebDriver]:
    driver = launch(tmp_path_factory.mktemp("chromium-widget"))
    yield driver
    driver.quit()


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def viewport(request, browser) -> tuple[int, int]:
    set_viewport(browser, request.param)
    return request.param


def shadow(driver: WebDriver, selector: str) -> WebElement | None:
    return driver.execute_script(
        "const host = document.getElementById('qm-chat-widget');"
        "return host && host.shadowRoot.querySelector(arguments[0]);",
        selector,
    )


def launcher(driver: WebDriver) -> WebElement:
    return wait(driver).until(lambda d: shadow(d, ".launcher"))


def frame(driver: WebDriver) -> WebElement:
    return wait(driver).until(lambda d: shadow(d, "iframe"))


def ask_in_frame(driver: WebDriver, text: str, answers_before: int) -> str:
    box = wait(driver).until(lambda d: d.find_element(By.ID, "input"))
    box.send_keys(text, Keys.ENTER)
    rows = "#messages .row.bot:not(.welcome):not(.typing) .bubble"
    wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, rows)) > answers_before)
    return driver.find_elements(By.CSS_SELECTOR, rows)[-1].text


def test_widget_opens_the_chat_on_a_listed_site_and_keeps_the_conversation(browser, viewport, sites):
    browser.get(sites.allowed)
    button = launcher(browser)
    assert button.get_attribute("aria-expanded") == "false"
    rect = browser.execute_script("return arguments[0].getBoundingClientRect().toJSON()", button)
    assert rect["right"] > viewport[0] - 60 and rect["bottom"] > viewport[1] - 60  # bottom right
    button.click()
    panel = frame(browser)
    if viewport == PHONE:  # full screen on a phone
        size = browser.execute_script("return arguments[0].getBoundingClientRect().toJSON()", panel)
        assert (round(size["width"]), round(size["height"])) == viewport
    browser.switch_to.frame(panel)
    assert "9月30日" in ask_in_frame(browser, "总结材料什么时候交", 0)
    # closing from inside the frame (its × button) and opening again keeps what was said
    browser.find_element(By.ID, "close").click()
    browser.switch_to.default_content()
    wait(browser).until(lambda d: not shadow(d, ".panel").is_displayed())
    assert launcher(browser).get_attribute("aria-expanded") == "false"
    launcher(browser).click()
    browser.switch_to.frame(frame(browser))
    assert "9月30日" in browser.find_element(By.ID, "messages").text
    # the follow-up travels with the same session cookie, though the frame is on another site
    ask_in_frame(browser, "联系电话是多少", 1)
    browser.switch_to.default_content()
    cookies = browser.execute_cdp_cmd("Storage.getCookies", {})["cookies"]
    [sid] = [c["value"] for c in cookies if c["name"] == "qm_sid" and c["domain"] == "127.0.0.1"]
    sites.services.store.flush()
    assert sites.services.store.delete_user("web", sid) == 2  # both questions, one conversation


def test_widget_is_operable_by_keyboard(browser, sites):
    set_viewport(browser, DESKTOP)
    browser.get(sites.allowed)
    launcher(browser)
    body = browser.find_element(By.TAG_NAME, "body")
    for _ in range(6):
        body.send_keys(Keys.TAB)
        if browser.execute_script("return document.activeElement.id") == "qm-chat-widget":
            break
    assert browser.execute_script("return document.activeElement.shadowRoot.activeElement.className") == "launcher"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    browser.switch_to.frame(frame(browser))
    wait(browser).until(lambda d: d.switch_to.active_element.get_attribute("id") == "input")
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    browser.switch_to.default_content()
    wait(browser).until(lambda d: not shadow(d, ".panel").is_displayed())
    assert browser.execute_script("return document.activeElement.shadowRoot.activeElement.className") == "launcher"


def test_a_site_not_listed_cannot_frame_the_chat(browser, sites):
    set_viewport(browser, DESKTOP)
    browser.get(sites.other)
    launcher(browser).click()
    browser.switch_to.frame(frame(browser))
    try:
        wait(browser).until(lambda d: d.execute_script("return document.readyState") == "complete")
        assert browser.find_elements(By.ID, "input") == []
        assert "质量月" not in browser.find_element(By.TAG_NAME, "body").text
    finally:
        browser.switch_to.default_content()


def test_axe_finds_nothing_serious_in_the_widget(browser, viewport, sites):
    browser.get(sites.allowed)
    assert_accessible(browser, what="page with the closed widget")
    launcher(browser).click()
    browser.switch_to.frame(frame(browser))
    ask_in_frame(browser, "联系电话是多少", 0)
    assert_accessible(browser, what="chat inside the widget")
    browser.switch_to.default_content()
    assert_accessible(browser, what="page with the open widget")
