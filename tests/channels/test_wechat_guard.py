"""What an attacker with a captured WeChat request can no longer do, and what a flood from one user costs others.

Requests are built with wechatpy the way WeChat builds them; the server is the real callback with a
real SQLite file.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from wechatpy.crypto import WeChatCrypto

from bot.channels.wechat.callback import setup
from bot.config import Settings
from bot.service import RATE_LIMITED_TEXT, Service
from bot.state.store import Store
from tests.channels.wechat_kit import (
    AES_KEY,
    APPID,
    CORPID,
    NOW,
    OPENID,
    TOKEN,
    WECOM_AES_KEY,
    WECOM_TOKEN,
    decrypt_reply,
    event_xml,
    plain_query,
    post_plain,
    post_safe,
    reply_content,
    text_xml,
    wecom_request,
    wecom_text_xml,
)

Start = Callable[..., Awaitable[tuple[Any, Service]]]
OA = WeChatCrypto(TOKEN, AES_KEY, APPID)


def make_services(db: Path, engine, **settings: Any) -> Service:
    values: dict[str, Any] = dict(
        db=db,
        wechat_token=TOKEN,
        wechat_appid=APPID,
        wechat_aes_key=AES_KEY,
        wecom_corpid=CORPID,
        wecom_token=WECOM_TOKEN,
        wecom_aes_key=WECOM_AES_KEY,
    )
    values.update(settings)
    return Service(engine=engine, store=Store(db), settings=Settings(**values), clock=lambda: NOW)


@pytest.fixture
async def start(aiohttp_client, tmp_path: Path, engine) -> AsyncIterator[Start]:
    """Start a callback server on the test's SQLite file; calling it again is a restart."""
    opened: list[Service] = []

    async def run(**settings: Any) -> tuple[Any, Service]:
        for services in opened:
            services.store.close()
        services = make_services(tmp_path / "bot.sqlite3", engine, **settings)
        opened.append(services)
        app = web.Application()
        setup(app, services)
        return await aiohttp_client(app), services

    yield run
    for services in opened:
        services.store.close()


def questions_of(services: Service, user: str) -> list[str]:
    with services.store._lock:
        services.store.flush()
        rows = services.store._conn.execute("SELECT question FROM questions WHERE user = ?", (user,))
        return [r["question"] for r in rows]


# -- timestamps and nonces ------------------------------------------------------------------------


async def test_a_captured_request_is_refused_once_its_timestamp_is_stale(start: Start) -> None:
    client, services = await start(wechat_mode="compat")
    real = int(time.time())
    for offset, status in [(-301, 403), (301, 403), (-3600 * 24 * 7, 403), (-290, 200), (290, 200)]:
        query = plain_query(str(real + offset))
        resp = await post_plain(client, text_xml("联系电话", msg_id=str(9000 + offset)), query)
        assert resp.status == status, offset
        if status == 403:
            assert "timestamp" in await resp.text()
    # the window is the real clock's, not the preview clock the service answers with (2021)
    stamped_as_preview = plain_query(str(int(NOW.timestamp())))
    assert (await post_plain(client, text_xml("联系电话", msg_id="9100"), stamped_as_preview)).status == 403


@pytest.mark.parametrize("timestamp", ["abc", "1e9", "１６３２１０３２００", "-5", "+1632103200", "0x61"])
async def test_a_timestamp_that_is_not_a_number_is_a_400(start: Start, timestamp: str) -> None:
    client, services = await start(wechat_mode="compat")
    resp = await post_plain(client, text_xml("联系电话"), plain_query(timestamp))
    assert resp.status == 400
    assert "timestamp" in await resp.text()
    assert services.store.stats()["questions"] == 0


