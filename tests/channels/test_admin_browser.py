"""The staff console in real headless Chromium against the real server, Telegram on a fake Bot API.

What a staff member does: log in, test a declined question, teach it from the review list and
see the web chat answer it, upload and publish a notice, broadcast, and be told when a save is
refused or the knowledge is broken. `make screenshots` runs this file with SCREENSHOTS set and
writes the README's pictures.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from bot.app import build_server
from tests.browser.chrome import CHROMEDRIVER, CHROMIUM, WAIT, LiveServer, need_browser
from tests.channels.admin_support import NOTICE, PASSWORD, add_account, console_services
from tests.channels.test_web_browser import ask, open_page
from tests.conftest import ROOT
from tests.fakes.bot_api import TOKEN, FakeBotApi

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

SHOTS = os.environ.get("SCREENSHOTS", "")  # a folder: `make screenshots` sets docs/screenshots
DECLINED = "质量月的小结呈交对象"  # the 2021 notice answers it (summary-report) but no paraphrase says so
NOTICE_2022 = ROOT / "tests" / "notices" / "gd-2022-quality-month.txt"
CHATS = (5001, 5002)

# Pages every accessibility check visits. The chat page's axe-core helper can run over the same
# list: for path in CONSOLE_PAGES: browser.get(url + path); <axe check>.
CONSOLE_PAGES = [
    "/admin/login",
    "/admin/",
    "/admin/review",
    "/admin/test?q=总结几时交",
    "/admin/knowledge",
    "/admin/knowledge/gd-2021-quality-month",
    "/admin/unit/s2-3-1",
    "/admin/deadline/summary-report",
    "/admin/contact/contact",
    "/admin/table/projects",
    "/admin/notices",
    "/admin/reminders",
    "/admin/broadcast",
    "/admin/audit",
    "/admin/users",
]


def shot(driver: WebDriver, name: str) -> None:
    """Save the page as docs/screenshots/<name>.png when screenshots were asked for."""
    if not SHOTS:
        return
    folder = Path(SHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    height = min(int(driver.execute_script("return document.documentElement.scrollHeight")), 2400)
    clip = {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}
    data = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
    (folder / f"{name}.png").write_bytes(base64.b64decode(data["data"]))


class Loop:
    """An event loop in a thread, for the fake Bot API (the server has its own)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.loop.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[WebDriver]:
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
        "--no-first-run",
        "--disable-sync",
        "--lang=zh-CN",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-console')}",
        "--window-size=1280,900",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=ChromeService(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT * 2)
    yield driver
    driver.quit()


@pytest.fixture
def fake() -> Iterator[tuple[FakeBotApi, Loop]]:
    loop = Loop()
    api = FakeBotApi()
    loop.run(api.start())
    yield api, loop
    loop.run(api.close())
    loop.close()


@pytest.fixture
def console(tmp_path, fake, browser):
    """The whole server (build_server: console, web chat, Telegram against the fake, reload) on 127.0.0.1."""
    api, _ = fake
    services = console_services(tmp_path, telegram_token=TOKEN, telegram_api_url=api.base_url)
    add_account(services, "wangmin", "admin")
    for chat in CHATS:
        services.store.subscribe("telegram", str(chat), str(chat), services.clock())
    live = LiveServer(build_server(services))
    browser.delete_all_cookies()
    yield live, services
    live.close()
    services.store.close()


def wait(driver: WebDriver, timeout: float = WAIT) -> WebDriverWait:
    return WebDriverWait(driver, timeout)


def log_in(driver: WebDriver, live: LiveServer, name: str = "wangmin") -> None:
    driver.get(live.url + "/admin/")
    wait(driver).until(lambda d: d.find_elements(By.NAME, "username"))
    shot(driver, "login")
    driver.find_element(By.NAME, "username").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
    wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "header nav"))


def submit(driver: WebDriver, button: str, scope=None) -> None:
    """Press the submit button with this text and wait for the next page."""
    root = scope or driver
    old = driver.find_element(By.TAG_NAME, "html")
    target = next(b for b in root.find_elements(By.CSS_SELECTOR, "button[type=submit]") if b.text.strip().startswith(button))
    target.click()
    wait(driver).until(lambda d: _stale(old))


def _stale(element) -> bool:
    try:
        element.tag_name  # noqa: B018
    except Exception:
        return True
    return False


def flash(driver: WebDriver) -> str:
    return " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, "main .alert"))


