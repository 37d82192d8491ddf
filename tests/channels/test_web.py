"""Web chat API and page through aiohttp's test client, with the real engine and a real SQLite store."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import create_app
from bot.config import ROOT, load_settings
from bot.core.engine import Engine
from bot.service import Service, load_engine
from bot.state.store import Store

TZ = ZoneInfo("Asia/Shanghai")
FIXED_NOW = datetime(2021, 9, 20, 10, 0, tzinfo=TZ)  # ten days before the 9月30日 deadline
REPLY_KEYS = {
    "question",
    "answer",
    "fallback",
    "intent",
    "sources",
    "deadlines",
    "suggestions",
    "action",
    "answer_id",
    "expand",
}


def make_services(db: Path, engine: Engine, **settings_overrides: object) -> Service:
    """Service as the running bot builds them, with a clock fixed inside the campaign."""
    settings = load_settings({}, db=db, **settings_overrides)
    return Service(engine=engine, store=Store(db), settings=settings, clock=lambda: FIXED_NOW)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return load_engine(ROOT / "knowledge", ROOT / "intents.yaml")


LONG_ITEM = "三是要通过印发宣传资料、在办公场所和施工现场悬挂张贴标语、设置质量专题宣传橱窗等多种形式开展宣传，进一步强化全员质量意识。"


def engine_with_a_long_item(folder: Path) -> Engine:
    """The knowledge with one sub-item made long enough that an answer listing it must cut it."""
    kdir = folder / "knowledge"
    shutil.copytree(ROOT / "knowledge", kdir)
    notice = kdir / "gd-2021-quality-month.yaml"
    longer = LONG_ITEM + "并做好资料归档，留存影像记录以备抽查，" * 6
    notice.write_text(notice.read_text(encoding="utf-8").replace(LONG_ITEM, longer), encoding="utf-8")
    return load_engine(kdir, ROOT / "intents.yaml")


@pytest.fixture(scope="module")
def long_item_engine(tmp_path_factory) -> Engine:
    return engine_with_a_long_item(tmp_path_factory.mktemp("long-item"))


@pytest.fixture
def services(tmp_path, engine):
    services = make_services(tmp_path / "bot.sqlite3", engine)
    yield services
    services.store.close()


@pytest.fixture
async def client(aiohttp_client, services):
    return await aiohttp_client(create_app(services))


def summary_deadline(data: dict) -> dict:
    """The 9月30日 summary deadline in a reply or deadline list."""
    items = data["deadlines"] if isinstance(data, dict) else data
    found = [d for d in items if d["date"] == "2021-09-30"]
    assert found, items
    return found[0]


async def test_ask_answers_the_summary_deadline(client, services):
    resp = await client.post("/api/ask", json={"text": "总结材料什么时候交"})
    assert resp.status == 200
    assert resp.content_type == "application/json"
    data = await resp.json()
    assert set(data) == REPLY_KEYS
    assert data["question"] == "总结材料什么时候交"
    assert "9月30日" in data["answer"]
    assert data["fallback"] is False
    assert data["sources"] and all({"id", "title", "score"} <= set(s) for s in data["sources"])
    assert all(isinstance(s, str) and s for s in data["suggestions"])
    assert summary_deadline(data)["days_left"] == 10
    assert services.store.stats()["questions"] == 1


async def test_question_is_trimmed_and_logged_under_the_page_session(client, services):
    page = await client.get("/")
    sid = page.cookies["qm_sid"].value
    assert len(sid) >= 16
    # (sent by hand: the test client keeps Secure cookies to itself over plain http)
    resp = await client.post("/api/ask", json={"text": "  明天天气怎么样  "}, cookies={"qm_sid": sid})
    data = await resp.json()
    assert data["question"] == "明天天气怎么样"
    assert data["fallback"] is True
    # staff see the unanswered question, logged once on the web channel for this visitor
    assert services.store.unanswered() == [("明天天气怎么样", 1)]
    # the log knows the visitor only by that anonymous id, and can forget it
    assert services.store.delete_user("web", sid) == 1
    assert services.store.delete_user("web", sid) == 0


async def test_now_changes_the_countdown(client):
    early = await client.post(
        "/api/ask", json={"text": "总结材料什么时候交", "now": "2021-09-25T09:00:00+08:00"}
    )
    late = await client.post("/api/ask", json={"text": "总结材料什么时候交", "now": "2021-09-29"})
    assert early.status == late.status == 200
    assert summary_deadline(await early.json())["days_left"] == 5
    assert summary_deadline(await late.json())["days_left"] == 1
    default = await client.post("/api/ask", json={"text": "总结材料什么时候交"})
    assert summary_deadline(await default.json())["days_left"] == 10


async def test_deadlines_endpoint_counts_down_from_the_clock(client):
    resp = await client.get("/api/deadlines")
    assert resp.status == 200
    items = await resp.json()
    assert all(set(d) == {"id", "date", "days_left", "what", "document"} for d in items)
    summary = summary_deadline(items)
    assert summary["days_left"] == 10
    assert "总结" in summary["what"]
    moved = await client.get("/api/deadlines", params={"now": "2021-09-30T08:00:00+08:00"})
    assert summary_deadline(await moved.json())["days_left"] == 0
    typed = await client.get("/api/deadlines?now=2021-09-29T08:00:00+08:00")  # a raw "+", as typed
    assert typed.status == 200 and summary_deadline(await typed.json())["days_left"] == 1
    for nonsense in ("next week", "0001-01-01T00:00:00+14:00"):
        bad = await client.get("/api/deadlines", params={"now": nonsense})
        assert bad.status == 400
        assert "error" in await bad.json()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (json.dumps({"text": "电话"}), "text/plain"),
        ("text=电话", "application/x-www-form-urlencoded"),
        ("{not json", "application/json"),
        (b'{"text": "\xff\xfe"}', "application/json"),
        ('["电话"]', "application/json"),
        ("{}", "application/json"),
        (json.dumps({"text": 42}), "application/json"),
        (json.dumps({"text": None}), "application/json"),
        (json.dumps({"text": "   \n\t "}), "application/json"),
        (json.dumps({"text": "电话", "now": "yesterday"}), "application/json"),
        (json.dumps({"text": "电话", "now": 1632100000}), "application/json"),
        (json.dumps({"text": "电话", "now": "0001-01-01T00:00:00+14:00"}), "application/json"),
        (json.dumps({"text": "电话", "now": "9999-12-31T23:59:59-23:00"}), "application/json"),
        ('{"text": "\\ud800"}', "application/json"),
        ("", "application/json"),
    ],
)
async def test_bad_requests_get_400_json(client, services, body, content_type):
    resp = await client.post("/api/ask", data=body, headers={"Content-Type": content_type})
    assert resp.status == 400
    data = await resp.json()
    assert isinstance(data["error"], str) and data["error"]
    assert services.store.stats()["questions"] == 0


async def test_too_long_question_gets_413(client, services):
    ok = await client.post("/api/ask", json={"text": "电" * 2000})
    assert ok.status == 200
    resp = await client.post("/api/ask", json={"text": "电" * 2001})
    assert resp.status == 413
    assert "error" in await resp.json()
    assert services.store.stats()["questions"] == 1


async def test_too_large_body_gets_413(client, services):
    padded = json.dumps({"text": "电话", "pad": "x" * 17_000})
    resp = await client.post("/api/ask", data=padded, headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert "error" in await resp.json()

    async def chunks():  # no Content-Length: the cap must hold while streaming too
        yield b'{"text": "'
        for _ in range(40):
            yield b"a" * 1024
        yield b'"}'

    streamed = await client.post(
        "/api/ask", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status == 413
    assert services.store.stats()["questions"] == 0


async def test_healthz_reports_the_knowledge(client):
    resp = await client.get("/healthz")
    assert resp.status == 200
    data = await resp.json()
    assert data["status"] == "ok"
    assert isinstance(data["knowledge_version"], str) and data["knowledge_version"]
    assert data["units"] > 0
    assert data["deadlines"] >= 1
    assert data["projects"] > 0


async def test_page_has_the_chat_and_input_bar(client):
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    html = await resp.text()
    assert 'id="input"' in html and 'id="send"' in html and 'id="composer"' in html
    assert 'name="viewport"' in html
    assert "/static/app.js" in html and "/static/app.css" in html
    assert "http://" not in html and "https://" not in html  # nothing from a CDN
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp


async def test_static_files_are_served(client):
    js = await client.get("/static/app.js")
    assert js.status == 200
    assert "javascript" in js.content_type
    source = await js.text()
    assert "textContent" in source and "innerHTML" not in source
    css = await client.get("/static/app.css")
    assert css.status == 200
    assert css.content_type == "text/css"
    assert "pre-wrap" in await css.text()
    missing = await client.get("/static/nothing.js")
    assert missing.status == 404
    escape = await client.get("/static/..%2f..%2fconfig.py")
    assert escape.status in (403, 404)


async def test_feedback_is_kept_with_the_question_and_the_unit_that_answered(client, services):
    data = await (await client.post("/api/ask", json={"text": "联系电话是多少"})).json()
    assert data["answer_id"]
    resp = await client.post("/api/feedback", json={"answer_id": data["answer_id"], "vote": "down"})
    assert resp.status == 200
    [row] = services.store.feedback_rows()
    assert (row["vote"], row["question"], row["top_source"]) == (-1, "联系电话是多少", data["sources"][0]["id"])
    await client.post("/api/feedback", json={"answer_id": data["answer_id"], "vote": "up"})  # changed their mind
    assert [r["vote"] for r in services.store.feedback_rows()] == [1]


@pytest.mark.parametrize(
    "body, status",
    [
        ({"answer_id": "0123456789abcdef", "vote": "up"}, 404),  # never given out
        ({"answer_id": "0123456789abcdef", "vote": "meh"}, 400),
        ({"answer_id": "../../etc", "vote": "up"}, 400),
        ({"vote": "up"}, 400),
    ],
)
async def test_bad_feedback_is_refused_and_changes_nothing(client, services, body, status):
    resp = await client.post("/api/feedback", json=body)
    assert resp.status == status
    assert "error" in await resp.json()
    assert services.store.feedback_rows() == []


async def test_chat_page_may_be_framed_by_exactly_the_listed_sites(aiohttp_client, tmp_path, engine):
    sites = frozenset({"https://www.gd.gov.cn", "https://zfcxjst.gd.gov.cn"})
    services = make_services(tmp_path / "framed.sqlite3", engine, widget_origins=sites)
    client = await aiohttp_client(create_app(services))
    csp = (await client.get("/")).headers["Content-Security-Policy"]
    assert "frame-ancestors https://www.gd.gov.cn https://zfcxjst.gd.gov.cn" in csp
    widget = await client.get("/widget.js")
    assert widget.status == 200 and "javascript" in widget.headers["Content-Type"]
    assert "attachShadow" in await widget.text()
    services.store.close()


async def test_chat_page_is_framed_nowhere_by_default(client):
    assert "frame-ancestors 'none'" in (await client.get("/")).headers["Content-Security-Policy"]


def test_widget_origins_must_be_site_addresses():
    assert load_settings({"BOT_WIDGET_ORIGINS": "https://a.gov.cn/, http://localhost:8081"}).widget_origins == {
        "https://a.gov.cn",
        "http://localhost:8081",
    }
    for bad in ("https://a.gov.cn; script-src *", "a.gov.cn", "https://a.gov.cn/path"):
        with pytest.raises(ValueError, match="BOT_WIDGET_ORIGINS"):
            load_settings({"BOT_WIDGET_ORIGINS": bad})
    with pytest.raises(ValueError, match="BOT_TRUSTED_PROXIES"):
        load_settings({"BOT_TRUSTED_PROXIES": "proxy.local"})


async def test_session_cookie_works_inside_another_sites_frame_over_https(client):
    # loopback (a developer's machine) and HTTPS get SameSite=None; Secure; Partitioned
    local = (await client.get("/")).headers["Set-Cookie"]
    assert "SameSite=None" in local and "Secure" in local and "Partitioned" in local
    # plain HTTP on a real host name cannot carry a Secure cookie: an ordinary first-party one
    plain = (await client.get("/", headers={"Host": "chat.example.org"})).headers["Set-Cookie"]
    assert "SameSite=Lax" in plain and "Secure" not in plain
    # X-Forwarded-Proto counts only from a trusted proxy
    client.session.cookie_jar.clear()
    spoofed = await client.get("/", headers={"Host": "chat.example.org", "X-Forwarded-Proto": "https"})
    assert "SameSite=Lax" in spoofed.headers["Set-Cookie"]


def test_page_names_the_newest_notice_and_its_menu(engine):
    from bot.channels.web import STATIC_DIR, render_page

    template = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    doc = engine.knowledge.latest_document()
    assert doc.number not in template and doc.title not in template  # nothing about a notice in the HTML
    page = render_page(template, engine.knowledge)
    assert doc.number in page and doc.title.replace("“", "&ldquo;") not in page
    assert engine.knowledge.menu["PROJECTS"] in page and "订阅提醒" not in page  # the web cannot push
    assert "{{" not in page


async def test_cut_sub_items_come_with_their_full_text(aiohttp_client, tmp_path, long_item_engine, client):
    long_client = await aiohttp_client(create_app(make_services(tmp_path / "long.sqlite3", long_item_engine)))
    data = await (await long_client.post("/api/ask", json={"text": "怎么开展质量宣传"})).json()
    assert data["expand"], data["answer"]
    for item in data["expand"]:
        assert item["cut"] in data["answer"] and item["cut"].endswith("…")
        assert item["full"].startswith(item["cut"][:-1]) and len(item["full"]) >= len(item["cut"])
    whole = await (await client.post("/api/ask", json={"text": "联系电话是多少"})).json()
    assert whole["expand"] == []  # nothing was cut


async def test_the_page_session_is_the_conversation(client, aiohttp_client, services):
    page = await client.get("/")  # the page hands out the session cookie; the page sends it back
    cookie = {"Cookie": f"qm_sid={page.cookies['qm_sid'].value}"}

    async def ask(text: str, headers: dict | None = None) -> dict:
        return await (await client.post("/api/ask", json={"text": text}, headers=headers or cookie)).json()

    assert "锦龙苑" in (await ask("第3个观摩项目是什么"))["answer"]
    assert "华西" in (await ask("谁施工的"))["answer"]
    after = await ask("下一个呢")
    assert "新华医院" in after["answer"] and "锦龙苑" not in after["answer"]
    alone = await ask("下一个呢", {"Cookie": "qm_sid=" + "x" * 22})  # another visitor: no earlier turn
    assert alone["fallback"] and "新华医院" not in alone["answer"]
