"""The chat page in real headless Chromium against the real server: what a visitor sees and clicks,
at a desktop and a phone-sized viewport."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from aiohttp import web
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from bot.app import create_app
from bot.config import ROOT
from bot.core.engine import Engine
from bot.service import Service, load_engine
from tests.browser.axe import assert_accessible
from tests.browser.chrome import DESKTOP, PHONE, WAIT, LiveServer, launch, set_viewport, wait
from tests.channels.test_web import engine_with_a_long_item, make_services

XSS = "<img src=x onerror=alert(1)> 电话"


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


class Breaker:
    """While `broken` is set, /api/ask connections are cut before any answer: a network error."""

    def __init__(self) -> None:
        self.broken = False

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        if self.broken and request.path == "/api/ask":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=204)
        return await handler(request)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return load_engine(ROOT / "knowledge", ROOT / "intents.yaml")


def serve(services: Service, breaker: Breaker | None = None) -> LiveServer:
    app = create_app(services)
    if breaker is not None:
        app.middlewares.append(breaker.middleware)
    return LiveServer(app)


@pytest.fixture
def services(tmp_path, engine) -> Iterator[Service]:
    services = make_services(tmp_path / "bot.sqlite3", engine)
    yield services
    services.store.close()


@pytest.fixture
def breaker() -> Breaker:
    return Breaker()


@pytest.fixture
def server(services, breaker) -> Iterator[LiveServer]:
    live = serve(services, breaker)
    yield live
    live.close()


@pytest.fixture
def slow_server(tmp_path, engine) -> Iterator[tuple[LiveServer, SlowEngine]]:
    slow = SlowEngine(engine)
    services = make_services(tmp_path / "bot.sqlite3", slow)
    live = serve(services)
    yield live, slow
    slow.release.set()
    live.close()
    services.store.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[WebDriver]:
    driver = launch(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def viewport(request, browser) -> tuple[int, int]:
    set_viewport(browser, request.param)
    return request.param


def bot_rows(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#messages .row.bot:not(.welcome):not(.typing)")


def bot_answers(driver: WebDriver) -> list[str]:
    """Text of the bot's answer bubbles (not the welcome, not the typing indicator)."""
    return [r.find_element(By.CSS_SELECTOR, ".bubble").text for r in bot_rows(driver)]


def user_questions(driver: WebDriver) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#messages .row.user .bubble .text")]


def open_page(driver: WebDriver, server: LiveServer, query: str = "") -> None:
    driver.get(server.url + "/" + query)
    wait(driver).until(lambda d: d.find_element(By.ID, "input").is_displayed())


def type_question(driver: WebDriver, text: str, *, enter: bool = False) -> None:
    box = driver.find_element(By.ID, "input")
    box.send_keys(text)
    if enter:
        box.send_keys(Keys.ENTER)
    else:
        driver.find_element(By.ID, "send").click()


def ask(driver: WebDriver, text: str, *, enter: bool = False) -> str:
    """Type a question, send it and return the bot bubble that answers it."""
    before = len(bot_answers(driver))
    type_question(driver, text, enter=enter)
    wait(driver).until(lambda d: len(bot_answers(d)) > before)
    return bot_answers(driver)[-1]


def test_question_gets_an_answer_bubble(browser, viewport, server):
    open_page(browser, server)
    answer = ask(browser, "总结材料什么时候交")
    assert "9月30日" in answer
    assert user_questions(browser)[-1] == "总结材料什么时候交"
    last = bot_rows(browser)[-1]
    assert last.find_element(By.CSS_SELECTOR, ".source").text.startswith("来源：粤建质函〔2021〕622号")
    assert last.text.count("粤建质函〔2021〕622号") == 1  # the source is shown once, in grey
    assert browser.find_element(By.ID, "input").get_attribute("value") == ""
    # Enter sends too, and every message carries the time it was sent
    assert "83133733" in ask(browser, "联系电话", enter=True)
    assert browser.find_element(By.CSS_SELECTOR, "#messages .time time").text.count(":") == 1


def test_header_and_welcome_come_from_the_knowledge(browser, server, engine):
    open_page(browser, server)
    doc = engine.knowledge.latest_document()
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == f"{doc.campaign}问答机器人"
    assert doc.number in browser.find_element(By.CSS_SELECTOR, ".subtitle").text
    welcome = browser.find_element(By.CSS_SELECTOR, ".welcome .text").text
    assert doc.title in welcome
    examples = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".welcome .example")]
    assert examples and all(q in engine.knowledge.menu.values() for q in examples)