async def test_a_reused_nonce_with_another_body_is_refused_but_a_retry_is_answered(start: Start) -> None:
    client, services = await start(wechat_mode="compat")
    query = plain_query()
    first = await post_plain(client, text_xml("联系电话是多少", msg_id="501"), query)
    assert first.status == 200 and "83133733" in reply_content(await first.text())
    # the same query string with a forged body: a different message, a different user, a staff command
    for forged in (text_xml("总结材料什么时候交", msg_id="502"), event_xml("unsubscribe", user="oVictim")):
        resp = await post_plain(client, forged, query)
        assert resp.status == 403 and "nonce" in await resp.text()
    # WeChat's own retry (the same body) still gets the one reply, logged once
    again = await post_plain(client, text_xml("联系电话是多少", msg_id="501"), query)
    assert again.status == 200 and reply_content(await again.text()) == reply_content(await first.text())
    assert services.store.stats()["questions"] == 1


async def test_the_nonce_memory_survives_a_restart(start: Start) -> None:
    client, _ = await start(wechat_mode="compat")
    query = plain_query()
    assert (await post_plain(client, text_xml("联系电话", msg_id="601"), query)).status == 200
    client, _ = await start(wechat_mode="compat")
    assert (await post_plain(client, text_xml("观摩项目有哪些", msg_id="602"), query)).status == 403


async def test_wecom_refuses_stale_timestamps_and_reused_nonces(start: Start) -> None:
    client, _ = await start()
    stale, body = wecom_request(wecom_text_xml("联系电话"), timestamp=str(int(time.time()) - 600))
    resp = await client.post("/wecom?" + stale, data=body)
    assert resp.status == 403 and "timestamp" in await resp.text()
    ts = str(int(time.time()))
    query, body = wecom_request(wecom_text_xml("联系电话", msg_id="1"), timestamp=ts, nonce="wecom-nonce")
    assert (await client.post("/wecom?" + query, data=body)).status == 200
    query, other = wecom_request(wecom_text_xml("观摩项目", msg_id="2"), timestamp=ts, nonce="wecom-nonce")
    resp = await client.post("/wecom?" + query, data=other)
    assert resp.status == 403 and "nonce" in await resp.text()


# -- modes ------------------------------------------------------------------------------------------


async def test_safe_mode_refuses_a_message_without_encrypt(start: Start) -> None:
    for mode in ("safe", ""):  # an AES key without a mode means safe
        client, services = await start(wechat_mode=mode)
        resp = await post_plain(client, text_xml("联系电话", msg_id="701"))
        assert resp.status == 403 and "safe" in await resp.text()
        resp = await post_safe(client, text_xml("联系电话", msg_id="702"))
        assert resp.status == 200 and "83133733" in decrypt_reply(await resp.text(), OA)
        assert services.store.stats()["questions"] == 1


async def test_compat_mode_accepts_both(start: Start) -> None:
    client, _ = await start(wechat_mode="compat")
    plain = await post_plain(client, text_xml("联系电话", msg_id="801"))
    assert "83133733" in reply_content(await plain.text())
    both = await post_safe(client, text_xml("联系电话", msg_id="802"), compatible=True)
    assert "83133733" in decrypt_reply(await both.text(), OA)


async def test_plain_mode_needs_no_key_and_a_contradiction_stops_startup(start: Start, engine, tmp_path: Path) -> None:
    client, _ = await start(wechat_mode="plain", wechat_aes_key="")
    assert "83133733" in reply_content(await (await post_plain(client, text_xml("联系电话"))).text())
    for settings, says in [
        ({"wechat_mode": "plain"}, "BOT_WECHAT_AES_KEY"),
        ({"wechat_mode": "safe", "wechat_aes_key": ""}, "BOT_WECHAT_AES_KEY"),
        ({"wechat_mode": "compat", "wechat_aes_key": ""}, "BOT_WECHAT_AES_KEY"),
        ({"wechat_mode": "secure"}, "BOT_WECHAT_MODE"),
    ]:
        services = make_services(tmp_path / "other.sqlite3", engine, **settings)
        try:
            with pytest.raises(ValueError, match=says):
                setup(web.Application(), services)
        finally:
            services.store.close()


# -- what only an authenticated body may do ----------------------------------------------------------


