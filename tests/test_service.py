"""The one path every channel shares: answer, subscribe only where reminders can arrive, log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.core.model import Incoming
from bot.service import Service
from bot.state.store import Store
from tests.conftest import CAMPAIGN_NOW


@pytest.fixture
def services(tmp_path: Path, engine):
    store = Store(tmp_path / "bot.sqlite3")
    yield Service(engine=engine, store=store, settings=Settings(db=tmp_path / "bot.sqlite3"), clock=lambda: CAMPAIGN_NOW)
    store.close()


def test_subscribing_on_a_pushing_channel_is_recorded(services) -> None:
    reply = services.ask(Incoming("订阅提醒", "telegram", "7", "7"))
    assert reply.action == "subscribe"
    assert services.store.is_subscribed("telegram", "7")


@pytest.mark.parametrize("channel", ["web", "cli"])
def test_channels_that_cannot_push_do_not_promise_reminders(services, channel: str) -> None:
    reply = services.ask(Incoming("订阅提醒", channel, "u1", "u1"))
    assert reply.action is None
    assert "暂不支持" in reply.text
    assert not services.store.subscribers()


def test_a_server_without_a_wechat_sender_refuses_wechat_subscriptions(services) -> None:
    services.senders = {"telegram": object()}  # serve() set up Telegram only (no WeChat secret)
    assert "暂不支持" in services.ask(Incoming("订阅提醒", "wechat", "o1", "o1")).text
    assert not services.store.is_subscribed("wechat", "o1")


def test_a_server_with_no_sender_accepts_no_subscription(services) -> None:
    services.senders = {}  # web chat only: nothing can push
    assert "暂不支持" in services.ask(Incoming("订阅提醒", "wechat", "o1", "o1")).text


def test_every_question_is_logged_with_its_outcome(services) -> None:
    services.ask(Incoming("总结几时交", "web", "s1"))
    services.ask(Incoming("明天会下雨吗", "web", "s1"))
    stats = services.store.stats()
    assert stats["questions"] == 2 and stats["fallbacks"] == 1
    assert services.store.unanswered() == [("明天会下雨吗", 1)]


def test_a_server_with_a_wecom_sender_accepts_wecom_subscriptions(services) -> None:
    services.senders = {"wecom": object()}  # serve() set up the WeCom app's sender
    reply = services.ask(Incoming("订阅提醒", "wecom", "ZhangSan", "ZhangSan"))
    assert reply.action == "subscribe" and services.store.is_subscribed("wecom", "ZhangSan")


def logged_times(services) -> list[datetime]:
    with services.store._lock:
        services.store.flush()
        return [datetime.fromisoformat(r["at"]) for r in services.store._conn.execute("SELECT at FROM questions")]


def test_a_preview_answers_but_is_neither_dated_nor_counted(services) -> None:
    real = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    services.real_clock = lambda: real
    preview = datetime(2031, 1, 1, 9, 0, tzinfo=UTC)
    reply = services.ask(Incoming("明天会下雨吗", "web", "s1"), preview)
    assert reply.fallback  # the preview was answered
    assert services.store.stats()["questions"] == 0 and services.store.unanswered() == []
    services.ask(Incoming("总结几时交", "web", "s1"))  # the process clock (CAMPAIGN_NOW) is not a preview
    assert services.store.stats()["questions"] == 1
    assert logged_times(services) == [real, real]  # the real clock dates both rows, never 2031 or 2021


def test_forgetting_a_user_deletes_their_questions(services) -> None:
    services.ask(Incoming("总结几时交", "wechat", "o1", "o1"))
    services.ask(Incoming("总结几时交", "wechat", "o2", "o2"))
    services.forget_user("wechat", "o1")
    assert services.store.stats()["questions"] == 1


def test_housekeeping_keeps_questions_for_the_configured_days(tmp_path: Path, engine) -> None:
    store = Store(tmp_path / "bot.sqlite3")
    real = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    services = Service(engine=engine, store=store, settings=Settings(db=tmp_path / "bot.sqlite3", log_days=30), clock=lambda: CAMPAIGN_NOW)
    services.real_clock = lambda: real
    try:
        store.log_question(real - timedelta(days=31), "web", "s1", "旧问题", "fallback", None, None, True)
        store.log_question(real - timedelta(days=29), "web", "s1", "新问题", "fallback", None, None, True)
        services.housekeeping()
        assert store.unanswered() == [("新问题", 1)]
    finally:
        store.close()


def test_a_vote_outlives_housekeeping_under_a_fixed_clock(services) -> None:
    reply = services.ask(Incoming("总结几时交", "web", "s1"))  # the process clock says 2021 (serve --now)
    assert services.feedback(reply.answer_id, True, "web", "s1")
    services.housekeeping()
    assert [r["vote"] for r in services.store.feedback_rows()] == [1]


def test_a_conversation_is_forgotten_after_half_an_hour_or_on_request(tmp_path):
    from datetime import timedelta

    from bot.config import load_settings
    from bot.core.model import Incoming
    from bot.service import Service, load_engine
    from bot.state.store import Store
    from tests.conftest import CAMPAIGN_NOW, INTENTS, KNOWLEDGE

    now = [CAMPAIGN_NOW]
    services = Service(
        engine=load_engine(KNOWLEDGE, INTENTS), store=Store(tmp_path / "bot.sqlite3"),
        settings=load_settings({}, db=tmp_path / "bot.sqlite3"), clock=lambda: now[0],
    )
    user = Incoming("联系人是谁", "wechat", user="o1", chat="o1")

    def ask(text: str) -> str:
        return services.ask(Incoming(text, user.channel, user.user, user.chat)).text

    ask("第3个观摩项目是什么")
    assert "新华医院" in ask("下一个呢")
    now[0] += timedelta(minutes=31)
    assert "新华医院" not in ask("下一个呢")  # silent for half an hour: a fresh start, no row to go on from
    ask("第3个观摩项目是什么")
    assert "重新开始" in ask("重新开始")
    assert len(services.conversations) == 0
    assert "新华医院" not in ask("下一个呢")
    services.store.close()