def test_network_error_keeps_the_question_and_retry_sends_it(browser, viewport, server, breaker):
    open_page(browser, server)
    breaker.broken = True
    type_question(browser, "总结材料什么时候交")
    failed = wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#messages .row.user.failed"))[-1]
    assert failed.find_element(By.CSS_SELECTOR, ".bubble").text == "总结材料什么时候交"
    assert "网络错误" in failed.text
    assert bot_answers(browser) == []
    breaker.broken = False
    failed.find_element(By.CSS_SELECTOR, "button.retry").click()
    wait(browser).until(lambda d: bot_answers(d))
    assert "9月30日" in bot_answers(browser)[-1]
    assert browser.find_elements(By.CSS_SELECTOR, "#messages .row.failed") == []
    assert user_questions(browser) == ["总结材料什么时候交"]  # resent, not duplicated


def test_typing_while_an_answer_loads_queues_the_next_question(browser, viewport, slow_server):
    server, slow = slow_server
    open_page(browser, server)
    type_question(browser, "总结材料什么时候交", enter=True)
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#messages .row.typing"))
    box = browser.find_element(By.ID, "input")
    assert box.is_enabled()
    type_question(browser, "联系电话是多少", enter=True)
    queued = wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#messages .row.user.queued"))
    assert queued[-1].find_element(By.CSS_SELECTOR, ".bubble").text == "联系电话是多少"
    assert box.get_attribute("value") == ""
    slow.release.set()
    wait(browser).until(lambda d: len(bot_answers(d)) == 2)
    first, second = bot_answers(browser)
    assert "9月30日" in first and "83133733" in second
    assert user_questions(browser) == ["总结材料什么时候交", "联系电话是多少"]
    assert browser.find_elements(By.CSS_SELECTOR, "#messages .row.queued, #messages .row.typing") == []


def test_a_long_answer_shows_its_top(browser, viewport, server):
    open_page(browser, server)
    for question in ("总结材料什么时候交", "联系电话是多少"):
        ask(browser, question)
    ask(browser, "观摩项目有哪些")
    row = bot_rows(browser)[-1]
    box = browser.execute_script(
        "const s = document.getElementById('scroller').getBoundingClientRect();"
        "const r = arguments[0].getBoundingClientRect();"
        "return {top: r.top, height: r.height, viewTop: s.top, viewBottom: s.bottom};",
        row,
    )
    assert box["viewTop"] - 1 <= box["top"] < box["viewBottom"] - 20, box  # the answer's title shows
    if viewport == PHONE:  # taller than the phone's screen: its start is shown, not its end
        assert box["height"] > box["viewBottom"] - box["viewTop"], box
        assert box["top"] + box["height"] > box["viewBottom"]


def test_phone_numbers_and_emails_are_tappable_and_whole(browser, viewport, server):
    open_page(browser, server)
    ask(browser, "联系电话是多少")
    row = bot_rows(browser)[-1]
    tel = row.find_element(By.CSS_SELECTOR, "a.contact[href^='tel:']")
    assert tel.get_attribute("href") == "tel:02083133733" and tel.text == "020-83133733"
    mail = ask(browser, "邮箱是多少") and bot_rows(browser)[-1].find_element(By.CSS_SELECTOR, "a[href^='mailto:']")
    assert mail.get_attribute("href") == "mailto:jt-zac@gd.gov.cn"
    for link in (tel, mail):
        assert browser.execute_script("return arguments[0].getClientRects().length", link) == 1


def test_deadline_card_shows_upcoming_only_and_collapses(browser, viewport, server):
    open_page(browser, server)
    card = wait(browser).until(lambda d: d.find_element(By.ID, "deadlines") if d.find_element(By.ID, "deadlines").is_displayed() else None)
    toggle = card.find_element(By.ID, "deadline-toggle")
    listing = card.find_element(By.ID, "deadline-list")
    opened = viewport == DESKTOP  # a phone starts with the one-line summary, to keep the chat in view
    assert toggle.get_attribute("aria-expanded") == str(opened).lower()
    assert listing.is_displayed() is opened
    assert "还有 10 天" in card.text  # the fixed clock is 2021-09-20
    toggle.click()
    assert listing.is_displayed() is not opened
    assert toggle.get_attribute("aria-expanded") == str(not opened).lower()
    if listing.is_displayed():
        assert "2021年9月30日" in listing.text
    toggle.click()
    # after the deadline there is nothing upcoming, so no card at all (not a card saying 已截止)
    open_page(browser, server, "?now=2021-10-08")
    ask(browser, "联系电话是多少")
    assert not browser.find_element(By.ID, "deadlines").is_displayed()


def test_cut_sub_items_expand_in_place(browser, tmp_path):
    services = make_services(tmp_path / "long.sqlite3", engine_with_a_long_item(tmp_path))
    server = serve(services)
    try:
        _expand_in_place(browser, server)
    finally:
        server.close()
        services.store.close()