def api_ask(live: LiveServer, text: str, now: str = "") -> dict:
    body = json.dumps({"text": text, **({"now": now} if now else {})}).encode()
    request = urllib.request.Request(live.url + "/api/ask", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        return json.loads(response.read())


def comment_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.lstrip().startswith("#")]


# ----------------------------------------------------------------------------- the teaching loop


def test_declined_question_is_taught_from_the_review_list_and_then_answered(browser, console):
    live, services = console
    notice = services.settings.knowledge_dir / NOTICE
    comments = comment_lines(notice)
    open_page(browser, live)
    assert "抱歉" in ask(browser, DECLINED)  # a visitor asks; the bot declines

    log_in(browser, live)
    browser.get(live.url + "/admin/test")
    browser.find_element(By.ID, "q").send_keys(DECLINED)
    submit(browser, "测试")
    decision = browser.find_element(By.CSS_SELECTOR, ".result .decision").text
    assert "不回答" in decision and decision.split("：", 1)[-1].strip()  # declined, with the reason
    assert len(browser.find_elements(By.CSS_SELECTOR, ".result tbody tr")) == 5
    shot(browser, "hit-test")

    browser.get(live.url + "/admin/review")
    card = next(c for c in browser.find_elements(By.CSS_SELECTOR, ".review-item") if c.find_element(By.CSS_SELECTOR, ".question").text == DECLINED)
    assert "未能回答 1 次" in card.text
    Select(card.find_element(By.CSS_SELECTOR, "select[name=unit]")).select_by_value("summary-report")
    shot(browser, "review")
    submit(browser, "加为问法", card)
    message = flash(browser)
    assert "已把“质量月的小结呈交对象”加为“summary-report”的问法" in message and "现在这个问题回答" in message
    assert DECLINED not in [q.text for q in browser.find_elements(By.CSS_SELECTOR, ".review-item .question")]

    open_page(browser, live)
    assert "9月30日" in ask(browser, DECLINED)
    assert comment_lines(notice) == comments
    assert f"      - {DECLINED}\n" in notice.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- notices


def test_uploaded_notice_is_published_and_answered(browser, console):
    live, services = console
    log_in(browser, live)
    browser.get(live.url + "/admin/notices")
    browser.find_element(By.ID, "notice").send_keys(str(NOTICE_2022))
    submit(browser, "上传并生成草稿")
    assert "已生成草稿" in flash(browser)
    report = browser.find_element(By.CSS_SELECTOR, "section.card").text
    assert "审核报告" in report and "未能归类的行" in report
    assert "粤建质函〔2022〕536号" in browser.find_element(By.ID, "draft-text").get_attribute("value")
    shot(browser, "notice-draft")
    submit(browser, "发布")
    assert "已发布" in flash(browser)
    published = services.settings.knowledge_dir / "gd-2022-quality-month.yaml"
    assert published.exists()
    answer = api_ask(live, "2022年质量月总结什么时候交", "2022-09-10T10:00")
    assert "2022年9月28日" in answer["answer"] and not answer["fallback"]

    browser.get(live.url + "/admin/notices")
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "tbody tr") if "536号" in r.text)
    row.find_element(By.CSS_SELECTOR, "button").click()
    browser.switch_to.alert.accept()
    wait(browser).until(lambda d: "已归档" in flash(d))
    assert (services.settings.knowledge_dir / "archive" / published.name).exists() and not published.exists()
    assert "2022年9月28日" not in api_ask(live, "2022年质量月总结什么时候交", "2022-09-10T10:00")["answer"]


# ----------------------------------------------------------------------------- broadcast


def test_broadcast_is_previewed_per_channel_and_sent_to_telegram(browser, console, fake):
    live, services = console
    api, loop = fake
    log_in(browser, live)
    browser.get(live.url + "/admin/broadcast")
    browser.find_element(By.ID, "text").send_keys("提醒：总结材料请于9月30日前报送。")
    submit(browser, "预览")
    card = browser.find_element(By.CSS_SELECTOR, ".preview")
    assert "Telegram" in card.text and card.find_element(By.CSS_SELECTOR, ".count").text == "2"
    assert api.sent == []  # nothing goes out before the confirmation
    shot(browser, "broadcast-preview")
    old = browser.find_element(By.TAG_NAME, "html")
    next(b for b in browser.find_elements(By.CSS_SELECTOR, "button") if b.text.startswith("确认发送")).click()
    browser.switch_to.alert.accept()
    wait(browser, WAIT * 2).until(lambda d: _stale(old))
    assert "已送达 2 个订阅者" in flash(browser)
    for chat in CHATS:
        [sent] = loop.run(api.wait_sent(chat))
        assert "9月30日前报送" in sent.text