async def test_staff_commands_answer_only_encrypted_messages(start: Start) -> None:
    client, _ = await start(wechat_mode="compat", admins=frozenset({f"wechat:{OPENID}"}))
    plain = reply_content(await (await post_plain(client, text_xml("/stats", msg_id="901"))).text())
    assert "提问数" not in plain
    unanswered = reply_content(await (await post_plain(client, text_xml("/unanswered", msg_id="902"))).text())
    assert "未能回答的问题" not in unanswered
    encrypted = decrypt_reply(await (await post_safe(client, text_xml("/stats", msg_id="903"))).text(), OA)
    assert "提问数" in encrypted


async def test_unfollowing_deletes_data_only_from_an_encrypted_body(start: Start) -> None:
    client, services = await start(wechat_mode="compat")
    await post_plain(client, text_xml("订阅截止提醒", msg_id="1001"))
    await post_plain(client, text_xml("联系电话", msg_id="1002"))
    assert services.store.is_subscribed("wechat", OPENID)
    # a plaintext unfollow (anyone holding a fresh query string could forge it) stops reminders only
    resp = await post_plain(client, event_xml("unsubscribe", create_time=1632103300))
    assert resp.status == 200 and await resp.text() == "success"
    assert not services.store.is_subscribed("wechat", OPENID)
    assert len(questions_of(services, OPENID)) == 2
    # the encrypted one is WeChat's own word: the user's questions go with the rest of their data
    resp = await post_safe(client, event_xml("unsubscribe", create_time=1632103400))
    assert resp.status == 200
    assert questions_of(services, OPENID) == []
    assert services.store.stats()["questions"] == 0


# -- dedupe of messages without MsgId -------------------------------------------------------------------


async def test_two_menu_clicks_in_one_second_get_their_own_replies(start: Start, engine) -> None:
    client, _ = await start(wechat_mode="compat")
    contact = reply_content(await (await post_plain(client, event_xml("CLICK", "CONTACT", 1632103500))).text())
    projects = reply_content(await (await post_plain(client, event_xml("CLICK", "PROJECTS", 1632103500))).text())
    assert "83133733" in contact
    assert projects != contact and "观摩" in projects
    retry = reply_content(await (await post_plain(client, event_xml("CLICK", "PROJECTS", 1632103500))).text())
    assert retry == projects


async def test_messages_without_msgid_are_told_apart_by_their_content(start: Start) -> None:
    client, services = await start(wechat_mode="compat")

    def no_id(content: str) -> str:
        return text_xml(content).replace("<MsgId>24000000000000001</MsgId>", "")

    first = reply_content(await (await post_plain(client, no_id("联系电话是多少"))).text())
    second = reply_content(await (await post_plain(client, no_id("总结材料什么时候交"))).text())
    assert "83133733" in first and "9月30日" in second
    assert services.store.stats()["questions"] == 2


# -- floods -------------------------------------------------------------------------------------------------


async def test_a_flood_from_one_openid_is_told_once_and_others_are_still_answered(start: Start) -> None:
    client, services = await start(wechat_mode="compat", rate_per_minute=5, rate_burst=5)
    replies = []
    for n in range(12):
        resp = await post_plain(client, text_xml("联系电话是多少", msg_id=str(2000 + n)))
        assert resp.status == 200
        body = await resp.text()
        replies.append(body if body == "success" else reply_content(body))
    assert all("83133733" in r for r in replies[:5])
    assert replies[5] == RATE_LIMITED_TEXT and "太快" in RATE_LIMITED_TEXT
    assert replies[6:] == ["success"] * 6  # told once, then quietly dropped
    other = await post_plain(client, text_xml("联系电话是多少", msg_id="3000", user="oSomeoneElse"))
    assert "83133733" in reply_content(await other.text())
    assert services.store.stats()["questions"] == 6  # the dropped messages never reached the engine


async def test_without_the_limit_every_message_is_answered(start: Start) -> None:
    client, services = await start(wechat_mode="compat", rate_per_minute=5, rate_burst=5, rate_limit="off")
    for n in range(8):
        resp = await post_plain(client, text_xml("联系电话是多少", msg_id=str(4000 + n)))
        assert "83133733" in reply_content(await resp.text())
    assert services.store.stats()["questions"] == 8