def _expand_in_place(browser, server):
    open_page(browser, server)
    ask(browser, "怎么开展质量宣传")
    row = bot_rows(browser)[-1]
    more = row.find_element(By.CSS_SELECTOR, "button.more")
    short = row.find_element(By.CSS_SELECTOR, ".quote-short").text
    assert short.endswith("…") and more.get_attribute("aria-expanded") == "false"
    more.click()
    full = row.find_element(By.CSS_SELECTOR, ".quote-full")
    assert full.is_displayed() and full.text.startswith(short[:-1]) and len(full.text) > len(short)
    assert more.get_attribute("aria-expanded") == "true" and more.text == "收起"


def test_feedback_buttons_post_the_vote(browser, server, services):
    open_page(browser, server)
    ask(browser, "联系电话是多少")
    up = bot_rows(browser)[-1].find_element(By.CSS_SELECTOR, "button.vote.up")
    up.click()
    wait(browser).until(lambda d: up.get_attribute("aria-pressed") == "true")
    [row] = services.store.feedback_rows()
    assert row["vote"] == 1 and row["question"] == "联系电话是多少"


def test_unanswered_question_offers_did_you_mean_chips(browser, server):
    open_page(browser, server)
    ask(browser, "明天天气怎么样")
    row = bot_rows(browser)[-1]
    assert "您是想问" in row.text
    chip = row.find_element(By.CSS_SELECTOR, ".clarify .chip")
    question = chip.text
    before = len(bot_answers(browser))
    chip.click()
    wait(browser).until(lambda d: len(bot_answers(d)) > before)
    assert user_questions(browser)[-1] == question


def test_suggestion_chip_asks_it(browser, server):
    open_page(browser, server)
    ask(browser, "总结材料什么时候交")
    chips = wait(browser).until(lambda d: [c for c in d.find_elements(By.CSS_SELECTOR, "#chips .chip") if c.is_displayed()])
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


def test_markup_in_a_question_is_shown_as_text(browser, server):
    open_page(browser, server)
    ask(browser, XSS)
    assert user_questions(browser)[-1] == XSS
    assert browser.find_elements(By.CSS_SELECTOR, "#messages img") == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018


def test_keyboard_alone_asks_and_votes_with_a_visible_focus(browser, server):
    open_page(browser, server)
    body = browser.find_element(By.TAG_NAME, "body")
    body.click()
    for _ in range(12):  # Tab until the question box has the focus
        if browser.switch_to.active_element.get_attribute("id") == "input":
            break
        browser.switch_to.active_element.send_keys(Keys.TAB)
    box = browser.switch_to.active_element
    assert box.get_attribute("id") == "input"
    box.send_keys("联系电话是多少", Keys.ENTER)
    wait(browser).until(lambda d: bot_answers(d))
    browser.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
    focused = browser.switch_to.active_element
    assert focused.tag_name == "button"
    outline = browser.execute_script("const s = getComputedStyle(arguments[0]); return [s.outlineStyle, s.outlineWidth];", focused)
    assert outline[0] != "none" and outline[1] != "0px"


@pytest.mark.parametrize("zoom", ["200% zoom", "large fonts"])
def test_usable_at_200_percent_zoom_and_with_large_fonts(browser, server, zoom):
    if zoom == "200% zoom":  # a 1280×900 window at 200% lays out like a 640×450 one
        set_viewport(browser, (640, 450))
    else:  # the system's large-font setting raises the root font size
        set_viewport(browser, PHONE)
    open_page(browser, server)
    if zoom == "large fonts":
        browser.execute_script("document.documentElement.style.fontSize = '200%'")
    ask(browser, "联系电话是多少")
    sizes = browser.execute_script(
        "const send = document.getElementById('send').getBoundingClientRect();"
        "return {scroll: document.documentElement.scrollWidth, width: innerWidth, sendRight: send.right,"
        " sendBottom: send.bottom, height: innerHeight,"
        " font: parseFloat(getComputedStyle(document.querySelector('.bot:not(.welcome) .text')).fontSize)};"
    )
    assert sizes["scroll"] <= sizes["width"], sizes  # nothing needs sideways scrolling
    assert sizes["sendRight"] <= sizes["width"] and sizes["sendBottom"] <= sizes["height"], sizes
    if zoom == "large fonts":
        assert sizes["font"] >= 32, sizes


def test_axe_finds_nothing_serious_on_the_chat_page(browser, viewport, server):
    open_page(browser, server)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    ask(browser, "怎么开展质量宣传")
    ask(browser, "明天天气怎么样")
    wait(browser).until(lambda d: d.find_element(By.ID, "deadlines").is_displayed())
    assert_accessible(browser, what=f"chat page at {viewport[0]}×{viewport[1]}")
