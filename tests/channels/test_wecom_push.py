"""WeCom members subscribe in the app's chat and get reminders and broadcasts pushed at any time.

The real callback takes an encrypted WeCom message; the real sender pushes to a fake WeCom API on
127.0.0.1 (gettoken, then message/send).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.app import render_for
from bot.channels.wechat.callback import setup
from bot.channels.wechat.senders import wechat_senders
from bot.config import load_settings
from bot.core.model import Incoming
from bot.service import Service
from bot.state.reminders import send_due
from bot.state.store import Store
from tests.channels.wechat_kit import (
    CORPID,
    WECOM_AES_KEY,
    WECOM_TOKEN,
    wecom_request,
    wecom_text_xml,
)
from tests.conftest import INTENTS, KNOWLEDGE
from tests.fakes.wechat_api import AGENTID, CORP_SECRET, FakeWeComApi

TZ = ZoneInfo("Asia/Shanghai")
ASKED = datetime(2021, 9, 20, 10, 0, tzinfo=TZ)
SEND = datetime(2021, 9, 23, 9, 30, tzinfo=TZ)  # the 7-day reminder of 9月30日 is due
MEMBER = "ZhangSan"


@pytest.fixture
async def wecom(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> AsyncIterator[tuple[FakeWeComApi, str]]:
    fake = FakeWeComApi(corpid=CORPID)
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    yield fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def bot(tmp_path: Path, engine, wecom, aiohttp_client) -> AsyncIterator[tuple[Any, Service]]:
    """The callback server with the WeCom app's sender, as `serve` sets it up."""
    settings = load_settings(
        {},
        db=tmp_path / "bot.sqlite3",
        knowledge_dir=KNOWLEDGE,
        intents_file=INTENTS,
        wecom_corpid=CORPID,
        wecom_token=WECOM_TOKEN,
        wecom_aes_key=WECOM_AES_KEY,
        wecom_agentid=str(AGENTID),
        wecom_secret=CORP_SECRET,
        wecom_api_url=wecom[1],
    )
    services = Service(engine=engine, store=Store(settings.db), settings=settings, clock=lambda: ASKED)
    services.senders = wechat_senders(services)
    app = web.Application()
    setup(app, services)
    client = await aiohttp_client(app)
    yield client, services
    for sender in services.senders.values():
        await sender.close()  # type: ignore[attr-defined]
    services.store.close()


async def say(client, text: str, msg_id: str, user: str = MEMBER) -> None:
    query, body = wecom_request(wecom_text_xml(text, user=user, msg_id=msg_id))
    resp = await client.post("/wecom?" + query, data=body)
    assert resp.status == 200


async def test_a_member_subscribes_and_gets_the_reminder(bot, wecom) -> None:
    client, services = bot
    fake, _ = wecom
    assert list(services.senders) == ["wecom"]
    await say(client, "订阅提醒", "1")
    assert services.store.is_subscribed("wecom", MEMBER)
    services.clock = lambda: SEND  # three days later, at the reminder's time
    deadlines = services.engine.knowledge.deadlines()
    report = await send_due(deadlines, services.store, SEND, TZ, services.senders, render_for(services))
    assert report.sent == 1
    (message,) = fake.delivered
    assert message["touser"] == MEMBER and message["agentid"] == AGENTID and message["msgtype"] == "text"
    assert "质量月" in message["text"]["content"] and "还有7天" in message["text"]["content"]
    assert fake.token_requests == [{"corpid": CORPID, "corpsecret": CORP_SECRET}]
    row = next(r for r in services.store.reminder_rows() if r["status"] == "sent")
    assert (row["channel"], row["path"], row["answer"]) == ("wecom", "wecom", "0 ok")


async def test_a_broadcast_reaches_wecom_members(bot, wecom) -> None:
    client, services = bot
    fake, _ = wecom
    await say(client, "订阅提醒", "1")
    await say(client, "订阅提醒", "2", user="LiSi")
    report = await services.broadcast("请各单位按时报送总结材料")
    assert report.sent == 2
    assert sorted(m["touser"] for m in fake.delivered) == ["LiSi", MEMBER]
    assert {m["text"]["content"] for m in fake.delivered} == {"请各单位按时报送总结材料"}


async def test_a_member_who_left_the_corp_is_unsubscribed(bot, wecom) -> None:
    client, services = bot
    fake, _ = wecom
    await say(client, "订阅提醒", "1")
    await say(client, "订阅提醒", "2", user="LiSi")
    fake.left.add(MEMBER)
    services.clock = lambda: SEND
    deadlines = services.engine.knowledge.deadlines()
    report = await send_due(deadlines, services.store, SEND, TZ, services.senders, render_for(services))
    assert (report.sent, report.blocked) == (1, 1)
    assert not services.store.is_subscribed("wecom", MEMBER)
    assert services.store.is_subscribed("wecom", "LiSi")


async def test_wecom_without_app_credentials_still_says_reminders_are_unavailable(tmp_path: Path, engine) -> None:
    settings = load_settings({}, db=tmp_path / "bot.sqlite3", wecom_corpid=CORPID, wecom_token=WECOM_TOKEN, wecom_aes_key=WECOM_AES_KEY)
    services = Service(engine=engine, store=Store(settings.db), settings=settings, clock=lambda: ASKED)
    try:
        services.senders = wechat_senders(services)
        assert services.senders == {}
        reply = services.ask(Incoming("订阅提醒", "wecom", MEMBER, MEMBER))
        assert "暂不支持" in reply.text and not services.store.is_subscribed("wecom", MEMBER)
    finally:
        services.store.close()
