"""WeChat reminders as a subscriber receives them: template message beyond 48 hours, customer service inside.

The real knowledge renders the reminder, the real senders talk HTTP to a fake WeChat API on
127.0.0.1, and the outcome of each reminder is read back from the SQLite file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer

from bot.app import render_for
from bot.channels.wechat.senders import wechat_senders
from bot.config import load_settings
from bot.service import Service
from bot.state.reminders import SendReport, send_due
from bot.state.store import Store
from tests.conftest import INTENTS, KNOWLEDGE
from tests.fakes.wechat_api import APPID, SECRET, TEMPLATE_ID, FakeWeChatApi

TZ = ZoneInfo("Asia/Shanghai")
REAL = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # the real clock: WeChat's 48-hour window counts in it
SEND = datetime(2021, 9, 23, 9, 30, tzinfo=TZ)  # the reminder clock: the 7-day reminder of 9月30日 is due
JOINED = datetime(2021, 9, 10, 15, 0, tzinfo=TZ)
RECENT, AWAY = "oRecentUser0001", "oAwayUser00002"
LINK = "https://bot.example.org/"


@pytest.fixture
async def api(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> AsyncIterator[tuple[FakeWeChatApi, str]]:
    fake = FakeWeChatApi(token_delay=0)
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    yield fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
def bot(tmp_path: Path, engine, api) -> Callable[..., Service]:
    """Build (or, called again, restart) the bot on one SQLite file; settings as keyword arguments."""
    opened: list[Service] = []

    def build(**settings: Any) -> Service:
        for services in opened:
            services.store.close()
        values: dict[str, Any] = dict(
            db=tmp_path / "bot.sqlite3",
            knowledge_dir=KNOWLEDGE,
            intents_file=INTENTS,
            wechat_appid=APPID,
            wechat_secret=SECRET,
            wechat_api_url=api[1],
        )
        values.update(settings)
        services = Service(
            engine=engine, store=Store(values["db"]), settings=load_settings({}, **values), clock=lambda: SEND
        )
        services.real_clock = lambda: REAL
        opened.append(services)
        return services

    yield build
    for services in opened:
        services.store.close()


async def remind(services: Service, at: datetime = SEND) -> SendReport:
    """One reminder run, as `run_bot.py reminders send` does it."""
    senders = wechat_senders(services)
    services.senders = senders
    services.clock = lambda: at  # the bot's clock is the reminder run's
    try:
        deadlines = services.engine.knowledge.deadlines()
        return await send_due(deadlines, services.store, at, TZ, senders, render_for(services))
    finally:
        for sender in senders.values():
            await sender.close()  # type: ignore[attr-defined]


def subscriber(services: Service, openid: str, last_message: timedelta) -> None:
    """A follower who subscribed on 9月10日 and last wrote to the account `last_message` ago."""
    services.store.subscribe("wechat", openid, openid, JOINED)
    services.store.touch_user("wechat", openid, REAL - last_message)


def rows(services: Service) -> dict[str, dict[str, Any]]:
    return {r["chat"]: r for r in services.store.reminder_rows() if r["status"] != "skipped"}


async def test_five_days_after_the_last_message_the_reminder_goes_by_template(bot, api) -> None:
    fake, _ = api
    services = bot(wechat_template_id=TEMPLATE_ID, wechat_template_url=LINK)
    subscriber(services, AWAY, timedelta(days=5))
    report = await remind(services)
    assert report.sent == 1
    assert fake.delivered == []  # not a customer-service message
    (message,) = fake.templates_delivered
    assert message["touser"] == AWAY and message["template_id"] == TEMPLATE_ID and message["url"] == LINK
    data = {name: field["value"] for name, field in message["data"].items()}
    assert data["first"] == "【截止提醒】“质量月”活动总结材料"
    assert "2021年9月30日" in data["keyword2"] and "还有7天" in data["keyword2"]
    assert data["keyword3"] == "我厅工程质量安全监管处"
    assert "020-83133733" in data["remark"]
    row = rows(services)[AWAY]
    assert (row["status"], row["path"], row["answer"]) == ("sent", "template", "0 ok")


async def test_inside_48_hours_without_a_template_it_goes_by_customer_service(bot, api, engine) -> None:
    fake, _ = api
    services = bot()
    subscriber(services, RECENT, timedelta(hours=3))
    report = await remind(services)
    assert report.sent == 1 and fake.template_requests == []
    (message,) = fake.delivered
    assert message["touser"] == RECENT
    assert message["text"]["content"] == engine.render_reminder(services.engine.knowledge.deadlines()[0], SEND)
    row = rows(services)[RECENT]
    assert (row["status"], row["path"], row["answer"]) == ("sent", "customer_service", "0 ok")


async def test_outside_48_hours_without_a_template_is_undeliverable_and_wechat_is_not_asked(bot, api) -> None:
    fake, _ = api
    services = bot()
    subscriber(services, AWAY, timedelta(days=5))
    report = await remind(services)
    assert report.undeliverable == 1
    assert fake.send_requests == [] and fake.template_requests == []
    row = rows(services)[AWAY]
    assert (row["status"], row["path"]) == ("undeliverable", "customer_service")
    assert "48" in row["answer"]
    assert services.store.is_subscribed("wechat", AWAY)  # a later message opens the window again


async def test_unfollowed_43004_unsubscribes(bot, api) -> None:
    fake, _ = api
    fake.user_errors[AWAY] = 43004
    services = bot(wechat_template_id=TEMPLATE_ID)
    subscriber(services, AWAY, timedelta(days=5))
    report = await remind(services)
    assert report.blocked == 1
    assert not services.store.is_subscribed("wechat", AWAY)
    assert rows(services)[AWAY]["answer"].startswith("43004")


async def test_customer_service_outside_the_window_45015_is_undeliverable(bot, api) -> None:
    fake, _ = api
    fake.user_errors[RECENT] = 45015  # WeChat's clock disagrees with ours
    services = bot()
    subscriber(services, RECENT, timedelta(hours=47))
    report = await remind(services)
    assert report.undeliverable == 1 and len(fake.send_requests) == 1
    assert rows(services)[RECENT]["answer"].startswith("45015")
    assert services.store.is_subscribed("wechat", RECENT)


async def test_a_bad_template_is_dropped_and_the_admins_are_told_once(bot, api) -> None:
    fake, _ = api
    fake.template_ids = set()  # the id in the settings does not exist: 40037
    told: list[str] = []

    async def admin(text: str) -> None:
        told.append(text)

    services = bot(wechat_template_id=TEMPLATE_ID)
    services.admin_notifiers.append(admin)
    subscriber(services, RECENT, timedelta(hours=3))
    subscriber(services, AWAY, timedelta(days=5))
    report = await remind(services)
    assert len(fake.template_requests) == 1  # tried once, then no more
    assert [m["touser"] for m in fake.delivered] == [RECENT]  # fell back to customer service
    assert (report.sent, report.undeliverable) == (1, 1)
    assert len(told) == 1 and TEMPLATE_ID in told[0] and "40037" in told[0]
    assert rows(services)[RECENT]["path"] == "customer_service"
    away = rows(services)[AWAY]  # the one that found out: WeChat's answer, then the fallback's
    assert away["answer"].startswith("40037") and "48 h" in away["answer"]
    # after a restart, at the 3-day reminder: the template stays dropped and nobody is told again
    services = bot(wechat_template_id=TEMPLATE_ID)
    services.admin_notifiers.append(admin)
    services.store.touch_user("wechat", RECENT, REAL - timedelta(hours=1))
    await remind(services, SEND + timedelta(days=4))
    assert len(fake.template_requests) == 1 and len(told) == 1
    assert [m["touser"] for m in fake.delivered] == [RECENT, RECENT]


async def test_a_used_up_daily_quota_is_retried_the_next_day_and_not_burned(bot, api) -> None:
    fake, _ = api
    fake.next_template_errors.append(45009)
    services = bot(wechat_template_id=TEMPLATE_ID)
    subscriber(services, AWAY, timedelta(days=5))
    report = await remind(services)
    assert report.deferred == 1 and fake.templates_delivered == []
    assert rows(services)[AWAY]["status"] == "deferred"
    assert (await remind(services, SEND + timedelta(hours=2))).sent == 0  # not again the same day
    assert len(fake.template_requests) == 1
    next_day = await remind(services, SEND + timedelta(days=1))
    assert next_day.sent == 1
    (message,) = fake.templates_delivered
    assert "还有6天" in message["data"]["keyword2"]["value"]
    assert (rows(services)[AWAY]["status"], rows(services)[AWAY]["path"]) == ("sent", "template")
    assert (await remind(services, SEND + timedelta(days=1, hours=1))).sent == 0
    assert len(fake.templates_delivered) == 1


async def test_nothing_is_sent_twice_across_a_restart(bot, api) -> None:
    fake, _ = api
    services = bot(wechat_template_id=TEMPLATE_ID)
    subscriber(services, AWAY, timedelta(days=5))
    subscriber(services, RECENT, timedelta(hours=1))
    assert (await remind(services)).sent == 2
    services = bot(wechat_template_id=TEMPLATE_ID)
    assert (await remind(services, SEND + timedelta(minutes=10))).sent == 0
    assert (await remind(services, SEND + timedelta(hours=6))).sent == 0
    assert sorted(m["touser"] for m in fake.templates_delivered) == [AWAY, RECENT]


async def test_template_and_customer_service_share_one_access_token(bot, api) -> None:
    fake, _ = api
    services = bot(wechat_template_id=TEMPLATE_ID)
    subscriber(services, RECENT, timedelta(hours=1))
    senders = wechat_senders(services)
    services.senders = senders
    try:
        deadlines = services.engine.knowledge.deadlines()
        await send_due(deadlines, services.store, SEND, TZ, senders, render_for(services))
        report = await services.broadcast("质量月活动总结材料请按时报送")
    finally:
        await senders["wechat"].close()  # type: ignore[attr-defined]
    assert report.sent == 1
    assert len(fake.templates_delivered) == 1 and len(fake.delivered) == 1  # broadcast: customer service
    assert len(fake.token_requests) == 1