# ----------------------------------------------------------------------------- refusals and the red banner


def test_refused_save_and_broken_knowledge_are_shown(browser, console):
    live, services = console
    notice = services.settings.knowledge_dir / NOTICE
    before = notice.read_text(encoding="utf-8")
    log_in(browser, live)
    browser.get(live.url + "/admin/unit/s2-3-1")
    box = browser.find_element(By.ID, "questions")
    box.send_keys(Keys.END, "\n{city}建材抽检")
    submit(browser, "保存问法")
    error = browser.find_element(By.CSS_SELECTOR, ".field.invalid .field-error").text
    assert "占位符只能用在表格的问题里" in error
    assert "没有保存" in browser.find_element(By.CSS_SELECTOR, "main .alert.error").text
    assert "{city}建材抽检" in browser.find_element(By.ID, "questions").get_attribute("value")
    assert notice.read_text(encoding="utf-8") == before
    shot(browser, "refused")

    notice.write_text(before.replace("date: 2021-09-30", "date: 下周", 1), encoding="utf-8")
    live._call(services.reload_now())
    for path in ("/admin/", "/admin/knowledge"):
        browser.get(live.url + path)
        banner = browser.find_element(By.ID, "knowledge-error")
        assert "重新加载失败" in banner.text and "deadlines[0].date" in banner.text
        assert banner.value_of_css_property("color") == "rgba(164, 22, 26, 1)"
    assert "9月30日" in api_ask(live, "总结几时交")["answer"]  # still the last good knowledge
    shot(browser, "degraded")


def test_overview_draws_the_questions_per_day(browser, console):
    live, services = console
    for question in ("总结几时交", "联系电话", DECLINED):
        api_ask(live, question)
    log_in(browser, live)
    bars = browser.find_elements(By.CSS_SELECTOR, "svg.chart rect")
    assert len(bars) == 2  # today: answered and declined
    assert "67%" in browser.find_element(By.CSS_SELECTOR, ".stats").text
    shot(browser, "overview")


# ----------------------------------------------------------------------------- accessibility


CONTRAST_JS = """
function lum(c) { const v = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map(x => x / 255)
  .map(x => x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4));
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; }
function bg(el) { while (el) { const c = getComputedStyle(el).backgroundColor;
  if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c; el = el.parentElement; }
  return 'rgb(255, 255, 255)'; }
const bad = [];
for (const el of document.querySelectorAll('body *')) {
  const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own || el.closest('svg') || el.offsetParent === null) continue;
  const a = lum(getComputedStyle(el).color), b = lum(bg(el));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) bad.push(el.tagName + ' "' + el.textContent.trim().slice(0, 20) + '" ' + ratio.toFixed(2));
}
return bad;
"""
LABELS_JS = """
return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map(el => el.outerHTML.slice(0, 80));
"""


def contrast_problems(driver: WebDriver) -> list[str]:
    return driver.execute_script(CONTRAST_JS)


def label_problems(driver: WebDriver) -> list[str]:
    return driver.execute_script(LABELS_JS)


# Each check returns what is wrong on the current page; the chat page's axe-core check fits here too.
ACCESSIBILITY_CHECKS: list[Callable[[WebDriver], list[str]]] = [contrast_problems, label_problems]


def test_console_pages_are_accessible(browser, console):
    live, _ = console
    browser.get(live.url + "/admin/login")
    for path in CONSOLE_PAGES:
        if path != "/admin/login" and not browser.find_elements(By.CSS_SELECTOR, "header nav"):
            log_in(browser, live)
        browser.get(live.url + path)
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN", path
        for check in ACCESSIBILITY_CHECKS:
            assert check(browser) == [], (path, check.__name__)
        if path == "/admin/login":  # the form takes the focus at once
            assert browser.switch_to.active_element.get_attribute("name") == "username"
            continue
        # keyboard: the first Tab reaches the skip link, which is visible while focused
        ActionChains(browser).send_keys(Keys.TAB).perform()
        focused = browser.switch_to.active_element
        assert focused.text == "跳到正文" and focused.is_displayed(), path
    # the whole login works from the keyboard alone
    browser.delete_all_cookies()
    browser.get(live.url + "/admin/login")
    wait(browser).until(lambda d: d.switch_to.active_element.get_attribute("name") == "username")  # autofocus landed
    browser.switch_to.active_element.send_keys("wangmin", Keys.TAB, PASSWORD, Keys.ENTER)
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "header nav"))
