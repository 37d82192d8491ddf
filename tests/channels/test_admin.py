"""Staff console over HTTP: who may do what, CSRF, lockout, session expiry, secrets kept out of logs and the
database, and edits that reach the running bot (or are refused without touching anything)."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from bot.app import create_app
from bot.channels.admin import CONSOLE, PAGES
from bot.cli import main
from bot.core.model import Incoming
from bot.state.accounts import Accounts
from tests.channels.admin_support import (
    NOTICE,
    PASSWORD,
    add_account,
    console_services,
    csrf_of,
    login,
)

SAMPLE = {"{doc}": "gd-2021-quality-month", "{id}": "summary-report", "{row}": "0", "{name}": "abcdef012345"}


def concrete(path: str) -> str:
    for key, value in SAMPLE.items():
        path = path.replace(key, value)
    return "/admin" + path


@pytest.fixture
def services(tmp_path):
    services = console_services(tmp_path)
    add_account(services, "boss", "admin")
    add_account(services, "clerk", "editor")
    yield services
    services.store.close()


@pytest.fixture
async def client(aiohttp_client, services):
    return await aiohttp_client(create_app(services))


def knowledge_files(services) -> dict[str, str]:
    s = services.settings
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(s.knowledge_dir.glob("*.yaml"))}
    files["intents.yaml"] = s.intents_file.read_text(encoding="utf-8")
    return files


# ----------------------------------------------------------------------------- who may do what


async def test_anonymous_pages_go_to_the_login(client):
    for method, path, _, _ in PAGES:
        if method != "GET" or "/api/" in path:
            continue
        response = await client.get(concrete(path), allow_redirects=False)
        assert response.status == 303, path
        assert response.headers["Location"].startswith("/admin/login?next="), path
    response = await client.get("/admin/no-such-page", allow_redirects=False)
    assert response.status == 303


async def test_anonymous_posts_and_json_are_refused_and_change_nothing(client, services):
    before = knowledge_files(services)
    for method, path, _, _ in PAGES:
        if method == "POST":
            response = await client.post(concrete(path), data={"question": "x", "unit": "summary-report", "text": "群发", "name": "clerk"})
            assert response.status == 401, path
    for path in ("/admin/api/hit-test?q=电话", "/admin/api/status"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 401
        assert "登录" in (await response.json())["error"]
    response = await client.post("/admin/logout")
    assert response.status == 401
    assert knowledge_files(services) == before
    assert Accounts(services.store).get("clerk") is not None
    assert Accounts(services.store).audit_rows() == []


async def test_editors_cannot_broadcast_manage_accounts_or_read_the_audit(client, services):
    token = await login(client, "clerk")
    for path in ("/admin/broadcast", "/admin/audit", "/admin/users"):
        response = await client.get(path)
        assert response.status == 403, path
        assert "只有管理员" in await response.text()
    response = await client.post("/admin/users/add", data={"csrf": token, "name": "mallory", "role": "admin", "password": PASSWORD})
    assert response.status == 403
    response = await client.post("/admin/users/remove", data={"csrf": token, "name": "boss"})
    assert response.status == 403
    response = await client.post("/admin/broadcast/send", data={"csrf": token, "text": "hi", "channel": "telegram"})
    assert response.status == 403
    assert {a.name for a in Accounts(services.store).all()} == {"boss", "clerk"}
    page = await (await client.get("/admin/")).text()
    assert "审计日志" not in page and "群发" not in page  # not offered in the menu either


async def test_admins_see_everything(client):
    await login(client, "boss")
    for path in ("/admin/broadcast", "/admin/audit", "/admin/users"):
        assert (await client.get(path)).status == 200, path


# ----------------------------------------------------------------------------- CSRF


async def test_post_without_the_csrf_token_is_refused(client, services):
    token = await login(client, "clerk")
    before = knowledge_files(services)
    for data in ({}, {"csrf": "0" * 40}, {"csrf": token[:-1] + ("0" if token[-1] != "0" else "1")}):
        response = await client.post("/admin/unit/summary-report", data={**data, "questions": "改掉"})
        assert response.status == 403
        assert "CSRF" in await response.text()
    assert knowledge_files(services) == before
    response = await client.post("/admin/unit/summary-report", data={"csrf": token, "questions": "总结几时交\n总结材料几时交"})
    assert response.status == 200  # the same edit with the token goes through


async def test_login_form_needs_its_own_token(client):
    response = await client.post("/admin/login", data={"username": "boss", "password": PASSWORD})
    assert response.status == 403
    assert "qm_console=" not in response.headers.get("Set-Cookie", "")


# ----------------------------------------------------------------------------- sessions


async def test_session_cookie_is_httponly_strict_and_expires(client, services):
    page = await client.get("/admin/login")
    token = csrf_of(await page.text())
    response = await client.post(
        "/admin/login", data={"username": "boss", "password": PASSWORD, "csrf": token}, allow_redirects=False
    )
    assert response.status == 303
    cookie = next(c for c in response.headers.getall("Set-Cookie") if c.startswith("qm_console="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert f"Max-Age={services.settings.console_session_minutes * 60}" in cookie


async def test_session_expires(client):
    await login(client, "clerk")
    assert (await client.get("/admin/", allow_redirects=False)).status == 200
    auth = client.app[CONSOLE].auth
    real = auth.now
    auth.now = lambda: real() + auth.lifetime + 1
    response = await client.get("/admin/", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/admin/login")


async def test_logout_ends_the_session_even_for_a_copied_cookie(client):
    token = await login(client, "clerk")
    stolen = client.session.cookie_jar.filter_cookies(client.make_url("/admin/"))["qm_console"].value
    await client.post("/admin/logout", data={"csrf": token})
    client.session.cookie_jar.update_cookies({"qm_console": stolen}, client.make_url("/admin/"))
    response = await client.get("/admin/", allow_redirects=False)
    assert response.status == 303


async def test_forged_cookie_is_not_a_session(client):
    client.session.cookie_jar.update_cookies({"qm_console": "v1.eyJ1IjoiYm9zcyIsImUiOjAsIngiOjk5OTk5OTk5OTksIm4iOiJ4In0.00"}, client.make_url("/admin/"))
    response = await client.get("/admin/", allow_redirects=False)
    assert response.status == 303


async def test_login_does_not_redirect_elsewhere(client):
    page = await client.get("/admin/login")
    token = csrf_of(await page.text())
    response = await client.post(
        "/admin/login", data={"username": "boss", "password": PASSWORD, "csrf": token, "next": "//evil.example/x"}, allow_redirects=False
    )
    assert response.headers["Location"] == "/admin/"


# ----------------------------------------------------------------------------- lockout


async def test_five_failed_logins_lock_the_account_for_fifteen_minutes(client, services):
    async def attempt(password: str):
        page = await client.get("/admin/login")
        token = csrf_of(await page.text())
        return await client.post("/admin/login", data={"username": "clerk", "password": password, "csrf": token}, allow_redirects=False)

    for _ in range(4):
        response = await attempt("wrong-password")
        assert response.status == 401 and "不正确" in await response.text()
    response = await attempt("wrong-password")
    assert "锁定" in await response.text()
    response = await attempt(PASSWORD)  # the right password does not help while locked
    assert response.status == 401 and "锁定" in await response.text()
    auth = client.app[CONSOLE].auth
    real = auth.now
    auth.now = lambda: real() + 14 * 60
    assert (await attempt(PASSWORD)).status == 401
    auth.now = lambda: real() + 15 * 60 + 1
    assert (await attempt(PASSWORD)).status == 303
    actions = [row["action"] for row in Accounts(services.store).audit_rows()]
    assert actions.count("login-failed") == 4 and "login-locked" in actions and actions[0] == "login"


# ----------------------------------------------------------------------------- secrets


async def test_password_is_never_logged_or_stored_in_clear(client, services, caplog, monkeypatch, tmp_path):
    secret = "Ünïque-pässword-7731"
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(sys, "stdin", io.StringIO(secret + "\n"))
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["users", "add", "newbie", "--role", "editor", "--db", str(services.settings.db)]) == 0
    monkeypatch.setattr(sys, "stdout", sys.__stdout__)
    await login(client, "newbie", secret)
    page = await client.get("/admin/login")  # a failed attempt with a near miss
    await client.post("/admin/login", data={"username": "newbie", "password": secret + "x", "csrf": csrf_of(await page.text())})
    services.store.flush()
    assert secret not in out.getvalue()
    assert secret not in caplog.text
    stored = b"".join(p.read_bytes() for p in services.settings.db.parent.glob("bot.sqlite3*"))
    assert secret.encode() not in stored and secret.encode("utf-16-le") not in stored
    row = services.store._read("SELECT password FROM accounts WHERE name = 'newbie'")[0]["password"]
    assert row.startswith("scrypt$") and secret not in row


async def test_console_off_means_no_console(aiohttp_client, tmp_path):
    services = console_services(tmp_path, console="off")
    try:
        client = await aiohttp_client(create_app(services))
        assert (await client.get("/admin/login")).status == 404
        assert (await client.get("/")).status == 200
    finally:
        services.store.close()


# ----------------------------------------------------------------------------- edits reach the bot


async def test_paraphrase_from_the_review_list_answers_the_question(client, services):
    question = "质量月的小结呈交对象"
    assert services.ask(Incoming(question, "web")).fallback
    token = await login(client, "clerk")
    page = await (await client.get("/admin/review")).text()
    assert question in page and "不回答" in page
    before = knowledge_files(services)[NOTICE]
    response = await client.post(
        "/admin/review/paraphrase",
        data={"csrf": token, "question": question, "normalized": question, "unit": "summary-report"},
    )
    text = await response.text()
    assert "已把" in text and "现在这个问题回答" in text
    reply = services.ask(Incoming(question, "web"))
    assert not reply.fallback and reply.sources[0].id == "summary-report"
    after = knowledge_files(services)[NOTICE]
    assert [line for line in before.splitlines() if line.strip().startswith("#")] == [
        line for line in after.splitlines() if line.strip().startswith("#")
    ]
    assert after.replace(f"      - {question}\n", "", 1) == before  # one line added, nothing else changed
    assert question not in await (await client.get("/admin/review")).text()
    assert Accounts(services.store).audit_rows()[0]["action"] == "add-paraphrase"


async def test_broken_save_is_refused_with_the_problem_and_nothing_changes(client, services):
    token = await login(client, "clerk")
    before = knowledge_files(services)
    version = services.engine.version
    response = await client.post("/admin/unit/s2-3-1", data={"csrf": token, "questions": "建材抽检\n{city}建材抽检"})
    assert response.status == 400
    page = await response.text()
    assert "没有保存" in page and "占位符只能用在表格的问题里" in page
    assert 'aria-invalid="true"' in page and "{city}建材抽检" in page  # the typed text is kept
    assert knowledge_files(services) == before and services.engine.version == version
    response = await client.post("/admin/deadline/summary-report", data={"csrf": token, "date": "下周", "remind_days": "7, 3"})
    assert response.status == 400 and "日期格式" in await response.text()
    assert knowledge_files(services) == before


async def test_degraded_knowledge_is_shown_in_red_on_every_page(client, services):
    await login(client, "clerk")
    path = services.settings.knowledge_dir / NOTICE
    path.write_text(path.read_text(encoding="utf-8").replace("date: 2021-09-30", "date: 下周", 1), encoding="utf-8")
    await services.reload_now()
    assert not services.status.ok
    for page in ("/admin/", "/admin/review", "/admin/knowledge", "/admin/notices"):
        text = await (await client.get(page)).text()
        assert 'id="knowledge-error"' in text and "deadlines[0].date" in text, page
    assert "020-83133733" in services.ask(Incoming("联系电话", "web")).text  # still answering


async def test_deadline_edit_changes_the_reminder_plan(client, services):
    token = await login(client, "clerk")
    response = await client.post(
        "/admin/deadline/summary-report", data={"csrf": token, "date": "2021-10-08", "remind_days": "5，1", "remind_at": "8:30"}
    )
    assert "2021-10-08" in await response.text()
    deadline = services.engine.knowledge.units["summary-report"].deadline
    assert deadline.date.isoformat() == "2021-10-08" and deadline.remind_days == (5, 1)
    assert deadline.remind_at.strftime("%H:%M") == "08:30"
    assert 'remind_at: "08:30"' in knowledge_files(services)[NOTICE]


async def test_hit_test_json_explains_the_decision(client):
    await login(client, "clerk")
    data = await (await client.get("/admin/api/hit-test?q=總結幾時交")).json()
    assert data["decision"] == "answered" and data["candidates"][0]["target"] == "unit:summary-report"
    assert "总结" in data["normalized"] and len(data["candidates"]) <= 5
